# Shared by every rule file: the validated config, the resolved architectures, paths and parameters.
import json
import sys
from pathlib import Path
import shlex

from snakemake.exceptions import WorkflowError

from archssl.archs import arch_id
from archssl.config import validate_config
from archssl.data import get_dataset
from archssl.methods import METHODS

# fills defaults from workflow/schemas/config.schema.yaml, checks every name against its registry and
# raises ConfigError naming the key at fault, before any job is scheduled
ARCH_SPECS = {arch_id(s): s for s in validate_config(config)}

RES = config["results"]
ARCHS = list(ARCH_SPECS)
METHOD_NAMES = config["methods"]
DOWNSTREAM = config["data"]["downstream"]
PRETRAIN_SET = config["data"]["pretrain"]
BUILTIN_ROOT = f"{RES}/data"
LOGS = f"{RES}/logs"


wildcard_constraints:
    method="[a-z0-9_]+",
    arch="[a-z0-9._-]+",
    dataset="[a-z0-9_]+",


def as_arg(obj):
    """A config section as one shell-quoted JSON argument (a param: changing it reruns the stage)."""
    return shlex.quote(json.dumps(obj, sort_keys=True))


DATA_LOCATIONS = {
    "builtin_root": BUILTIN_ROOT,
    "data_root": config["data"]["data_root"],
    "roots": config["data"]["roots"],
}


def dataset_input(name):
    """What a stage reading dataset ``name`` depends on: the generated file of a built-in set, the check
    report of an on-disk set (the data themselves are read in place)."""
    if get_dataset(name).builtin:
        return f"{BUILTIN_ROOT}/{name}/images.h5"
    return f"{BUILTIN_ROOT}/checked/{name}.txt"


def stage_resources(stage):
    r = dict(config["resources"]["default"])
    r.update(config["resources"][stage])
    return r


def threads_for(stage):
    return stage_resources(stage)["threads"]


def slurm_resources(stage):
    """Snakemake resources of a stage (the SLURM executor reads mem_mb, runtime, gpu, slurm_*)."""
    r = stage_resources(stage)
    out = {"mem_mb": r["mem_mb"], "runtime": r["runtime"]}
    if r["gpus"]:
        out["gpu"] = r["gpus"]
    for k in ("slurm_partition", "slurm_extra"):
        if k in r:
            out[k] = r[k]
    return out
