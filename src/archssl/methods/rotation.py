"""Rotation prediction (RotNet, Gidaris et al. 2018), as in the Revisiting study: 4-way classification of
the rotation {0, 90, 180, 270} degrees applied to an augmented view.

``mode: all`` (RotNet and the Revisiting study): every image appears in all four rotations, so a
batch of N images gives 4N examples with labels 0, 1, 2, 3. ``mode: random``: one rotation per image, drawn
uniformly. Label r means ``torch.rot90(view, r, dims=(2, 3))`` (r quarter turns counter-clockwise). The
classifier is a linear layer on the backbone features (the network's logits layer in the Revisiting code);
``head`` may put another head before it (none in the papers; on the 32-px mini suite a 2-layer
MLP head kept the backbone's last layer from specialising to the pretext, see config/studies/mini_methods.yaml).

method_params: ``mode`` (all | random), ``head``; their defaults are the descriptor's,
:mod:`archssl.catalog.methods.rotation`, and the method receives them resolved. Pretext metric
``rotation_acc``.
Views need square crops (the loop's are ``image_size`` x ``image_size``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from archssl.methods.base import SSLMethod
from archssl.methods.common import top1
from archssl.methods.heads import head_from_cfg


def rot90(x: torch.Tensor, r: int) -> torch.Tensor:
    """Rotate (N, C, H, W) by r quarter turns counter-clockwise (as torch.rot90(x, r, (2, 3)))."""
    r %= 4
    if r == 0:
        return x
    if r == 1:
        return x.transpose(2, 3).flip(2)
    if r == 2:
        return x.flip(2).flip(3)
    return x.transpose(2, 3).flip(3)


def rotate_all(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """All four rotations of every image: (4N, C, H, W) grouped by rotation, and labels (4N,)."""
    n = x.shape[0]
    xs = torch.cat([rot90(x, r) for r in range(4)])
    labels = torch.arange(4, device=x.device).repeat_interleave(n)
    return xs, labels


def rotate_random(x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Rotate image i by ``labels[i]`` quarter turns."""
    out = torch.empty_like(x)
    for r in range(4):
        idx = torch.nonzero(labels == r).flatten()
        if len(idx):
            out.index_copy_(0, idx, rot90(x.index_select(0, idx), r))
    return out


class Rotation(SSLMethod):
    def __init__(self, backbone, cfg, info=None):
        super().__init__(backbone, cfg, info)
        self.mode = str(self.cfg["mode"])
        self.head, dim = head_from_cfg(self.cfg["head"], backbone.out_dim, {},
                                       "method_params.rotation.head")
        self.classifier = nn.Linear(dim, 4)

    def training_step(self, images, augment, **inputs):
        v = augment(images)
        if v.shape[-1] != v.shape[-2]:
            raise ValueError(f"rotation needs square views, got {tuple(v.shape[-2:])}")
        if self.mode == "all":
            x, y = rotate_all(v)
        else:
            y = torch.randint(0, 4, (v.shape[0],), device=v.device)
            x = rotate_random(v, y)
        logits = self.classifier(self.head(self.backbone(x))).float()
        loss = F.cross_entropy(logits, y)
        return loss, {self.pretext_metric: float(top1(logits.detach(), y))}
