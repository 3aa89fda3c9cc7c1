# Shared by all stage files: the plan of the study (archssl.plan: torch-free, resolved once), its paths and
# input functions. Every job spec is a rule's params (a change reruns exactly what it affects); execution
# settings (device, workers, batch sizes of inference, checkpoint interval) are command-line options.
import dataclasses
import functools
import inspect
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
EXEC = {"pretrain": exec_args(PLAN.pretrain_exec),
        # gpus=N: a features / probe job with resources.<stage>.gpus takes N GPUs of its own before it starts
        # (archssl.train.gpus.pin; pretraining does it in its launcher, below)
        "features": exec_args(dataclasses.replace(PLAN.features_exec, gpus=PLAN.resources("features").get("gpus") or None)),
        "probe": exec_args(dataclasses.replace(PLAN.probe_exec, gpus=PLAN.resources("probe").get("gpus") or None))}


def as_arg(obj, sort_keys=True):
    """A value as one shell-quoted JSON argument."""
    return shlex.quote(json.dumps(obj, sort_keys=sort_keys))


try:  # Snakemake's hook for a function's parameters (its own wrappers use it); absent: inspect every call
    from snakemake.common import overwrite_function_params
except ImportError:  # pragma: no cover - other Snakemake versions
    overwrite_function_params = None


def per_job(func):
    """``func`` (an input, params or resources function, called once per job while Snakemake builds the DAG)
    with its signature inspected once: Snakemake looks at a function's signature (``inspect.signature``)
    three times per call otherwise, as long as the call itself. The function is unchanged."""
    if overwrite_function_params is not None:
        overwrite_function_params(func, inspect.signature(func).parameters)
    return func


def job_arg(job):
    """A job spec as one shell-quoted JSON argument (a param: changing it reruns the job)."""
    return shlex.quote(job.to_json())


@functools.lru_cache(maxsize=None)
def stage_job_arg(stage, name, dataset=None):
    """:func:`job_arg` of the job spec of run (or NAS search) ``name`` of ``stage`` (``pretrain``, ``features``
    (all datasets, or only ``dataset``: a one-file job) or ``nas``), serialised once per spec rather than once
    per Snakemake job: Snakemake evaluates every job's params while it builds the DAG."""
    if stage == "pretrain":
        return job_arg(PLAN.pretrain[name])
    if stage == "features":
        job = PLAN.features[name]
        return job_arg(job if dataset is None else job.only([dataset]))
    if stage == "nas":
        return job_arg(PLAN.nas.searches[name])
    raise ValueError(f"stage_job_arg: unknown stage {stage!r}")


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
    out = {"mem_mb": r["mem_mb"], "runtime": per_job(lambda wc, attempt: r["runtime"] * attempt),
           "cpus_per_task": r["threads"]}
    if r["gpus"]:
        out["gpu"] = r["gpus"]
    for k in ("slurm_partition", "slurm_extra"):
        if k in r:
            out[k] = r[k]
    return out


def threads_for(stage):
    return PLAN.resources(stage)["threads"]


def launcher(stage, distributed=False):
    """How a stage's shell starts ``archssl`` (the pretrain rule's ``archssl_launch`` resource: changing it
    reruns nothing). With ``resources.<stage>.gpus`` N >= 1, through the GPU slot allocator
    (``python -m archssl.train.gpus --count N --``: N devices of this machine no other job holds, as
    CUDA_VISIBLE_DEVICES); with N > 1 and ``distributed`` (pretraining), one process per GPU through torchrun
    (DistributedDataParallel inside the job, archssl.train.distributed)."""
    gpus = int(PLAN.resources(stage).get("gpus") or 0)
    cmd = "archssl"
    if distributed and gpus > 1:
        cmd = f"torchrun --standalone --nproc-per-node {gpus} -m archssl.cli"
    if gpus >= 1:
        cmd = f"python -m archssl.train.gpus --count {gpus} -- {cmd}"
    return cmd


def pretrain_launcher():
    """:func:`launcher` of the pretrain stage (torchrun with resources.pretrain.gpus > 1)."""
    return launcher("pretrain", distributed=True)


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
