# Shared by all stage files: the validated config, the resolved architectures, paths and parameters.
import json
import os
import sys
from pathlib import Path
import shlex

from snakemake.exceptions import WorkflowError

from archssl.archs import arch_id
from archssl.config import pretrain_set, resolve_run, validate_config
from archssl.data import get_dataset
from archssl.methods import METHODS
from archssl.methods.patches import PatchConfig

# fills defaults from workflow/schemas/config.schema.yaml, checks every name against its registry and
# raises ConfigError naming the key at fault, before any job is scheduled
ARCH_SPECS = {arch_id(s): s for s in validate_config(config)}

# jobs call the `archssl` command of the environment snakemake runs in, activated or not
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

RES = config["results"]
# the pinned environment, for `--software-deployment-method conda` (on a cluster without the venv)
CONDA_ENV = str(Path(workflow.basedir, "envs", "archssl.yaml"))
ARCHS = list(ARCH_SPECS)
# the entries of `methods`: registered methods and variants of them (a variant is a {method} like any other)
METHOD_NAMES = config["methods"]
RUNS = {name: resolve_run(config, name) for name in METHOD_NAMES}
# the variants the ablation table compares with their method (or `against`); a variant whose method is not in
# the study and that names no `against` is a run like any other, in every table but that one
VARIANTS = [name for name in METHOD_NAMES if RUNS[name].is_variant and RUNS[name].against is not None]
DOWNSTREAM = config["data"]["downstream"]
BUILTIN_ROOT = f"{RES}/data"
LOGS = f"{RES}/logs"


def as_arg(obj, sort_keys=True):
    """A config section as one shell-quoted JSON argument (a param: changing it reruns the stage)."""
    return shlex.quote(json.dumps(obj, sort_keys=sort_keys))


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


def pretrain_input(wildcards):
    """The pretraining set of a method: data.pretrain, or its own method_params.<method>.dataset."""
    return dataset_input(pretrain_set(config, wildcards.method)[0])


def pretrain_params(method):
    """The pretraining job's settings for ``method`` (an entry of `methods`: a method or a variant)."""
    p = config["pretrain"]
    run = RUNS[method]
    # dataset / split are read here, not by the method
    mp = {k: v for k, v in run.params.items() if k not in ("dataset", "split")}
    name, split = pretrain_set(config, method)
    data = {"seed": run.seed, "image_size": config["data"]["image_size"], "method_params": mp,
            "dataset": name, "split": split, "batch_size": p["batch_size"],
            "data": {**DATA_LOCATIONS, "options": config["data"]["options"]}}
    if not METHODS.get(run.method).trains:
        # an untrained baseline depends only on the spec, the seed and the images its BN statistics come from
        return data
    keep = ("epochs", "optimizer", "warmup_epochs", "final_lr", "cosine", "augment", "checkpoint_every",
            "device", "num_workers", "precision", "channels_last")
    return {**{k: p[k] for k in keep}, **data}


def features_params(method):
    """The features stage's settings for one method; patch-based methods evaluated on patches also get
    their patch geometry (so a change of patch_eval reruns only their features)."""
    f = {k: v for k, v in config["features"].items() if k not in ("group_datasets", "patch_eval")}
    d = config["data"]
    run = RUNS[method]
    if config["features"]["patch_eval"] == "patch_average" and METHODS.get(run.method).patch_based:
        mp = run.params
        f["patches"] = {k: mp[k] for k in PatchConfig.KEYS if k in mp}
    return {**f, "data": {**DATA_LOCATIONS, "image_size": d["image_size"], "options": d["options"]}}


def probe_params():
    return {k: v for k, v in config["probe"].items() if k != "group_datasets"}


from archssl.data.check import check_datasets, format_report, resolve_root

PRETRAIN_SETS = [pretrain_set(config, m)[0] for m in METHOD_NAMES]
REAL_SETS = [d for d in dict.fromkeys([*PRETRAIN_SETS, *DOWNSTREAM]) if not get_dataset(d).builtin]


def real_dataset_problems():
    """The report of every configured on-disk dataset that is missing or malformed ("" when all are in place)."""
    if not REAL_SETS:
        return ""
    root = config["data"]["data_root"]
    if root is None and not all(d in config["data"]["roots"] for d in REAL_SETS):
        return f"config key 'data.data_root' is not set, and {', '.join(REAL_SETS)} are read from disk"
    found = check_datasets(REAL_SETS, root or ".", config["data"]["roots"])
    return format_report(found) if found else ""


# checked once, in the main process; a dry run only warns (the DAG builds without the data), a real run
# stops in `onstart` (Snakefile) before any job is scheduled
DATA_PROBLEMS = real_dataset_problems() if workflow.is_main_process else ""
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
