"""Small shared helpers: atomic outputs, seeding, devices, hashing, provenance."""

from __future__ import annotations

import contextlib
import copy
import errno
import hashlib
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

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


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def select_device(name: str = "auto"):
    """``auto`` picks CUDA when present, else CPU. The same code path runs on both."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available")
    return dev


def training_memory_format(model, device, channels_last: bool):
    """The memory format to train ``model`` in on ``device``: channels_last when asked for, except on a CPU for a
    model with a 1x1 convolution of stride > 1 over fewer than 8 input channels per group (a ResNet shortcut
    of width 4). oneDNN's CPU kernel for that convolution's backward pass corrupts the heap in channels_last
    (torch 2.14.1 on AVX2 CPUs: the process aborts with ``free(): invalid next size`` or a segfault), so such
    a model trains in the contiguous format there, which is logged. Forward passes (features) are not
    affected. :func:`prepare_training_layout` also slices those convolutions' inputs
    (:func:`slice_strided_pointwise_convs`), which alone avoids the kernel; the format is kept as a second
    guard."""
    import torch

    if not channels_last:
        return torch.contiguous_format
    if torch.device(device).type == "cpu":
        unsafe = [name for name, m in model.named_modules()
                  if isinstance(m, torch.nn.Conv2d) and tuple(m.kernel_size) == (1, 1)
                  and tuple(m.stride) != (1, 1) and m.in_channels // m.groups < 8]
        if unsafe:
            logging.getLogger("archssl").info(
                "training in the contiguous memory format, not channels_last: %s is a strided 1x1 convolution "
                "over fewer than 8 channels, whose channels_last backward oneDNN's CPU kernel gets wrong",
                unsafe[0])
            return torch.contiguous_format
    return torch.channels_last


def _strided_pointwise(m) -> bool:
    import torch

    return (isinstance(m, torch.nn.Conv2d) and tuple(m.kernel_size) == (1, 1) and tuple(m.stride) != (1, 1)
            and tuple(m.dilation) == (1, 1) and m.padding in ((0, 0), "valid"))


def _slice_input(stride: tuple[int, int]):
    def hook(module, args):
        return (args[0][:, :, ::stride[0], ::stride[1]], *args[1:])
    return hook


def slice_strided_pointwise_convs(model, device) -> list[str]:
    """On a CPU, compute every 1x1 convolution of stride s > 1 (no padding or dilation) in ``model`` as the
    stride-1 convolution of its input sliced ``[..., ::s, ::s]``: the same products of the same pixels (output
    (i, j) reads input (s i, s j) either way), so the function and the parameters are unchanged. oneDNN's CPU
    backward of the strided form (``brgconv_strided`` backward-data) corrupts the heap for few input channels
    (torch 2.14.1 on AVX2: reproducible on any x86 CPU with ``ONEDNN_MAX_CPU_ISA=AVX2``), and how few depends
    on the CPU's cache sizes; the sliced form never runs that kernel, at about the same speed on a CPU
    (``benchmarks/strided_pointwise.py``). Elsewhere (CUDA) nothing changes. Returns the rewritten modules'
    names (logged). Only the training instance is rewritten: its ``state_dict`` is the same, and a model built
    from the spec has its strides as before."""
    import torch

    if torch.device(device).type != "cpu":
        return []
    names = []
    for name, m in model.named_modules():
        if _strided_pointwise(m):
            m.register_forward_pre_hook(_slice_input(tuple(m.stride)))
            m.stride = (1, 1)
            names.append(name)
    if names:
        log.info("%d strided 1x1 convolution(s) computed on sliced inputs on the CPU (%s%s)", len(names),
                 names[0], ", ..." if len(names) > 1 else "")
    return names


def prepare_training_layout(model, device, channels_last: bool):
    """Lay ``model`` out for training on ``device`` and return the memory format its inputs take: the format of
    :func:`training_memory_format` (the model is converted when it is channels_last), and on a CPU the strided
    1x1 convolutions sliced (:func:`slice_strided_pointwise_convs`)."""
    import torch

    fmt = training_memory_format(model, device, channels_last)
    slice_strided_pointwise_convs(model, device)
    if fmt == torch.channels_last:
        model.to(memory_format=torch.channels_last)
    return fmt


_GRANTED_THREADS: int | None = None


def set_threads(threads: int | None) -> None:
    """Use ``threads`` intra-op threads (None: what the scheduler granted, or all cores) and remember them as
    this process's budget (:func:`granted_threads`)."""
    import torch

    global _GRANTED_THREADS
    if threads is None:
        threads = int(os.environ.get("SLURM_CPUS_PER_TASK", 0)) or len(os.sched_getaffinity(0))
    _GRANTED_THREADS = max(1, int(threads))
    torch.set_num_threads(_GRANTED_THREADS)


def granted_threads() -> int | None:
    """The thread budget given to :func:`set_threads` (a job's ``--threads``), None if it was never called."""
    return _GRANTED_THREADS


def code_version() -> str:
    """The package version plus the git commit of the source tree when it is a checkout."""
    from archssl import __version__

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
