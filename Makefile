# The two commands of a fresh machine:
#   make run    create .venv if absent, install, run the default mini study, write results/report.html
#   make test   the test suite (unit tests + workflow tests on a micro config)
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= $(shell nproc)
CONFIG ?= config/config.yaml
SNAKE := PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake
STAMP := $(VENV)/.installed

.PHONY: install run report test test-slurm lint dry clean

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
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -m "not slurm"

# the SLURM profile on a real (single-node) cluster: bash .ci/slurm-up.sh first (root, Debian)
test-slurm: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -m slurm

lint: $(STAMP)
	$(SNAKE) --lint

dry: $(STAMP)
	$(SNAKE) -n --configfile $(CONFIG)

clean:
	rm -rf results .snakemake
