"""SimCLR (Chen et al. 2020): two augmented views, projection head, NT-Xent over the batch.

method_params: ``temperature`` and ``head`` (their defaults: the descriptor,
:mod:`archssl.catalog.methods.simclr`); the method receives them resolved.
The number of negatives is set by the batch: K = 2 (batch_size - 1) per view. In several processes the
batch is the global one: each process's views are contrasted with the views of all processes, gathered with
their gradients (:func:`nt_xent_global`), as one process over the global batch.
Pretext metric ``contrastive_top1``: how often a view's partner is its most similar among the other 2N - 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from archssl import distributed as D
from archssl.methods.base import SSLMethod
from archssl.methods.common import full_precision
from archssl.methods.heads import head_from_cfg


@full_precision
def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """NT-Xent over 2N views: each view's positive is its pair, the other 2N - 2 views are negatives.

    Returns the mean loss and the contrastive top-1 accuracy (positive ranked first among 2N - 1)."""
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    n = z1.shape[0]
    sim = z @ z.t() / temperature
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    loss = F.cross_entropy(sim, target)
    acc = (sim.argmax(1) == target).float().mean()
    return loss, acc


@full_precision
def nt_xent_global(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """SimCLR's NT-Xent where this rank's 2n local views are the anchors and all 2N views of the global
    batch (N = n W, gathered with :func:`archssl.distributed.all_gather_with_grad`) are the candidates: each
    anchor's positive is its partner view, itself is excluded, the other 2N - 2 views are its negatives; as
    :func:`nt_xent` over the global batch.

    Returns (loss, contrastive top-1), both means over the local anchors; with equal local batches their
    means over ranks equal ``nt_xent`` of the global batch. Gradient (:mod:`archssl.distributed`): z_r
    receives the gradient of ``sum_r L_r`` = W x the gradient of the global mean loss; DDP's averaging makes
    the weight gradients those of the single-process loss. Without a process group: exactly
    ``nt_xent(z1, z2, temperature)``."""
    if not D.is_distributed():
        return nt_xent(z1, z2, temperature)
    n = z1.shape[0]
    local = F.normalize(torch.cat([z1, z2]).float(), dim=1)  # (2n, D): this rank's z1 rows, then its z2 rows
    everyone = D.all_gather_with_grad(local)  # (2N, D), rank-major: [z1_0, z2_0, z1_1, z2_1, ...]
    sim = local @ everyone.t() / temperature
    own = D.rank() * 2 * n + torch.arange(2 * n, device=sim.device)  # each anchor's own column
    partner = D.rank() * 2 * n + (torch.arange(2 * n, device=sim.device) + n) % (2 * n)
    sim = sim.masked_fill(F.one_hot(own, sim.shape[1]).bool(), float("-inf"))
    loss = F.cross_entropy(sim, partner)
    acc = (sim.argmax(1) == partner).float().mean()
    return loss, acc


class SimCLR(SSLMethod):
    def __init__(self, backbone, cfg, info=None):
        super().__init__(backbone, cfg, info)
        self.head, _ = head_from_cfg(self.cfg["head"], backbone.out_dim, {}, "method_params.simclr.head")
        self.temperature = float(self.cfg["temperature"])

    def training_step(self, images, augment, **inputs):
        v1, v2 = augment(images), augment(images)
        z = self.head(self.backbone(torch.cat([v1, v2])))
        z1, z2 = z.chunk(2)
        loss, acc = nt_xent_global(z1, z2, self.temperature)  # one process: nt_xent(z1, z2, temperature)
        return loss, {self.pretext_metric: float(acc)}
