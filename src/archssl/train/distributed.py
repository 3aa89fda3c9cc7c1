"""The training side of multi-process (DistributedDataParallel) pretraining: BatchNorm over the global
batch, the DDP wrapper of a method's training step, and each rank's share of the data order and of the
augmented views. The collectives and the conventions they follow (global batch, contiguous rank rows,
gradient scale, randomness in lockstep) are :mod:`archssl.distributed`'s; the methods' own distributed math
(SimCLR's NT-Xent over the global batch, MoCo's shuffling BN and queue) is in their modules.
Every function here also works with no process group (a plain ``python`` run, or ``WORLD_SIZE=1``): it
then takes the single-process path, so the training loop calls them unconditionally.

*Batches.* With W processes rank r trains the contiguous rows ``[r B/W, (r+1) B/W)`` of every global batch
of B (:func:`shard_order`), so the rows gathered in rank order are the global batch in its single-process
order, and rank r's BN group in ``split_forward`` (:mod:`archssl.methods.moco`) is the single-process
emulation's r-th chunk. B must be divisible by W (:func:`local_batch_size`).

*Randomness.* Per-sample random parameters (augmentations) are drawn for the whole global batch and sliced
(:class:`ShardedViewMaker`), so they equal the single-process ones.

*BatchNorm.* Per-rank BN statistics make W processes differ from one; :func:`convert_sync_batchnorm` gives
BN over the global batch: torch's :class:`torch.nn.SyncBatchNorm` on CUDA; on CPU (gloo), where torch 2.14's
SyncBatchNorm refuses to run ("SyncBatchNorm expected input tensor to be on GPU or XPU or privateuseone"),
:class:`AllReduceSyncBatchNorm`, the same statistics from two differentiable all-reduces. MoCo's
*shuffling BN* keeps per-rank BN on purpose (:func:`archssl.methods.moco.shuffled_key_forward`); it equals
the single-process ``bn_splits`` emulation with ``bn_splits`` = the number of BN groups in the global batch.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import torch
from torch import nn

from archssl import distributed as D
from archssl.train.augment import AugmentParams, ViewMaker, apply, sample_params

#: device types torch's own SyncBatchNorm accepts (torch 2.14: nn/modules/batchnorm.py); others get
#: :class:`AllReduceSyncBatchNorm`
TORCH_SYNCBN_DEVICES = ("cuda", "hpu", "xpu")


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
        if not (self.training and D.is_distributed()):
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
        sums = D.all_reduce_sum_with_grad(torch.cat([xf.sum(dims), local_count]))
        count = sums[-1].detach()
        mean = sums[:-1] / count
        centred = xf - mean.view(shape)
        var = D.all_reduce_sum_with_grad((centred * centred).sum(dims)) / count
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
    if not D.is_distributed():
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
    the weight gradients over ranks (:mod:`archssl.distributed` says why that gives the single-process
    gradient). Frozen parameters (momentum encoders) are broadcast at construction and never reduced.
    World size 1: ``StepForward(method, step)``, a plain call of the step."""
    wrapped = StepForward(method, step)
    if not D.is_distributed():
        return wrapped
    kw: dict[str, Any] = {"forward_sync_buffers": False, **ddp_kwargs}
    if device is not None and torch.device(device).type == "cuda":
        kw.setdefault("device_ids", [torch.device(device).index])
    return nn.parallel.DistributedDataParallel(wrapped, **kw)


# --------------------------------------------------------------------------------------------------------
# data order and augmentations


def local_batch_size(batch_size: int, world_size: int | None = None) -> int:
    """The per-rank batch ``B / W`` of the global batch ``B`` (which must be divisible by W)."""
    w = D.world_size() if world_size is None else world_size
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
    r = D.rank() if rank is None else rank
    w = D.world_size() if world_size is None else world_size
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
        self.rank = D.rank() if rank is None else rank
        self.world_size = D.world_size() if world_size is None else world_size

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
    "AllReduceSyncBatchNorm", "SYNC_BN_TYPES", "convert_sync_batchnorm", "has_sync_batchnorm", "StepForward",
    "wrap_ddp", "local_batch_size", "shard_order", "ShardedViewMaker", "TORCH_SYNCBN_DEVICES",
]
