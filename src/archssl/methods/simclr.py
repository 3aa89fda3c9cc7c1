"""SimCLR (Chen et al. 2020): two augmented views, projection head, NT-Xent over the batch.

method_params: ``temperature`` (0.5), ``head`` ({kind: mlp, hidden: 2048, out: 128, bn: true}).
The number of negatives is set by the batch: K = 2 (batch_size - 1) per view. In several processes the
batch is the global one: each process's views are contrasted with the views of all processes, gathered with
their gradients (:func:`archssl.train.distributed.nt_xent_global`), as one process over the global batch.
Pretext metric ``contrastive_top1``: how often a view's partner is its most similar among the other 2N - 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from archssl.methods.base import SSLMethod
from archssl.methods.common import full_precision
from archssl.methods.heads import head_from_cfg
from archssl.train import distributed as D


@full_precision
def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
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


class SimCLR(SSLMethod):
    def __init__(self, backbone, cfg, info=None):
        super().__init__(backbone, cfg, info)
        self.head, _ = head_from_cfg(self.cfg["head"], backbone.out_dim, {}, "method_params.simclr.head")
        self.temperature = float(self.cfg["temperature"])

    def training_step(self, images, augment, **inputs):
        v1, v2 = augment(images), augment(images)
        z = self.head(self.backbone(torch.cat([v1, v2])))
        z1, z2 = z.chunk(2)
        loss, acc = D.nt_xent_global(z1, z2, self.temperature)  # one process: nt_xent(z1, z2)
        return loss, {self.pretext_metric: float(acc)}
