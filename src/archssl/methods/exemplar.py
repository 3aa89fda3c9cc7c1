"""Exemplar (Dosovitskiy et al. 2014) as in the Revisiting study: every image is its own class; ``copies``
independently augmented views of each image are embedded and trained with the triplet loss with
semi-hard negative mining (``margin``), the loss of the study's code (TensorFlow's
``triplet_semihard_loss``):

for every anchor a and positive p (same image, p != a), with squared Euclidean distances d:
the negative is the closest one farther than the positive, ``min {d(a, n) : d(a, n) > d(a, p)}``, or, when
no negative is farther, the farthest negative ``max_n d(a, n)``; the pair's loss is
``max(0, margin + d(a, p) - d(a, n*))``; the loss is the mean over all (anchor, positive) pairs.

Embeddings: a linear layer to ``head.out`` (the study's ``embed_dim``) on the backbone features, L2
normalised per embedding (the study's code normalises along the batch axis, ``l2_normalize(axis=0)``,
which we take for a slip and do not copy). Batch: ``pretrain.batch_size`` images give ``copies`` x as many
views. The study's views were Inception crops, flips, colour distortion and grayscale with p = 0.66
(``method_params.exemplar.augment: {grayscale_p: 0.66}`` reproduces the last; the others come from
``pretrain.augment``).

method_params: ``copies``, ``margin``, ``head``; their defaults (the study's) are the descriptor's,
:mod:`archssl.catalog.methods.exemplar`, and the method receives them resolved.
Pretext metric ``exemplar_nn_acc``: how often a view's nearest other view comes from the same image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from archssl.methods.base import SSLMethod
from archssl.methods.common import full_precision
from archssl.methods.heads import head_from_cfg


@full_precision
def pairwise_sq_dist(e: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances (N, N), clamped at 0, with an exact zero diagonal (TF's pairwise_distance)."""
    sq = (e * e).sum(1)
    d = (sq[:, None] + sq[None, :] - 2 * e @ e.t()).clamp(min=0)
    return d * (1 - torch.eye(len(e), device=e.device, dtype=e.dtype))


@full_precision
def triplet_semihard_loss(emb: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """Triplet loss with semi-hard negatives (see the module docstring), vectorised: each anchor's negative
    distances are sorted once and the semi-hard negative of every positive is found by binary search."""
    emb = emb.float()
    d = pairwise_sq_dist(emb)
    same = labels[:, None] == labels[None, :]
    neg_mask = ~same
    n_neg = neg_mask.sum(1)  # negatives per anchor
    if bool((n_neg == 0).any()):
        raise ValueError("triplet_semihard_loss: an anchor has no negative (a single label in the batch)")
    inf = torch.tensor(float("inf"), device=d.device)
    neg_sorted = torch.where(neg_mask, d, inf).sort(dim=1).values  # (N, N), +inf padding at the end
    # first negative strictly farther than d(a, p): searchsorted with right=True on the sorted negatives
    pos_idx = torch.searchsorted(neg_sorted.detach().contiguous(), d.detach().contiguous(), right=True)
    has = pos_idx < n_neg[:, None]
    outside = neg_sorted.gather(1, pos_idx.clamp(max=d.shape[1] - 1))
    inside = neg_sorted.gather(1, (n_neg - 1)[:, None]).expand_as(d)  # farthest negative
    semi = torch.where(has, outside, inside)
    pos_mask = same & ~torch.eye(len(d), dtype=torch.bool, device=d.device)
    loss = (margin + d - semi).clamp(min=0)
    num = pos_mask.sum()
    if int(num) == 0:
        raise ValueError("triplet_semihard_loss: no positive pairs (every label appears once)")
    return (loss * pos_mask).sum() / num


@full_precision
def nn_accuracy(emb: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    d = pairwise_sq_dist(emb.float())
    d.fill_diagonal_(float("inf"))
    return (labels[d.argmin(1)] == labels).float().mean()


class Exemplar(SSLMethod):
    def __init__(self, backbone, cfg, info=None):
        super().__init__(backbone, cfg, info)
        self.copies = int(self.cfg["copies"])
        self.margin = float(self.cfg["margin"])
        self.head, _ = head_from_cfg(self.cfg["head"], backbone.out_dim, {},
                                     "method_params.exemplar.head")

    def training_step(self, images, augment, **inputs):
        n = images.shape[0]
        views = torch.cat([augment(images) for _ in range(self.copies)])
        labels = torch.arange(n, device=views.device).repeat(self.copies)
        emb = F.normalize(self.head(self.backbone(views)).float(), dim=1)
        loss = triplet_semihard_loss(emb, labels, self.margin)
        return loss, {self.pretext_metric: float(nn_accuracy(emb.detach(), labels))}
