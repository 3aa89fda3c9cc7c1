"""Torch collective primitives for multi-process (DistributedDataParallel) pretraining.

One process per device, started by ``torchrun`` (which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``). Every function here also works with no process group at all (a plain
``python`` run, or ``WORLD_SIZE=1``): it then takes the single-process code path, the identity, so callers
use these functions unconditionally. The layers above build on them: SimCLR's NT-Xent over the global batch
(:mod:`archssl.methods.simclr`), MoCo's shuffling BN and key gathering (:mod:`archssl.methods.moco`), and
the training concerns, SyncBatchNorm, DDP and the sharding of the data order and the views
(:mod:`archssl.train.distributed`).

Conventions
-----------
*Batches.* ``pretrain.batch_size`` B stays the **global** batch (the learning-rate scaling uses it). With W
processes rank r handles the contiguous rows ``[r B/W, (r+1) B/W)`` of every global batch
(:func:`shard_rows`; the loop's data order: :func:`archssl.train.distributed.shard_order`), so the rows
gathered in rank order (:func:`all_gather_with_grad`) are the global batch in its single-process order.
B must be divisible by W.

*Losses and gradient scale.* Each rank's loss is the mean over its **local** anchors (queries, samples);
with equal local batch sizes the mean of the W local losses is the single-process loss over the global
batch: ``L = (1/W) sum_r L_r``. Every differentiable collective here (:func:`all_gather_with_grad`,
:func:`all_reduce_sum_with_grad`, which :class:`archssl.train.distributed.AllReduceSyncBatchNorm` uses, like
torch's SyncBatchNorm) returns in backward the gradient of the **sum** of all ranks' losses with respect to
this rank's input, ``d(sum_r' L_r') / dx_r = W dL / dx_r``. DDP then **averages** the weight gradients over
ranks, so each rank holds ``(1/W) sum_r d(sum_r' L_r')/dtheta|_r = dL/dtheta``: the gradient of the
single-process mean loss over the global batch. W processes x B/W images therefore give the same weight
gradients as 1 process x B images (up to float32 reduction order), which ``tests/test_distributed.py``
checks for SimCLR, MoCo v2 and BYOL.

*Randomness.* The loop seeds torch's global generator identically on every rank, from (seed, epoch). A draw
made for a collective (the shuffle permutation of :func:`archssl.methods.moco.batch_shuffle`) is made on
every rank, so the ranks' generators stay in lockstep, and rank 0's draw is broadcast (:func:`broadcast`,
the authoritative one): runs are deterministic and resumable as in one process. Per-sample random values
are drawn for the whole global batch and each rank takes its rows (:func:`shard_rows`), so they equal the
single-process ones.
"""

from __future__ import annotations

import datetime
import os
from typing import Any

import torch
import torch.distributed as dist


# --------------------------------------------------------------------------------------------------------
# setup / teardown


def init_from_env(device: torch.device | str | None = None,
                  timeout: datetime.timedelta | None = None) -> torch.device:
    """Join the process group torchrun describes in the environment and return this process's device.

    ``WORLD_SIZE`` unset or 1: no process group is created and ``device`` is returned as given (default:
    CUDA when present, else CPU); every other function of this module then takes its single-process path.
    ``WORLD_SIZE`` > 1: backend ``nccl`` when ``device`` is CUDA, ``gloo`` otherwise (``init_method="env://"``:
    ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``); on CUDA the process is pinned to GPU
    ``LOCAL_RANK`` (``torch.cuda.set_device``) and that device is returned whatever index ``device`` had.
    ``timeout`` bounds every collective (torch's default when None). Calling it again once the group
    exists only returns the device."""
    if device is None:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if dist.is_initialized():
        return device
    for key in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        if key not in os.environ:
            raise RuntimeError(f"WORLD_SIZE={world} but {key} is not set: start the run with torchrun")
    kw: dict[str, Any] = {"backend": "nccl" if device.type == "cuda" else "gloo", "init_method": "env://",
                          "rank": int(os.environ["RANK"]), "world_size": world}
    if timeout is not None:
        kw["timeout"] = timeout
    if device.type == "cuda":
        kw["device_id"] = device
    dist.init_process_group(**kw)
    return device


