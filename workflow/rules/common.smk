# Shared by all stage files: the plan of the study (archssl.plan: torch-free, resolved once), its paths and
# input functions. Every job spec is a rule's params (a change reruns exactly what it affects); execution
# settings (device, workers, batch sizes of inference, checkpoint interval) are command-line options.
import os
import sys
from pathlib import Path
import shlex

from snakemake.exceptions import WorkflowError

from archssl.plan import exec_args, plan

# validates the config (schema defaults filled in place) and resolves every stage's jobs, raising ConfigError
# naming the key at fault before any job is scheduled
PLAN = plan(config)

# jobs call the `archssl` command of the environment snakemake runs in, activated or not
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

RES = PLAN.results
LOGS = f"{RES}/logs"
# the pinned environment, for `--software-deployment-method conda` (on a cluster without the venv)
CONDA_ENV = str(Path(workflow.basedir, "envs", "archssl.yaml"))
ARCHS = list(PLAN.archs)
# the entries of `methods`: registered methods and variants of them (a variant is a {method} like any other)
METHOD_NAMES = PLAN.methods
DOWNSTREAM = PLAN.downstream
# execution-only settings per stage, the jobs' --exec (passed as resources, not params, so that changing them
# reruns nothing)
EXEC = {"pretrain": exec_args(PLAN.pretrain_exec), "features": exec_args(PLAN.features_exec),
        "probe": exec_args(PLAN.probe_exec)}


def as_arg(obj, sort_keys=True):
    """A value as one shell-quoted JSON argument."""
    return shlex.quote(json.dumps(obj, sort_keys=sort_keys))


def job_arg(job):
    """A job spec as one shell-quoted JSON argument (a param: changing it reruns the job)."""
    return shlex.quote(job.to_json())


def dataset_input(ref):
    """What a stage reading dataset ``ref`` depends on: the generated file of a built-in set, the check
    report of an on-disk set (the data themselves are read in place)."""
    if ref.builtin:
        return f"{ref.root}/{ref.name}/images.h5"
    return f"{RES}/data/checked/{ref.name}.txt"


def slurm_resources(stage):
    """Snakemake resources of a stage (the SLURM executor reads mem_mb, runtime, gpu, slurm_*)."""
    r = PLAN.resources(stage)
    # runtime grows with the attempt (a job retried after its time limit gets more time); cpus_per_task is the
    # SLURM request, which --cores (that caps `threads`) does not cap
    out = {"mem_mb": r["mem_mb"], "runtime": lambda wc, attempt: r["runtime"] * attempt,
           "cpus_per_task": r["threads"]}
    if r["gpus"]:
        out["gpu"] = r["gpus"]
    for k in ("slurm_partition", "slurm_extra"):
        if k in r:
            out[k] = r[k]
    return out


def threads_for(stage):
    return PLAN.resources(stage)["threads"]


def pretrain_launcher():
    """How the pretrain shell starts the job: one process, or with resources.pretrain.gpus > 1 one process
    per GPU through torchrun (DistributedDataParallel inside the job, archssl.train.distributed)."""
    gpus = int(PLAN.resources("pretrain").get("gpus") or 0)
    if gpus > 1:
        return f"torchrun --standalone --nproc-per-node {gpus} -m archssl.cli"
    return "archssl"


import json

from archssl.data.check import check_datasets, format_report

REAL_SETS = {r.name: r for r in [*PLAN.datasets.values(), *(j.data for j in PLAN.pretrain.values()),
                                 *(j.data for j in PLAN.nas.searches.values())]
             if not r.builtin}


def real_dataset_problems():
    """The report of every configured on-disk dataset that is missing or malformed ("" when all are in place)."""
    if PLAN.problems:
        return "\n".join(PLAN.problems)
    found = check_datasets(list(REAL_SETS), ".", {n: r.root for n, r in REAL_SETS.items()})
    return format_report(found) if found else ""


# checked once, in the main process; a dry run only warns (the DAG builds without the data), a real run
# stops in `onstart` (Snakefile) before any job is scheduled
DATA_PROBLEMS = real_dataset_problems() if workflow.is_main_process and REAL_SETS else ""
if DATA_PROBLEMS:
    print(f"archssl: datasets not in place (a real run stops here):\n{DATA_PROBLEMS}", file=sys.stderr)


def set_aside_invalid_feature_files():
    """A truncated or corrupt feature file is never read as valid: it is renamed to ``*.corrupt`` (kept for
    inspection) so that this run rebuilds it."""
    from archssl.evaluate.featurestore import is_valid

    for path in Path(RES, "features").glob("*/*/*.h5"):
        if not is_valid(path):
            dest = path.with_name(path.name + ".corrupt")
            path.replace(dest)
            print(f"archssl: {path} is truncated or corrupt; moved to {dest.name}, it will be rebuilt",
                  file=sys.stderr)


if workflow.is_main_process:
    set_aside_invalid_feature_files()
