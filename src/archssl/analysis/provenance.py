"""Provenance saved next to the results: the resolved config and what produced the results."""

from __future__ import annotations

import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import yaml

from archssl.utils import atomic_path, code_version, write_json

PACKAGES = ("torch", "torchvision", "snakemake", "numpy", "pandas", "h5py", "scikit-learn", "seaborn", "scipy")


def _version(pkg: str) -> str | None:
    try:
        return version(pkg)
    except PackageNotFoundError:
        return None


def write_provenance(config: dict, arch_specs: dict, config_out: Path, provenance_out: Path) -> None:
    """``config_out``: the config with every default filled in; ``provenance_out``: code version, Python,
    platform, package versions and every architecture spec by id."""
    with atomic_path(config_out) as tmp:
        tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    write_json(provenance_out, {
        "code_version": code_version(), "python": sys.version.split()[0], "platform": platform.platform(),
        "packages": {p: _version(p) for p in PACKAGES}, "architectures": arch_specs,
    })
