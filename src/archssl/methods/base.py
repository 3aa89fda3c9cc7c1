"""The SSL-method extension point.

A method wraps a backbone (``archssl.archs.build``) and owns everything else it trains (projection head,
momentum encoder, queue, ...). The training loop calls :meth:`SSLMethod.training_step` on a batch of
``uint8`` images and gets back the loss and the method's own pretext metric, so the analysis can relate
pretext accuracy to downstream accuracy.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from archssl.registry import Registry


class SSLMethod(nn.Module):
    #: False for baselines that are not trained (random initialisation)
    trains: bool = True
    #: name of the pretext metric the method reports in metrics.csv
    pretext_metric: str = "pretext_acc"

    def __init__(self, backbone: nn.Module, cfg: dict[str, Any]):
        super().__init__()
        self.backbone = backbone
        self.cfg = dict(cfg)

    def training_step(self, images: torch.Tensor, augment: Callable[[torch.Tensor], torch.Tensor]
                      ) -> tuple[torch.Tensor, dict[str, float]]:
        """``images``: uint8 batch (N, 3, H, W) on the device; ``augment`` maps it to a normalised view.
        Returns the loss and a dict of metrics (at least ``pretext_metric``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement training_step")

    def after_step(self) -> None:
        """Hook after each optimiser step (momentum encoders, queues)."""


METHODS: Registry[type[SSLMethod]] = Registry("SSL method")
