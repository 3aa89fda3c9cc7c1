"""Pieces several methods share: momentum (EMA) encoders, accuracy helpers, full-precision losses."""

from __future__ import annotations

import copy
import functools

import torch
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


def top1(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(1) == target).float().mean()


def full_precision(fn):
    """Run a loss function with autocast disabled (autocast would otherwise run its matmuls in bf16 even on
    float32 inputs); half-precision tensor arguments are cast to float32 (float64 stays float64)."""

    @functools.wraps(fn)
    def wrapper(*args, **kw):
        dev = next((a.device.type for a in list(args) + list(kw.values()) if torch.is_tensor(a)), "cpu")
        low = (torch.float16, torch.bfloat16)
        cast = lambda v: v.float() if torch.is_tensor(v) and v.dtype in low else v  # noqa: E731
        with torch.autocast(device_type=dev, enabled=False):
            return fn(*[cast(a) for a in args], **{k: cast(v) for k, v in kw.items()})

    return wrapper
