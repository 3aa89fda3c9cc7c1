"""MoCo v2 (He et al. 2020; Chen et al. 2020): a query encoder, a momentum key encoder (backbone and head),
and a FIFO queue of K keys as negatives; InfoNCE with a temperature.

Per step: two views; ``q = normalize(head(backbone(v1)))``, ``k = normalize(key_head(key_backbone(v2)))``
(no gradient); logits ``[q.k, q.queue^T] / T`` with the positive at index 0; cross-entropy. After the
optimiser step the key encoder moves by EMA (``momentum``) and the batch's keys replace the oldest in the
queue. ``symmetric: true`` also contrasts (v2 as query, v1 as key), averages the two losses and enqueues
both key batches (as in MoCo's CIFAR demo).

Hard-negative mining (Good-practices study, section 4): per query, the queue is sorted by cosine similarity
to the query (hardest first) and K negatives are drawn from it with replacement at ranks
``floor(|Y| K)`` (clamped to K - 1), ``Y ~ skew-normal(a = hard_skew, loc = hard_loc, scale = hard_scale)``
with loc and scale in units of the queue length: a right-skewed distribution whose mass sits on the hard
and semi-hard negatives, thinning out toward the easy ones. The number of negatives stays K.

``bn_splits: G`` emulates MoCo's shuffling BN on one device (:func:`split_forward`): both encoders run on G
sub-batches (BN statistics per sub-batch, as on G devices) and the key batch is permuted before the split
and restored after, so a query and its key never share BN statistics. 1 = one BN over the whole batch.

Several processes (:mod:`archssl.distributed`'s collectives; SyncBatchNorm and DDP:
:mod:`archssl.train.distributed`): ``bn_splits`` counts BN groups over the global batch (a multiple of the
number of processes; 1 = SyncBatchNorm over the global batch); the key batch is shuffled across processes
before the key encoder (:func:`shuffled_key_forward`: MoCo's shuffling BN for real) and unshuffled after;
every process enqueues the keys of the global batch in its order (:func:`gather_keys`), so the queues stay
identical (and equal to one process's); hard-negative ranks are drawn for the global batch and each process
takes its queries' rows.

method_params: ``queue_size``, ``momentum``, ``temperature``, ``head``, ``symmetric``, ``bn_splits``,
``hard_negatives``, ``hard_skew``, ``hard_loc``, ``hard_scale``; their defaults (MoCo v2's) are the
descriptor's, :mod:`archssl.catalog.methods.moco`, and the method receives them resolved.
MoCo v1 is ``head: {kind: linear}, temperature: 0.07`` (and no blur, no cosine in ``pretrain``).

Pretext metric ``contrastive_top1``: how often the positive key scores above every key in the (whole) queue.
"""

from __future__ import annotations

import logging
import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from archssl import distributed as D
from archssl.methods.base import SSLMethod
from archssl.methods.common import ema_update, frozen_copy, full_precision
from archssl.methods.heads import head_from_cfg

log = logging.getLogger("archssl.pretrain")


# --------------------------------------------------------------------------------------------------------
# the queue, shuffling BN and its emulation, the keys of the global batch


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


def split_forward(module: nn.Module, x: torch.Tensor, splits: int) -> torch.Tensor:
    """``module`` on ``splits`` equal sub-batches (BatchNorm statistics per sub-batch, as on ``splits`` devices)."""
    if splits <= 1:
        return module(x)
    if x.shape[0] % splits:
        raise ValueError(f"bn_splits={splits} must divide the batch ({x.shape[0]})")
    return torch.cat([module(c) for c in x.chunk(splits)])


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
    if not D.is_distributed():
        return x, torch.arange(x.shape[0], device=x.device)
    everyone = D.all_gather_no_grad(x)
    perm = D.broadcast(torch.randperm(everyone.shape[0], device=x.device), src=0)
    n, r = x.shape[0], D.rank()
    return everyone[perm[r * n:(r + 1) * n]], torch.argsort(perm)


