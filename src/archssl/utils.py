"""Small shared helpers: atomic outputs, seeding, devices, hashing, provenance."""

from __future__ import annotations

import contextlib
import copy
import errno
import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from archssl import __version__

log = logging.getLogger("archssl")

#: metrics.csv columns every pretraining run writes (``archssl.train.loop``); the method's own metrics come
#: between ``loss`` and ``lr``, and the tables take the first of them as the pretext metric. Kept here, in a
#: module without torch, so that the tables job can read it without importing torch.
METRICS_STANDARD_COLUMNS = ("epoch", "loss", "lr", "images_per_s", "seconds", "skipped_steps")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_path_for(path: str | os.PathLike) -> Path:
    """A new empty temporary file next to ``path`` (same folder, so a rename publishes it atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(tmp)


def publish(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """fsync ``tmp``, give it the mode a plain ``open()`` would (0666 under the umask: colleagues read results
    on a shared cluster), rename it onto ``path`` and make the rename durable."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)
    try:
        dfd = os.open(Path(path).parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:  # some file systems do not fsync directories
        pass


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success, publish it onto ``path`` (:func:`publish`).

    A job killed half-way leaves only a ``.tmp`` file behind, never a target that looks complete.
    """
    tmp = temp_path_for(path)
    try:
        yield tmp
        publish(tmp, path)
    except OSError as e:
        if e.errno == errno.ENOSPC and not e.filename:  # name the target, not the temporary file
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from e
        raise
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(o: Any):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)


def stable_hash(obj: Any, n: int = 12) -> str:
    """A short hash of ``obj``'s canonical JSON: the same on every machine and process."""
    return hashlib.sha1(canonical_json(obj).encode()).hexdigest()[:n]


def code_version() -> str:
    """The package version plus the git commit of the source tree when it is a checkout."""
    try:
        here = Path(__file__).resolve().parent
        sha = subprocess.run(["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return f"{__version__}+g{sha}{'.dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return __version__


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")


def deep_merge(base: dict, over: dict) -> dict:
    """``over`` merged into a copy of ``base``: mappings key by key (recursively), anything else replaced."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out
