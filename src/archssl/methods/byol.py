"""BYOL (Grill et al. 2020): the non-contrastive reference. An online network (backbone, projector,
predictor) predicts the projection of the other view made by a target network (backbone, projector) whose
weights are an exponential moving average of the online ones. No negatives.

Loss, symmetrised over the two views: ``L = (2 - 2 cos(p1, z2')) + (2 - 2 cos(p2, z1'))`` averaged over the
batch, with ``p = predictor(projector(backbone(v)))`` and ``z'`` from the target network (no gradient).
Target update after every optimiser step: ``xi <- tau xi + (1 - tau) theta`` with
``tau = 1 - (1 - tau_base) (cos(pi k / K) + 1) / 2`` (k = step, K = total steps; ``tau_schedule: cosine``)
or ``tau = tau_base`` (``constant``).

method_params: ``tau_base``, ``tau_schedule`` (cosine | constant), ``projector`` and ``predictor`` (heads; the
predictor's output width is the projector's); their defaults are the descriptor's,
:mod:`archssl.catalog.methods.byol`, and the method receives them resolved.

Pretext metric ``cosine_sim``: the mean cosine similarity between the online prediction and the target
projection (1 = perfect prediction). BYOL has no classification pretext task, so no accuracy is reported.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from archssl.methods.base import SSLMethod
from archssl.methods.common import ema_update, frozen_copy, full_precision
from archssl.methods.heads import head_from_cfg


@full_precision
def byol_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Per-sample ``|| p/|p| - z/|z| ||^2 = 2 - 2 cos(p, z)`` (z carries no gradient)."""
    p = F.normalize(p.float(), dim=1)
    z = F.normalize(z.detach().float(), dim=1)
    return 2 - 2 * (p * z).sum(1)


def tau_at(step: int, total: int, tau_base: float, schedule: str) -> float:
    if schedule == "constant" or total <= 0:
        return tau_base
    return 1 - (1 - tau_base) * (math.cos(math.pi * min(step, total) / total) + 1) / 2


class BYOL(SSLMethod):
    def __init__(self, backbone, cfg, info=None):
        super().__init__(backbone, cfg, info)
        c = self.cfg
        self.projector, dim = head_from_cfg(c["projector"], backbone.out_dim, {},
                                            "method_params.byol.projector")
        pred_cfg = dict(c["predictor"])
        self.predictor, _ = head_from_cfg(pred_cfg, dim, {"out": dim},
                                          "method_params.byol.predictor")
        self.target_backbone = frozen_copy(self.backbone)
        self.target_projector = frozen_copy(self.projector)
        self.tau_base = float(c["tau_base"])
        self.tau_schedule = str(c["tau_schedule"])
        self.tau = self.tau_base

    def on_step_start(self, step, total_steps):
        # the EMA after step k uses tau_k (the BYOL paper's schedule, k = the step just taken)
        self.tau = tau_at(step, total_steps, self.tau_base, self.tau_schedule)

    def training_step(self, images, augment, **inputs):
        v = torch.cat([augment(images), augment(images)])
        p1, p2 = self.predictor(self.projector(self.backbone(v))).chunk(2)
        with torch.no_grad():
            z1, z2 = self.target_projector(self.target_backbone(v)).chunk(2)
        l12, l21 = byol_loss(p1, z2), byol_loss(p2, z1)
        loss = (l12 + l21).mean()
        cos = 1 - (l12.detach() + l21.detach()).mean() / 4
        return loss, {self.pretext_metric: float(cos)}

    @torch.no_grad()
    def after_step(self) -> None:
        ema_update(self.target_backbone, self.backbone, self.tau)
        ema_update(self.target_projector, self.projector, self.tau)