@torch.no_grad()
def batch_unshuffle(x: torch.Tensor, idx_unshuffle: torch.Tensor) -> torch.Tensor:
    """Undo :func:`batch_shuffle`: gather the (encoded) shuffled chunks and return this rank's rows of the
    global batch in their original order, ``cat(chunks)[idx_unshuffle][r n:(r+1) n]``. Detached.
    World size 1: ``x[idx_unshuffle]`` (``x`` itself for the identity index of :func:`batch_shuffle`)."""
    if not D.is_distributed():
        return x.detach()[idx_unshuffle]
    n, r = x.shape[0], D.rank()
    return D.all_gather_no_grad(x)[idx_unshuffle[r * n:(r + 1) * n]]


def local_bn_splits(bn_splits: int) -> int:
    """The per-rank ``split_forward`` count for ``bn_splits`` BN groups over the **global** batch.

    World size 1: ``bn_splits``. W > 1: 1 stays 1 (one BN over the global batch: the model must have been
    converted by :func:`archssl.train.distributed.convert_sync_batchnorm`); otherwise ``bn_splits`` must be a
    multiple of W (each rank holds ``bn_splits / W`` of the groups, which are then exactly the single-process
    emulation's chunks)."""
    w = D.world_size()
    if w == 1 or bn_splits <= 1:
        return max(1, bn_splits)
    if bn_splits % w:
        raise ValueError(f"bn_splits={bn_splits} BN groups over the global batch must be a multiple of the "
                         f"{w} processes (or 1 with SyncBatchNorm)")
    return bn_splits // w


@torch.no_grad()
def shuffled_key_forward(encoder: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                         bn_splits: int) -> torch.Tensor:
    """MoCo's key-encoder forward with shuffling BN, ``bn_splits`` = BN groups over the global batch.

    World size 1: ``encoder(x)`` for ``bn_splits <= 1``, else ``perm = randperm(n)``,
    ``split_forward(encoder, x[perm], bn_splits)``, un-permuted.
    W > 1, ``bn_splits`` a multiple of W (per-rank BN, the MoCo reference for ``bn_splits = W``): the keys
    are shuffled across ranks (:func:`batch_shuffle`), encoded in ``bn_splits / W`` local groups and
    unshuffled: the same permutation, the same BN groups and the same keys as the single-process emulation
    with ``bn_splits`` (tested). W > 1, ``bn_splits = 1``: ``encoder(x)`` (with SyncBN, global statistics,
    which a shuffle cannot change). No gradient."""
    if not D.is_distributed():
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
    return D.all_gather_no_grad(k)


# --------------------------------------------------------------------------------------------------------
# the loss


@full_precision
def info_nce_queue(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float,
                   negatives: torch.Tensor | None = None, hard: tuple[float, float, float] | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """InfoNCE of unit queries ``q`` (N, D) against their unit keys ``k`` (N, D) and the queue (K, D).

    ``negatives`` (N, M), when given, replaces the negative similarities ``q @ queue^T`` in the loss;
    ``hard = (skew, loc, scale)`` replaces them by skew-normal hard-negative samples of the queue
    (:func:`sample_hard_negatives`). The accuracy is always over the whole queue.
    Returns (mean loss, top-1 of the positive)."""
    l_pos = (q * k).sum(1, keepdim=True)
    l_neg = q @ queue.t()
    acc = (l_pos[:, 0] > l_neg.max(1).values).float().mean()
    neg = l_neg if negatives is None else negatives
    if hard is not None:
        neg = sample_hard_negatives(l_neg, *hard)
    logits = torch.cat([l_pos, neg], 1) / temperature
    loss = F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))
    return loss, acc


def skewnorm_sample(shape, a: float, loc: float, scale: float, generator=None, device=None) -> torch.Tensor:
    """Samples of the skew-normal distribution (scipy.stats.skewnorm(a, loc, scale)):
    ``loc + scale (delta |U0| + sqrt(1 - delta^2) U1)``, ``delta = a / sqrt(1 + a^2)``, U0, U1 ~ N(0, 1)."""
    delta = a / math.sqrt(1.0 + a * a)
    u0 = torch.randn(shape, generator=generator, device=device)
    u1 = torch.randn(shape, generator=generator, device=device)
    return loc + scale * (delta * u0.abs() + math.sqrt(1.0 - delta * delta) * u1)


def hard_negative_ranks(n: int, k: int, a: float, loc: float, scale: float, num: int | None = None,
                        generator=None, device=None) -> torch.Tensor:
    """(n, num) ranks in [0, k): ``floor(|Y| k)`` clamped to k - 1 with Y skew-normal (loc, scale in queue lengths)."""
    y = skewnorm_sample((n, num or k), a, loc, scale, generator, device)
    return (y.abs() * k).floor().clamp_(max=k - 1).long()


