# The plan of the study (archssl.plan: validated, torch-free, resolved once) and what the rules declare from
# it (archssl.rules.StudyRules: result paths, job specs, execution settings, resources, data inputs).
import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from archssl.plan import plan
from archssl.rules import StudyRules, as_arg, per_job

# validates the config (schema defaults filled in place) and resolves every stage's jobs, raising ConfigError
# naming the key at fault before any job is scheduled
PLAN = plan(config)
R = StudyRules(PLAN, workflow.basedir)
PATHS = R.paths
ARCHS, METHOD_NAMES, DOWNSTREAM = R.archs, R.methods, R.downstream
RES, CONDA_ENV = PATHS.root, R.conda_env

# jobs call the `archssl` command of the environment snakemake runs in, activated or not
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

# on-disk datasets are checked once, in the main process: a dry run only warns (the DAG builds without the
# data), a real run stops in `onstart` (Snakefile) before any job is scheduled; a truncated or corrupt feature
# file is set aside so that the run rebuilds it (a dry run only says so)
DATA_PROBLEMS = R.data_problems() if workflow.is_main_process else ""
if DATA_PROBLEMS:
    print(f"archssl: datasets not in place (a real run stops here):\n{DATA_PROBLEMS}", file=sys.stderr)
if workflow.is_main_process:
    for message in R.set_aside_invalid_feature_files(dry_run=workflow.dryrun):
        print(message, file=sys.stderr)
