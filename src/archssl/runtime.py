"""Torch runtime helpers of every job: seeding, the device, intra-op threads, and the memory layout a model
trains in on a CPU (the oneDNN strided 1x1 convolution workaround)."""

from __future__ import annotations

import logging
import os
import random

import numpy as np
import torch

log = logging.getLogger("archssl")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def select_device(name: str = "auto"):
    """``auto`` picks CUDA when present, else CPU. The same code path runs on both."""
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
    fmt = training_memory_format(model, device, channels_last)
    slice_strided_pointwise_convs(model, device)
    if fmt == torch.channels_last:
        model.to(memory_format=torch.channels_last)
    return fmt


_GRANTED_THREADS: int | None = None


def set_threads(threads: int | None) -> None:
    """Use ``threads`` intra-op threads (None: what the scheduler granted, or all cores) and remember them as
    this process's budget (:func:`granted_threads`)."""
    global _GRANTED_THREADS
    if threads is None:
        threads = int(os.environ.get("SLURM_CPUS_PER_TASK", 0)) or len(os.sched_getaffinity(0))
    _GRANTED_THREADS = max(1, int(threads))
    torch.set_num_threads(_GRANTED_THREADS)


def granted_threads() -> int | None:
    """The thread budget given to :func:`set_threads` (a job's ``--threads``), None if it was never called."""
    return _GRANTED_THREADS


# ------------------------------------------------------------------------------------------ image tensors

#: the ImageNet channel statistics every view and feature input is normalised with
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize(x: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """``(x - mean) / std`` per channel of a float batch (N, C, H, W)."""
    m = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - m) / s


def to_float(x: torch.Tensor) -> torch.Tensor:
    """A uint8 image batch as floats in [0, 1] (a float batch as float32)."""
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
