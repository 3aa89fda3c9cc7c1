"""Pieces several methods share: momentum (EMA) encoders, a FIFO queue of keys, accuracy helpers."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn


def frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` whose parameters take no gradient (a momentum / target encoder)."""
    target = copy.deepcopy(module)
    for p in target.parameters():
        p.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """``theta_t <- m theta_t + (1 - m) theta_o`` for every parameter (MoCo's key encoder, BYOL's target).

    Buffers (BatchNorm running statistics) are not averaged: the target keeps the statistics of its own
    forward passes, as in MoCo and BYOL."""
    tp, op = list(target.parameters()), list(online.parameters())
    if len(tp) != len(op):
        raise ValueError("ema_update: target and online modules differ in structure")
    if momentum == 1.0 or not tp:  # no parameters (e.g. MoCo's head of kind none): nothing to average
        return
    torch._foreach_mul_(tp, momentum)
    torch._foreach_add_(tp, [o.detach().to(t.dtype) for t, o in zip(tp, op)], alpha=1.0 - momentum)


class KeyQueue(nn.Module):
    """A FIFO queue of ``size`` L2-normalised keys (MoCo's dictionary), stored as buffers so that checkpoints
    carry it.

    ``enqueue(k)`` writes the batch at positions ``ptr, ptr + 1, ... (mod size)`` over the oldest entries and
    advances ``ptr``; a batch longer than the queue keeps its last ``size`` keys. The initial content is
    random unit vectors (as in MoCo). ``ordered()`` returns the keys oldest first."""

    def __init__(self, size: int, dim: int):
        super().__init__()
        if size < 1:
            raise ValueError(f"queue size must be >= 1, got {size}")
        self.register_buffer("keys", F.normalize(torch.randn(size, dim), dim=1))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))

    def __len__(self) -> int:
        return self.keys.shape[0]

    @torch.no_grad()
    def enqueue(self, k: torch.Tensor) -> None:
        k = k.detach().to(self.keys.dtype)
        size = self.keys.shape[0]
        ptr = int(self.ptr)
        n = k.shape[0]
        if n > size:
            ptr = (ptr + n - size) % size
            k, n = k[-size:], size
        idx = (ptr + torch.arange(n, device=self.keys.device)) % size
        self.keys.index_copy_(0, idx, k)
        self.ptr.fill_((ptr + n) % size)

    def ordered(self) -> torch.Tensor:
        return torch.roll(self.keys, -int(self.ptr), dims=0)


def top1(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(1) == target).float().mean()


def split_forward(module: nn.Module, x: torch.Tensor, splits: int) -> torch.Tensor:
    """``module`` on ``splits`` equal sub-batches (BatchNorm statistics per sub-batch, as on ``splits`` devices)."""
    if splits <= 1:
        return module(x)
    if x.shape[0] % splits:
        raise ValueError(f"bn_splits={splits} must divide the batch ({x.shape[0]})")
    return torch.cat([module(c) for c in x.chunk(splits)])


def full_precision(fn):
    """Run a loss function with autocast disabled (autocast would otherwise run its matmuls in bf16 even on
    float32 inputs); half-precision tensor arguments are cast to float32 (float64 stays float64)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kw):
        dev = next((a.device.type for a in list(args) + list(kw.values()) if torch.is_tensor(a)), "cpu")
        low = (torch.float16, torch.bfloat16)
        cast = lambda v: v.float() if torch.is_tensor(v) and v.dtype in low else v  # noqa: E731
        with torch.autocast(device_type=dev, enabled=False):
            return fn(*[cast(a) for a in args], **{k: cast(v) for k, v in kw.items()})

    return wrapper
