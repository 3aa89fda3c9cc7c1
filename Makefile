# The two commands of a fresh machine:
#   make run    create .venv if absent, install, run the default mini study, write results/report.html
#   make test   the test suite (unit tests + workflow tests on a micro config), under 10 minutes
# make test-slow adds the fault-injection matrix and the study-shape builds (about half an hour; CI runs both)
# make test-fast runs only the unit tests that import no torch (about a minute; tests/conftest.py TORCH_FREE)
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= $(shell nproc)
CONFIG ?= config/config.yaml
SNAKE := PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake
STAMP := $(VENV)/.installed

# the seed papers' studies on the built-in mini suite, one command each (results/<study>/report.html):
#   make girish | make revisiting | make good_practices
STUDIES := girish revisiting good_practices

.PHONY: install run report test test-fast test-slow test-slurm lint dry clean $(STUDIES)


$(STAMP): pyproject.toml envs/constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c envs/constraints.txt -e '.[test]'
	@touch $@

install: $(STAMP)

run: $(STAMP)
	$(SNAKE) --cores $(CORES) --configfile $(CONFIG)
	$(MAKE) report

report: $(STAMP)
	$(SNAKE) --cores 1 --configfile $(CONFIG) --report results/report.html

test: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -m "not slurm and not slow"

# the torch-free unit tests (planning, config, schema, stats, tables, spec-level archs...): a subset of `make
# test`; under -m fast the other test modules are not collected and an import of torch fails the test
test-fast: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -m fast

# whole-study fault injection (tests/test_faults.py) and the study-shape reports (tests/test_study_shapes.py)
test-slow: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -m "slow and not slurm"

# the SLURM profile on a real (single-node) cluster: bash .ci/slurm-up.sh first (root, Debian)
test-slurm: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -m slurm

# the workflow lint, the rule files' format and the package's import layers (.importlinter); make test runs
# the last two too (tests/test_layers.py)
lint: $(STAMP)
	$(SNAKE) --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/lint-imports --no-logo

$(STUDIES): $(STAMP)
	$(SNAKE) --cores $(CORES) --configfile config/studies/$@.yaml
	$(SNAKE) --cores 1 --configfile config/studies/$@.yaml --report results/$@/report.html

dry: $(STAMP)
	$(SNAKE) -n --configfile $(CONFIG)

clean:
	rm -rf results .snakemake