def sample_hard_negatives(l_neg: torch.Tensor, a: float, loc: float, scale: float, num: int | None = None,
                          generator=None) -> torch.Tensor:
    """Sort each row of ``l_neg`` (N, K) by similarity, hardest first, and draw ``num`` (default K) entries at
    skew-normal ranks (:func:`hard_negative_ranks`). Differentiable in ``l_neg``."""
    srt = l_neg.sort(dim=1, descending=True).values
    ranks = hard_negative_ranks(l_neg.shape[0], l_neg.shape[1], a, loc, scale, num, generator, l_neg.device)
    return srt.gather(1, ranks)


@full_precision
def _global_hard_negatives(q: torch.Tensor, queue: torch.Tensor, a: float, loc: float, scale: float) -> torch.Tensor:
    """:func:`sample_hard_negatives` of this process's queries with the skew-normal ranks drawn for the whole
    global batch (the same draws on every process) and cut to this process's rows: the negatives one process
    draws for these queries."""
    l_neg = q @ queue.t()
    srt = l_neg.sort(dim=1, descending=True).values
    n_global = l_neg.shape[0] * D.world_size()
    ranks = D.shard_rows(hard_negative_ranks(n_global, l_neg.shape[1], a, loc, scale, device=l_neg.device))
    return srt.gather(1, ranks)


class MoCo(SSLMethod):
    def __init__(self, backbone, cfg, info=None):
        super().__init__(backbone, cfg, info)
        c = self.cfg
        self.head, dim = head_from_cfg(c["head"], backbone.out_dim, {},
                                       "method_params.moco.head")
        self.key_backbone = frozen_copy(self.backbone)
        self.key_head = frozen_copy(self.head)
        self.queue = KeyQueue(int(c["queue_size"]), dim)
        self.momentum = float(c["momentum"])
        self.temperature = float(c["temperature"])
        self.symmetric = bool(c["symmetric"])
        self.bn_splits = int(c["bn_splits"])
        self.hard = bool(c["hard_negatives"])
        self.hard_params = (float(c["hard_skew"]), float(c["hard_loc"]), float(c["hard_scale"]))
        self._pending: list[torch.Tensor] = []

    def setup(self, dataset) -> None:
        if dataset is not None and len(self.queue) > len(dataset):
            log.warning(
                "moco queue_size %d exceeds the %d pretraining images: the queue holds several keys of one image",
                len(self.queue), len(dataset))

    def query(self, x):
        return F.normalize(split_forward(lambda v: self.head(self.backbone(v)), x,
                                         local_bn_splits(self.bn_splits)).float(), dim=1)

    @torch.no_grad()
    def key(self, x):
        enc = lambda v: self.key_head(self.key_backbone(v))  # noqa: E731
        # one process: encoder(x), or (bn_splits > 1) permute, split_forward, unpermute
        return F.normalize(shuffled_key_forward(enc, x, self.bn_splits).float(), dim=1)

    def contrast(self, q, k):
        if self.hard and D.is_distributed():
            return info_nce_queue(q, k, self.queue.keys, self.temperature,
                                  negatives=_global_hard_negatives(q, self.queue.keys, *self.hard_params))
        return info_nce_queue(q, k, self.queue.keys, self.temperature, hard=self.hard_params if self.hard else None)

    def training_step(self, images, augment, **inputs):
        v1, v2 = augment(images), augment(images)
        q1, k2 = self.query(v1), self.key(v2)
        loss, acc = self.contrast(q1, k2)
        keys = [k2]
        if self.symmetric:
            q2, k1 = self.query(v2), self.key(v1)
            loss2, acc2 = self.contrast(q2, k1)
            loss, acc = (loss + loss2) / 2, (acc + acc2) / 2
            keys.append(k1)
        self._pending = [gather_keys(k) for k in keys]  # the global batch's keys (one process: keys)
        return loss, {self.pretext_metric: float(acc)}

    @torch.no_grad()
    def after_step(self) -> None:
        ema_update(self.key_backbone, self.backbone, self.momentum)
        ema_update(self.key_head, self.head, self.momentum)
        for k in self._pending:
            self.queue.enqueue(k)
        self._pending = []
