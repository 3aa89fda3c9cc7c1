"""Multi-process (DistributedDataParallel) primitives for pretraining.

One process per device, started by ``torchrun`` (which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``). Every function here also works with no process group at all (a plain
``python`` run, or ``WORLD_SIZE=1``): it then takes the single-process code path: the identity, or exactly
the computation the methods do today; so the training loop calls these functions unconditionally.

Conventions
-----------
*Batches.* ``pretrain.batch_size`` B stays the **global** batch (the learning-rate scaling uses it). With W
processes rank r handles the contiguous rows ``[r B/W, (r+1) B/W)`` of every global batch
(:func:`shard_order`), so the rows gathered in rank order (:func:`all_gather_with_grad`) are the global batch
in its single-process order, and rank r's BN group in ``split_forward`` is the single-process emulation's
r-th chunk. B must be divisible by W.

*Losses and gradient scale.* Each rank's loss is the mean over its **local** anchors (queries, samples);
with equal local batch sizes the mean of the W local losses is the single-process loss over the global
batch: ``L = (1/W) sum_r L_r``. Every differentiable collective here (:func:`all_gather_with_grad`, the
all-reduces inside :class:`AllReduceSyncBatchNorm`, like torch's SyncBatchNorm) returns in backward the
gradient of the **sum** of all ranks' losses with respect to this rank's input,
``d(sum_r' L_r') / dx_r = W dL / dx_r``. DDP then **averages** the weight gradients over ranks, so each rank
holds ``(1/W) sum_r d(sum_r' L_r')/dtheta|_r = dL/dtheta``: the gradient of the single-process mean loss
over the global batch. W processes x B/W images therefore give the same weight gradients as 1 process x B
images (up to float32 reduction order), which ``tests/test_distributed.py`` checks for SimCLR, MoCo v2
and BYOL.

*Randomness.* The loop seeds torch's global generator identically on every rank, from (seed, epoch). Any
draw a primitive makes (the shuffle permutation of :func:`batch_shuffle`) is made on every rank, so the
ranks' generators stay in lockstep, and rank 0's draw is broadcast (the authoritative one): runs are
deterministic and resumable as in one process. Per-sample random parameters (augmentations) are drawn for
the whole global batch and sliced (:class:`ShardedViewMaker`), so they equal the single-process ones.

*BatchNorm.* Per-rank BN statistics make W processes differ from one; :func:`convert_sync_batchnorm` gives
BN over the global batch: torch's :class:`torch.nn.SyncBatchNorm` on CUDA; on CPU (gloo), where torch 2.14's
SyncBatchNorm refuses to run ("SyncBatchNorm expected input tensor to be on GPU or XPU or privateuseone"),
:class:`AllReduceSyncBatchNorm`, the same statistics from two differentiable all-reduces. MoCo's
*shuffling BN* keeps per-rank BN on purpose (:func:`shuffled_key_forward`); it equals the single-process
``bn_splits`` emulation with ``bn_splits`` = the number of BN groups in the global batch.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from archssl.methods.common import full_precision, split_forward
from archssl.train.augment import AugmentParams, ViewMaker, apply, sample_params

#: device types torch's own SyncBatchNorm accepts (torch 2.14: nn/modules/batchnorm.py); others get
#: :class:`AllReduceSyncBatchNorm`
TORCH_SYNCBN_DEVICES = ("cuda", "hpu", "xpu")


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


# --------------------------------------------------------------------------------------------------------
# SimCLR


@full_precision
def nt_xent_global(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """SimCLR's NT-Xent where this rank's 2n local views are the anchors and all 2N views of the global
    batch (N = n W, gathered with :func:`all_gather_with_grad`) are the candidates: each anchor's positive
    is its partner view, itself is excluded, the other 2N - 2 views are its negatives; as
    :func:`archssl.methods.simclr.nt_xent` over the global batch.

    Returns (loss, contrastive top-1), both means over the local anchors; with equal local batches their
    means over ranks equal ``nt_xent`` of the global batch. Gradient (module docstring): z_r receives the
    gradient of ``sum_r L_r`` = W x the gradient of the global mean loss; DDP's averaging makes the weight
    gradients those of the single-process loss. Without a process group: exactly ``nt_xent(z1, z2, t)``."""
    from archssl.methods.simclr import nt_xent

    if not is_distributed():
        return nt_xent(z1, z2, temperature)
    n = z1.shape[0]
    local = F.normalize(torch.cat([z1, z2]).float(), dim=1)  # (2n, D): this rank's z1 rows, then its z2 rows
    everyone = all_gather_with_grad(local)  # (2N, D), rank-major: [z1_0, z2_0, z1_1, z2_1, ...]
    sim = local @ everyone.t() / temperature
    own = rank() * 2 * n + torch.arange(2 * n, device=sim.device)  # each anchor's own column
    partner = rank() * 2 * n + (torch.arange(2 * n, device=sim.device) + n) % (2 * n)
    sim = sim.masked_fill(F.one_hot(own, sim.shape[1]).bool(), float("-inf"))
    loss = F.cross_entropy(sim, partner)
    acc = (sim.argmax(1) == partner).float().mean()
    return loss, acc


# --------------------------------------------------------------------------------------------------------
# MoCo: shuffling BN across ranks, queue consistency


@torch.no_grad()
def batch_shuffle(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """MoCo's cross-rank batch shuffle: gather the global batch, permute it with ``torch.randperm`` of the
    global size (drawn on ``x.device`` from torch's global generator on every rank, so the generators stay
    in lockstep; rank 0's draw is broadcast), and return this rank's contiguous chunk of the permuted batch
    with ``idx_unshuffle`` (the inverse permutation, the same on every rank) for :func:`batch_unshuffle`.

    The rank's chunk is rows ``perm[r n:(r+1) n]`` of the global batch: what the single-process emulation
    ``split_forward(enc, x[perm], W)`` feeds to its r-th BN group with the same ``perm``.
    World size 1: ``(x, arange(n))``, the identity, and no random number is drawn (as ``MoCo.key`` with
    ``bn_splits: 1``)."""
    if not is_distributed():
        return x, torch.arange(x.shape[0], device=x.device)
    everyone = all_gather_no_grad(x)
    perm = broadcast(torch.randperm(everyone.shape[0], device=x.device), src=0)
    n, r = x.shape[0], rank()
    return everyone[perm[r * n:(r + 1) * n]], torch.argsort(perm)


@torch.no_grad()
def batch_unshuffle(x: torch.Tensor, idx_unshuffle: torch.Tensor) -> torch.Tensor:
    """Undo :func:`batch_shuffle`: gather the (encoded) shuffled chunks and return this rank's rows of the
    global batch in their original order, ``cat(chunks)[idx_unshuffle][r n:(r+1) n]``. Detached.
    World size 1: ``x[idx_unshuffle]`` (``x`` itself for the identity index of :func:`batch_shuffle`)."""
    if not is_distributed():
        return x.detach()[idx_unshuffle]
    n, r = x.shape[0], rank()
    return all_gather_no_grad(x)[idx_unshuffle[r * n:(r + 1) * n]]


def local_bn_splits(bn_splits: int) -> int:
    """The per-rank ``split_forward`` count for ``bn_splits`` BN groups over the **global** batch.

    World size 1: ``bn_splits``. W > 1: 1 stays 1 (one BN over the global batch: the model must have been
    converted by :func:`convert_sync_batchnorm`); otherwise ``bn_splits`` must be a multiple of W (each rank
    holds ``bn_splits / W`` of the groups, which are then exactly the single-process emulation's chunks)."""
    w = world_size()
    if w == 1 or bn_splits <= 1:
        return max(1, bn_splits)
    if bn_splits % w:
        raise ValueError(f"bn_splits={bn_splits} BN groups over the global batch must be a multiple of the "
                         f"{w} processes (or 1 with SyncBatchNorm)")
    return bn_splits // w


@torch.no_grad()
def shuffled_key_forward(encoder: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                         bn_splits: int = 1) -> torch.Tensor:
    """MoCo's key-encoder forward with shuffling BN, ``bn_splits`` = BN groups over the global batch.

    World size 1: exactly ``MoCo.key``'s current body: ``encoder(x)`` for ``bn_splits <= 1``, else
    ``perm = randperm(n)``, ``split_forward(encoder, x[perm], bn_splits)``, un-permuted.
    W > 1, ``bn_splits`` a multiple of W (per-rank BN, the MoCo reference for ``bn_splits = W``): the keys
    are shuffled across ranks (:func:`batch_shuffle`), encoded in ``bn_splits / W`` local groups and
    unshuffled: the same permutation, the same BN groups and the same keys as the single-process emulation
    with ``bn_splits`` (tested). W > 1, ``bn_splits = 1``: ``encoder(x)`` (with SyncBN, global statistics,
    which a shuffle cannot change). No gradient."""
    if not is_distributed():
        if bn_splits <= 1:
            return encoder(x)
        perm = torch.randperm(x.shape[0], device=x.device)
        return split_forward(encoder, x[perm], bn_splits)[torch.argsort(perm)]
    if bn_splits <= 1:
        return encoder(x)
    xs, idx_unshuffle = batch_shuffle(x)
    return batch_unshuffle(split_forward(encoder, xs, local_bn_splits(bn_splits)), idx_unshuffle)


def gather_keys(k: torch.Tensor) -> torch.Tensor:
    """The keys of the global batch in rank order (= single-process batch order), detached, for
    ``KeyQueue.enqueue``: every rank enqueues the same keys in the same order, so all queues stay identical
    (and equal to the single-process queue). World size 1: ``k.detach()``."""
    return all_gather_no_grad(k)


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


# --------------------------------------------------------------------------------------------------------
# BatchNorm over the global batch, DDP


class AllReduceSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm with statistics over the samples of all ranks, for devices where torch's SyncBatchNorm does
    not run (CPU/gloo in torch 2.14). Same parameters, buffers and ``state_dict`` keys as ``BatchNorm*d``.

    Training with a process group of W > 1: per channel, a differentiable all-reduce of (sum, count) gives
    the global mean, a second one of the centred sum of squares the global biased variance (two passes:
    no cancellation); ``y = (x - mean) / sqrt(var + eps) * weight + bias`` in float32 (output in the input's
    dtype); running mean and unbiased running variance (``var * C / (C - 1)``, C = the global count) are
    updated with ``momentum`` (cumulative average when None), as ``BatchNorm`` over the concatenated batch.
    Gradients flow to every rank's input through the all-reduces (backward sums over ranks: the gradient of
    the sum of the ranks' losses, as torch's SyncBatchNorm). Otherwise (eval mode, one process): plain
    ``BatchNorm``. Inputs (N, C, *) of any rank >= 2; ranks may hold different N."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and is_distributed()):
            return super().forward(x)
        self._check_input_dim(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        dims = [0, *range(2, x.dim())]
        shape = [1, x.shape[1]] + [1] * (x.dim() - 2)
        xf = x.float()
        local_count = xf.new_full((1,), x.numel() // max(1, x.shape[1]))
        sums = all_reduce_sum_with_grad(torch.cat([xf.sum(dims), local_count]))
        count = sums[-1].detach()
        mean = sums[:-1] / count
        centred = xf - mean.view(shape)
        var = all_reduce_sum_with_grad((centred * centred).sum(dims)) / count
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.weight is not None:
            y = y * self.weight.float().view(shape)
        if self.bias is not None:
            y = y + self.bias.float().view(shape)
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                unbiased = var.detach() * count / (count - 1).clamp(min=1)
                self.running_mean.mul_(1 - factor).add_(mean.detach().to(self.running_mean.dtype), alpha=factor)
                self.running_var.mul_(1 - factor).add_(unbiased.to(self.running_var.dtype), alpha=factor)
        return y.to(x.dtype)


SYNC_BN_TYPES = (nn.SyncBatchNorm, AllReduceSyncBatchNorm)


def _to_allreduce_bn(module: nn.Module) -> nn.Module:
    out = module
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, SYNC_BN_TYPES):
        out = AllReduceSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                     module.track_running_stats)
        out.weight, out.bias = module.weight, module.bias  # the same Parameter objects (the optimiser's)
        out.running_mean, out.running_var = module.running_mean, module.running_var
        out.num_batches_tracked = module.num_batches_tracked
        out.training = module.training
    for name, child in module.named_children():
        out.add_module(name, _to_allreduce_bn(child))
    return out


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """BatchNorm over the global batch: every ``BatchNorm*d`` of ``module`` replaced by a synchronised one
    sharing its parameters and buffers (``state_dict`` keys unchanged; convert after moving the model to its
    device, before building DDP). On CUDA/HPU/XPU: ``torch.nn.SyncBatchNorm.convert_sync_batchnorm``; on
    CPU: :class:`AllReduceSyncBatchNorm` (torch 2.14's SyncBatchNorm raises on CPU tensors), which computes
    the same statistics. World size 1: ``module`` itself, unchanged."""
    if not is_distributed():
        return module
    tensors = [*module.parameters(), *module.buffers()]
    dev = tensors[0].device.type if tensors else "cpu"
    if dev in TORCH_SYNCBN_DEVICES:
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _to_allreduce_bn(module)


def has_sync_batchnorm(module: nn.Module) -> bool:
    """True when ``module`` holds a synchronised BN (:data:`SYNC_BN_TYPES`)."""
    return any(isinstance(m, SYNC_BN_TYPES) for m in module.modules())


class StepForward(nn.Module):
    """``forward(*args, **kw) = step(method, *args, **kw)`` (default ``method.training_step``), so that DDP,
    which only synchronises gradients of a backward that follows its own ``forward``, can run a method's
    training step. ``self.method`` is the unwrapped method (its ``state_dict`` is the checkpoint's)."""

    def __init__(self, method: nn.Module, step: Callable[..., Any] | None = None):
        super().__init__()
        self.method = method
        self._step = step

    def forward(self, *args, **kw):
        if self._step is None:
            return self.method.training_step(*args, **kw)
        return self._step(self.method, *args, **kw)


def wrap_ddp(method: nn.Module, device: torch.device | str | None = None, step: Callable[..., Any] | None = None,
             **ddp_kwargs) -> nn.Module:
    """A callable module running ``method``'s training step: ``loss, metrics = wrapped(images, augment,
    **inputs)``, followed by ``loss.backward()`` as usual.

    W > 1: ``DistributedDataParallel(StepForward(method, step))``, ``device_ids=[device.index]`` on CUDA,
    ``forward_sync_buffers=False`` (buffers are broadcast from rank 0 once, at construction; afterwards
    they stay consistent by construction: SyncBN running statistics come from global statistics, MoCo's
    queue from gathered keys, EMA targets from identical weights; with MoCo's per-rank shuffle BN each rank
    keeps its own running statistics, rank 0's are the ones saved), and ``ddp_kwargs`` (e.g.
    ``find_unused_parameters=True`` for a method that leaves parameters without gradient). DDP averages
    the weight gradients over ranks (see the module docstring for why that gives the single-process
    gradient). Frozen parameters (momentum encoders) are broadcast at construction and never reduced.
    World size 1: ``StepForward(method, step)``, a plain call of the step."""
    wrapped = StepForward(method, step)
    if not is_distributed():
        return wrapped
    kw: dict[str, Any] = {"forward_sync_buffers": False, **ddp_kwargs}
    if device is not None and torch.device(device).type == "cuda":
        kw.setdefault("device_ids", [torch.device(device).index])
    return nn.parallel.DistributedDataParallel(wrapped, **kw)


# --------------------------------------------------------------------------------------------------------
# data order and augmentations


def local_batch_size(batch_size: int, world_size: int | None = None) -> int:
    """The per-rank batch ``B / W`` of the global batch ``B`` (which must be divisible by W)."""
    w = _group_size() if world_size is None else world_size
    if batch_size % w:
        raise ValueError(f"pretrain.batch_size={batch_size} must be divisible by the {w} processes")
    return batch_size // w


def shard_order(order: torch.Tensor, batch_size: int, rank: int | None = None,
                world_size: int | None = None) -> torch.Tensor:
    """This rank's share of an epoch's global order (a permutation of the dataset, which the loop derives
    from (seed, epoch)), in step order: global batch i is ``order[i B:(i+1) B]`` and rank r takes its
    **contiguous** slice ``[r B/W, (r+1) B/W)``; so a ``DataLoader`` over the returned indices with
    ``batch_size = B/W`` gives rank r at step i exactly its rows of the 1-process batch i, and the W ranks
    together exactly that batch. The trailing partial global batch is dropped (the loop's ``drop_last``).
    Contiguous, not strided like ``torch.utils.data.DistributedSampler``: so that gathering in rank order
    reproduces the single-process batch order (NT-Xent's candidates, MoCo's queue order, ``split_forward``'s
    chunks). ``rank``/``world_size`` default to the process group's. World size 1: ``order`` itself."""
    r = _group_rank() if rank is None else rank
    w = _group_size() if world_size is None else world_size
    if w == 1:
        return order
    b = local_batch_size(batch_size, w)
    steps = len(order) // batch_size
    return order[:steps * batch_size].view(steps, w, b)[:, r].reshape(-1)


def _slice_params(p: AugmentParams, lo: int, hi: int, n: int) -> AugmentParams:
    def cut(v):
        return v[lo:hi] if torch.is_tensor(v) and v.dim() > 0 and v.shape[0] == n else v

    out = {f.name: cut(getattr(p, f.name)) for f in dataclasses.fields(p) if f.name != "extra"}
    return AugmentParams(**out, extra={k: cut(v) for k, v in p.extra.items()})


class ShardedViewMaker(ViewMaker):
    """A :class:`~archssl.train.augment.ViewMaker` for rank r of W: called on the rank's n local images it
    draws the per-sample parameters for the whole global batch of n W images (the same generator stream,
    seeded per epoch, on every rank) and applies rows ``[r n, (r+1) n)``; so each view equals the rows of
    the single-process view of the global batch (the augmentation is per sample), and the generator
    advances as in one process. ``rank``/``world_size`` default to the process group's.

    Whole-image batches (``for_sizes(sizes)`` with the rank's (n, 2) original sizes): the crop of each image
    depends only on its own size and its own draws (:func:`~archssl.train.augment.sample_crop_boxes_per_image`
    is row-wise), so the other ranks' rows are drawn with the canvas size as a stand-in and discarded; the
    rank's rows equal those of the single-process batch with all sizes. World size 1: ``ViewMaker``'s own
    path."""

    def __init__(self, cfg, size: int, generator: torch.Generator | None = None,
                 memory_format: torch.memory_format = torch.contiguous_format,
                 rank: int | None = None, world_size: int | None = None):
        super().__init__(cfg, size, generator, memory_format)
        self.rank = _group_rank() if rank is None else rank
        self.world_size = _group_size() if world_size is None else world_size

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        if self.world_size == 1:
            return super().raw(x)
        with torch.autocast(device_type=x.device.type, enabled=False):
            if x.dtype == torch.uint8:
                x = x.float().div_(255.0)
            n, (h, w) = x.shape[0], x.shape[-2:]
            total = n * self.world_size
            lo, hi = self.rank * n, (self.rank + 1) * n
            sizes = getattr(self, "sizes", None)
            if sizes is None:
                p = sample_params(self.cfg, total, h, w, self.generator)
            else:
                if len(sizes) != n:
                    raise ValueError(f"sizes holds {len(sizes)} image sizes for a local batch of {n}")
                everyone = torch.tensor([[float(h), float(w)]], dtype=torch.float64).repeat(total, 1)
                everyone[lo:hi] = torch.as_tensor(sizes, dtype=torch.float64).cpu()
                p = sample_params(self.cfg, total, h, w, self.generator, sizes=everyone)
            p = _slice_params(p, lo, hi, total)
            return apply(x, p, self.size, self.cfg.blur_kernel_frac)


__all__ = [
    "init_from_env", "shutdown", "is_distributed", "rank", "world_size", "is_main", "barrier",
    "all_gather_with_grad", "all_gather_no_grad", "all_reduce_sum_with_grad", "all_reduce_mean",
    "reduce_metrics", "broadcast", "nt_xent_global", "batch_shuffle", "batch_unshuffle", "local_bn_splits",
    "shuffled_key_forward", "gather_keys", "shard_rows", "AllReduceSyncBatchNorm", "SYNC_BN_TYPES",
    "convert_sync_batchnorm", "has_sync_batchnorm", "StepForward", "wrap_ddp", "local_batch_size",
    "shard_order", "ShardedViewMaker", "TORCH_SYNCBN_DEVICES",
]