def shutdown() -> None:
    """Leave the process group (no-op without one)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_distributed() -> bool:
    """True when a process group with more than one process is initialised. A group of one process takes the
    single-process paths too (the collectives would be identities)."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    """The number of processes (1 without a process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


#: the process group's rank and size under names that parameters called ``rank`` / ``world_size`` leave visible
_group_rank, _group_size = rank, world_size


def is_main() -> bool:
    """True on rank 0: the process that writes checkpoints, metrics and logs."""
    return rank() == 0


def barrier() -> None:
    """Wait for every rank (no-op without a process group)."""
    if not is_distributed():
        return
    if dist.get_backend() == "nccl":
        dist.barrier(device_ids=[torch.cuda.current_device()])
    else:
        dist.barrier()


# --------------------------------------------------------------------------------------------------------
# collectives


class _AllGatherWithGrad(torch.autograd.Function):
    """forward: ``cat(all_gather(x))``; backward: ``all_reduce(grad, SUM)`` then this rank's rows."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x)
        ctx.rows = (dist.get_rank() * x.shape[0], (dist.get_rank() + 1) * x.shape[0])
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        lo, hi = ctx.rows
        return grad[lo:hi]


def all_gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """The rows of ``x`` from every rank concatenated in rank order (dim 0), differentiable.

    Every rank must pass a tensor of the same shape. Gradient: rank r's ``x`` receives
    ``sum over ranks r' of d L_r' / d x_r`` (backward all-reduces the gradient of the gathered tensor with
    SUM and takes rank r's rows): the gradient of the sum of all ranks' losses. With per-rank losses that
    are means over local anchors and DDP's averaging of weight gradients, the weights get the gradient of
    the single-process mean loss (module docstring). The usual ``GatherLayer`` that returns only
    ``grad[rank]`` without the all-reduce drops the other ranks' loss terms and is wrong by that much.

    Without a process group (or world size 1): returns ``x`` itself (identity, gradient passes through)."""
    if not is_distributed():
        return x
    return _AllGatherWithGrad.apply(x)


@torch.no_grad()
def all_gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    """``cat(all_gather(x))`` in rank order, detached (MoCo's keys). Same shape on every rank.
    World size 1: ``x.detach()``."""
    if not is_distributed():
        return x.detach()
    x = x.detach().contiguous()
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x)
    return torch.cat(parts)


class _AllReduceSum(torch.autograd.Function):
    """forward: ``all_reduce(x, SUM)``; backward: ``all_reduce(grad, SUM)`` (the gradient of the sum of all
    ranks' losses, the same convention as :func:`all_gather_with_grad` and torch's SyncBatchNorm)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad


def all_reduce_sum_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Differentiable sum over ranks (every rank gets the sum; gradient: the sum of the ranks' gradients).
    World size 1: ``x``."""
    if not is_distributed():
        return x
    return _AllReduceSum.apply(x)


@torch.no_grad()
def all_reduce_mean(x: torch.Tensor) -> torch.Tensor:
    """The mean of ``x`` over ranks (a detached copy), for logging: the mean of the local losses is the
    global-batch loss. World size 1: ``x.detach()``."""
    if not is_distributed():
        return x.detach()
    y = x.detach().clone(memory_format=torch.contiguous_format)
    dist.all_reduce(y, op=dist.ReduceOp.SUM)
    return y / dist.get_world_size()


def reduce_metrics(metrics: dict[str, float], device: torch.device | str = "cpu") -> dict[str, float]:
    """Each value averaged over ranks (one all-reduce; every rank must pass the same keys). Pass the
    process's device (nccl reduces CUDA tensors only). World size 1: a copy of ``metrics``."""
    if not is_distributed() or not metrics:
        return dict(metrics)
    keys = sorted(metrics)
    t = torch.tensor([float(metrics[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    t = (t / dist.get_world_size()).tolist()
    return {k: t[keys.index(k)] for k in metrics}


@torch.no_grad()
def broadcast(x: torch.Tensor, src: int = 0) -> torch.Tensor:
    """``x`` replaced in place by rank ``src``'s value (returned). World size 1: ``x``."""
    if is_distributed():
        dist.broadcast(x, src=src)
    return x


def shard_rows(t: torch.Tensor, rank: int | None = None, world_size: int | None = None) -> torch.Tensor:
    """This rank's contiguous rows of a tensor whose dim 0 is the global batch (rows ``[r n, (r+1) n)``,
    n = len / W): for per-sample randomness drawn for the whole global batch (every rank draws the same),
    e.g. MoCo's hard-negative ranks. ``rank``/``world_size`` default to the process group's.
    World size 1: ``t``."""
    r = _group_rank() if rank is None else rank
    w = _group_size() if world_size is None else world_size
    if w == 1:
        return t
    if t.shape[0] % w:
        raise ValueError(f"{t.shape[0]} rows do not split evenly over {w} processes")
    n = t.shape[0] // w
    return t[r * n:(r + 1) * n]


__all__ = [
    "init_from_env", "shutdown", "is_distributed", "rank", "world_size", "is_main", "barrier",
    "all_gather_with_grad", "all_gather_no_grad", "all_reduce_sum_with_grad", "all_reduce_mean",
    "reduce_metrics", "broadcast", "shard_rows",
]
