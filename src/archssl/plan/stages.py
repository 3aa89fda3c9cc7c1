"""The stage table: for each stage whose jobs run a job spec, the spec and execution classes, the ``archssl``
command that runs one job, the package modules its results depend on (their code digest, recorded in each
result and compared by ``archssl status``); the paths of its results are :class:`archssl.layout.Layout`'s.
The CLI parses ``--job`` / ``--exec`` with it, the rules pass specs and execution settings through it, and the
status reads it.

Adding a stage is one row here, its rule file and the function its command runs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from archssl import codedigest
from archssl.catalog import METHODS
from archssl.plan.execution import FeaturesExec, PretrainExec, ProbeExec, parse_exec
from archssl.plan.nas import NASSearchJob
from archssl.plan.specs import FeaturesJob, PretrainJob, ProbeJob

#: modules every stage's result depends on
_COMMON = ("utils.py", "runtime.py", "params.py", "catalog/loader.py")


@dataclass(frozen=True)
class Stage:
    """One row of the stage table."""

    name: str
    job: type
    exec: type
    #: the ``archssl`` command that runs one job (``archssl <command> --job JSON --exec K=V,...``)
    command: str
    #: package-relative modules (files or folders) whose code decides the stage's results
    modules: tuple[str, ...]

    def parse_job(self, d: dict):
        return self.job.from_dict(d)

    def parse_exec(self, text: str | None):
        return parse_exec(text, self.exec)


STAGES: dict[str, Stage] = {s.name: s for s in (
    Stage("pretrain", PretrainJob, PretrainExec, "pretrain",
          (*_COMMON, "train", "archs", "data", "distributed.py", "methods/base.py", "methods/common.py",
           "methods/heads.py", "methods/patches.py", "catalog/methods", "catalog/archs", "catalog/datasets",
           "plan/specs.py", "plan/execution.py", "plan/schema.py")),
    Stage("features", FeaturesJob, FeaturesExec, "features",
          (*_COMMON, "evaluate/features.py", "evaluate/featurestore.py", "archs", "catalog/archs", "data",
           "catalog/datasets", "methods/patches.py", "catalog/methods/patches.py", "train/augment.py")),
    Stage("probe", ProbeJob, ProbeExec, "probe",
          (*_COMMON, "evaluate/probes", "evaluate/probe_job.py", "evaluate/featurestore.py", "evaluate/bootstrap.py",
           "catalog/probes")),
    Stage("nas", NASSearchJob, PretrainExec, "nas-search",
          (*_COMMON, "nas", "train", "archs", "catalog/archs", "data", "catalog/datasets", "methods",
           "catalog/methods", "catalog/nas.py", "distributed.py")),
)}


def _module_file(impl: str) -> str:
    """The package-relative file of an implementation path ``archssl.x.y:Name``."""
    module = impl.partition(":")[0]
    return "/".join(module.split(".")[1:]) + ".py"


def stage_modules(stage: str, method: str | None = None) -> tuple[str, ...]:
    """The modules of ``stage``; for ``pretrain`` with ``method``, plus the method's implementation (the
    descriptors of every method are in ``catalog/methods``)."""
    mods = STAGES[stage].modules
    if stage == "pretrain" and method is not None:
        info = METHODS.get(method)
        impl = info.impl if isinstance(info.impl, str) else f"{info.impl.__module__}:{info.impl.__name__}"
        if impl.startswith("archssl."):
            mods = (*mods, _module_file(impl))
    return mods


def digest_key(stage: str, method: str | None = None) -> str:
    """The key of :data:`archssl.codedigest.EQUIVALENT` for ``stage`` (pretraining: per method)."""
    return f"{stage}:{method}" if stage == "pretrain" and method is not None else stage


@functools.lru_cache(maxsize=None)
def stage_digest(stage: str, method: str | None = None) -> str:
    """Today's code digest of ``stage`` (for ``pretrain``, of registered ``method``'s run)."""
    return codedigest.digest(stage_modules(stage, method))


def code_digests(runs: dict[str, str]) -> dict:
    """Today's stage digests of a study whose ``runs`` map each entry of ``methods`` to its registered method:
    the workflow makes them a param of the rule that writes the status table, so that an edit to the code
    reruns it."""
    return {"features": stage_digest("features"), "probe": stage_digest("probe"),
            "pretrain": {run: stage_digest("pretrain", m) for run, m in sorted(runs.items())}}
