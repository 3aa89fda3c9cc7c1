"""The micro study the workflow tests run, and whole studies built once and copied per test."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from support.workflow import snakemake, write_config

#: two tiny architectures, the random baseline and SimCLR, two built-in downstream sets, 2 epochs at 16 px
MICRO = {
    "study": "micro",
    "seed": 0,
    "results": "results",
    "data": {"image_size": 16, "builtin": {"seed": 0, "pool_size": 512},
             "pretrain": "pool", "downstream": ["shape", "textures"]},
    "archs": {"specs": [
        {"family": "resnet", "block": "basic", "depths": [1, 1], "width": 4, "stem": "cifar"},
        {"family": "mobilenetv2", "width_mult": 0.25, "depths": [1, 1, 1, 1, 1, 1, 1], "stem": "small"},
    ]},
    "methods": ["random", "simclr"],
    "pretrain": {"epochs": 2, "batch_size": 128, "warmup_epochs": 0, "optimizer": {"name": "lars", "lr": 0.5},
                 "method_params": {"simclr": {"head": {"kind": "mlp", "hidden": 32, "out": 16}}}},
    "probe": {"name": "lbfgs_logreg", "params": {"num_l2": 5, "l2_min": 1e-4, "l2_max": 1.0}},
    "analysis": {"reference": "shape"},
}
#: a third architecture for the micro study (the tests that add one)
EXTRA_ARCH = {"family": "resnet", "block": "basic", "depths": [1, 2], "width": 4, "stem": "cifar"}


def dataset_targets(cfg: dict) -> list[str]:
    """The files of every dataset a study of ``cfg`` prepares (its pretraining set and its downstream sets)."""
    names = [cfg["data"]["pretrain"], *cfg["data"]["downstream"]]
    return [f"results/data/{name}/images.h5" for name in dict.fromkeys(names)]


def build_study(tmp_path_factory, name: str, cfg: dict, *targets: str, start: Path | None = None) -> Path:
    """A study of ``cfg`` built in a fresh folder (once per fixture scope): all of it, or only ``targets``;
    with ``start``, the folder begins as a copy of that built study (snakemake reuses what it made that
    ``cfg`` makes the same way). Prints how long it took."""
    work = tmp_path_factory.mktemp(name)
    if start is not None:
        shutil.copytree(start, work, symlinks=True, dirs_exist_ok=True)
    write_config(work, cfg)
    t0 = time.time()
    snakemake(work, "--cores", "2", *targets)
    print(f"{name} study: {time.time() - t0:.0f}s")
    return work


def copy_study(built: Path, tmp_path: Path) -> Path:
    """A private copy of a built study, for a test that changes it."""
    work = tmp_path / "study"
    shutil.copytree(built, work, symlinks=True)
    return work
