"""What the rule files declare, computed from the plan: the workflow's side of :mod:`archssl.plan`.

``workflow/rules/common.smk`` makes one :class:`StudyRules` from the plan, and every rule file declares its
files, params and resources through it: result paths from :class:`archssl.layout.Layout`, job specs and
execution settings through the stage table (:mod:`archssl.plan.stages`), resources and launchers from the
config's ``resources`` section, the data a stage reads, and the check of the on-disk datasets before a run.
Torch-free; it runs in Snakemake's process while the DAG is built.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import shlex
from pathlib import Path
from typing import Callable

from archssl.data.check import check_datasets, format_report
from archssl.evaluate.featurestore import is_valid
from archssl.layout import Layout
from archssl.plan import Plan, exec_args
from archssl.plan.specs import DataRef

try:  # Snakemake's hook for a function's parameters (its own wrappers use it); absent: inspect every call
    from snakemake.common import overwrite_function_params
except ImportError:  # pragma: no cover - other Snakemake versions
    overwrite_function_params = None


def per_job(func: Callable) -> Callable:
    """``func`` (an input, params or resources function, called once per job while Snakemake builds the DAG)
    with its signature inspected once: Snakemake looks at a function's signature (``inspect.signature``)
    three times per call otherwise, as long as the call itself. The function is unchanged."""
    if overwrite_function_params is not None:
        overwrite_function_params(func, inspect.signature(func).parameters)
    return func


def as_arg(obj, sort_keys: bool = True) -> str:
    """A value as one shell-quoted JSON argument."""
    return shlex.quote(json.dumps(obj, sort_keys=sort_keys))


class StudyRules:
    """The declarations of a study's rules (see the module docstring); ``basedir`` is the workflow's folder
    (for the conda environment file)."""

    def __init__(self, plan: Plan, basedir: str | Path):
        self.plan = plan
        self.paths = Layout(plan.results)
        self.archs = list(plan.archs)
        #: the entries of `methods`: registered methods and variants of them (a variant is a {method} too)
        self.methods = plan.methods
        self.downstream = plan.downstream
        #: the pinned environment, for `--software-deployment-method conda`
        self.conda_env = str(Path(basedir, "envs", "archssl.yaml"))
        #: a features / probe job with resources.<stage>.gpus takes that many GPUs of its own before it starts
        #: (archssl.train.gpus.pin); pretraining does it in its launcher
        self.exec = {
            "pretrain": exec_args(plan.pretrain_exec),
            "features": exec_args(dataclasses.replace(plan.features_exec,
                                                      gpus=plan.resources("features").get("gpus") or None)),
            "probe": exec_args(dataclasses.replace(plan.probe_exec, gpus=plan.resources("probe").get("gpus") or None)),
        }
        self.grouped = {"features": bool(plan.config["features"]["group_datasets"]),
                        "probe": bool(plan.config["probe"]["group_datasets"])}
        #: every on-disk dataset the study reads (checked before a run)
        self.real_sets = {r.name: r for r in [*plan.datasets.values(), *(j.data for j in plan.pretrain.values()),
                                              *(j.data for j in plan.nas.searches.values())] if not r.builtin}

    # ------------------------------------------------------------------------------------ job specs
    @functools.lru_cache(maxsize=None)
    def job_arg(self, stage: str, name: str | None = None, dataset: str | None = None) -> str:
        """The job spec of run (or NAS search) ``name`` of ``stage`` as one shell-quoted JSON argument, a rule's
        param (changing it reruns the job); features: of all datasets, or only ``dataset`` (a one-file job);
        probe: the study's one probe spec. Serialised once per spec rather than once per Snakemake job:
        Snakemake evaluates every job's params while it builds the DAG."""
        if stage == "pretrain":
            job = self.plan.pretrain[name]
        elif stage == "features":
            job = self.plan.features[name]
            job = job if dataset is None else job.only([dataset])
        elif stage == "probe":
            job = self.plan.probe
        elif stage == "nas":
            job = self.plan.nas.searches[name]
        else:
            raise ValueError(f"job_arg: unknown stage {stage!r}")
        return shlex.quote(job.to_json())

    # ----------------------------------------------------------------------------------------- data
    def dataset_input(self, ref: DataRef) -> str:
        """What a stage reading dataset ``ref`` depends on: the generated file of a built-in set, the check
        report of an on-disk set (the data themselves are read in place)."""
        return self.paths.dataset_file(ref.name) if ref.builtin else self.paths.dataset_checked(ref.name)

    def data_problems(self) -> str:
        """The report of every configured on-disk dataset that is missing or malformed ("" when all are in
        place)."""
        if self.plan.problems:
            return "\n".join(self.plan.problems)
        if not self.real_sets:
            return ""
        found = check_datasets(list(self.real_sets), ".", {n: r.root for n, r in self.real_sets.items()})
        return format_report(found) if found else ""

    # ------------------------------------------------------------------------------ grouped datasets
    def per_dataset(self, stage: str, pattern: Callable[..., str]) -> list[str] | str:
        """A per-dataset file of ``stage`` as a rule declares it: one pattern with ``{dataset}``, or, where the
        stage groups datasets (``<stage>.group_datasets``: one job per run and architecture), every
        dataset's file."""
        if self.grouped[stage]:
            return [pattern(dataset=d) for d in self.downstream]
        return pattern()

    def log(self, stage: str) -> str:
        """The log of one job of a per-dataset stage (per run and architecture where it groups datasets)."""
        if self.grouped[stage]:
            return self.paths.log(stage, "{method}", "{arch}")
        return self.paths.log(stage, "{method}", "{arch}", "{dataset}")

    # ------------------------------------------------------------------------------------ resources
    def resources(self, stage: str) -> dict:
        """Snakemake resources of a stage (the SLURM executor reads mem_mb, runtime, gpu, slurm_*): runtime
        grows with the attempt (a job retried after its time limit gets more time); cpus_per_task is the
        SLURM request, which --cores (that caps `threads`) does not cap."""
        r = self.plan.resources(stage)
        out = {"mem_mb": r["mem_mb"], "runtime": per_job(lambda wc, attempt: r["runtime"] * attempt),
               "cpus_per_task": r["threads"]}
        if r["gpus"]:
            out["gpu"] = r["gpus"]
        for k in ("slurm_partition", "slurm_extra"):
            if k in r:
                out[k] = r[k]
        return out

    def threads(self, stage: str) -> int:
        return self.plan.resources(stage)["threads"]

    def launcher(self, stage: str, distributed: bool = False) -> str:
        """How a stage's shell starts ``archssl`` (a rule's ``archssl_launch`` resource: changing it reruns
        nothing). With ``resources.<stage>.gpus`` N >= 1, through the GPU slot allocator
        (``python -m archssl.train.gpus --count N --``: N devices of this machine no other job holds, as
        CUDA_VISIBLE_DEVICES); with N > 1 and ``distributed`` (pretraining), one process per GPU through
        torchrun (DistributedDataParallel inside the job, archssl.train.distributed)."""
        gpus = int(self.plan.resources(stage).get("gpus") or 0)
        cmd = "archssl"
        if distributed and gpus > 1:
            cmd = f"torchrun --standalone --nproc-per-node {gpus} -m archssl.cli"
        if gpus >= 1:
            cmd = f"python -m archssl.train.gpus --count {gpus} -- {cmd}"
        return cmd

    # ---------------------------------------------------------------------------- feature integrity
    def set_aside_invalid_feature_files(self, dry_run: bool) -> list[str]:
        """Feature files that are truncated or corrupt (not readable as archssl feature files) are never read
        as valid: each is renamed to ``*.corrupt`` (kept for inspection) so that this run rebuilds it. Under
        a dry run nothing is renamed: the messages say which files a run would rebuild."""
        msgs = []
        for path in sorted(Path(self.paths.root, "features").glob("*/*/*.h5")):
            if is_valid(path):
                continue
            dest = path.with_name(path.name + ".corrupt")
            if dry_run:
                msgs.append(f"archssl: {path} is truncated or corrupt; a run moves it to {dest.name} and rebuilds it")
                continue
            path.replace(dest)
            msgs.append(f"archssl: {path} is truncated or corrupt; moved to {dest.name}, it will be rebuilt")
        return msgs
