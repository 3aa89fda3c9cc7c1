"""The SSL-method extension point.

A method wraps a backbone (``archssl.archs.build``) and owns everything else it trains (projection head,
momentum encoder, queue, memory bank, classifier...). The training loop calls
:meth:`SSLMethod.training_step` on a batch of ``uint8`` images and gets back the loss and the method's own
pretext metric, so the analysis can relate pretext accuracy to downstream accuracy.

Contract with the loop (``archssl.train.loop``):

1. ``method = METHODS.get(name)(backbone, method_params)``: the descriptor (:mod:`archssl.catalog.methods`)
   fills the defaults of ``method_params`` and validates them (unknown keys, types and ranges raise
   :class:`archssl.params.ParamError`) and hands them, resolved, to the implementation, which reads them
   as ``self.cfg`` and does not resolve them again (the defaults are written in the descriptor alone). The
   reserved keys (augment, dataset, split and the pretrain overrides) are resolved by the planner
   (:mod:`archssl.plan`), never seen here.
2. ``method.setup(dataset)`` once, before the model moves to the device and before the optimiser and the
   checkpoint are loaded: methods whose state depends on the pretraining set (InstDisc's memory bank, the
   supervised classifier's class count) create it here.
3. Per step: ``method.on_step_start(step, total_steps)``, then
   ``loss, metrics = method.training_step(images, augment, **inputs)`` where ``inputs`` holds the per-batch
   extras the method asks for in :attr:`SSLMethod.batch_inputs` (``labels``: the dataset targets,
   ``indices``: each image's index in the pretraining set), then the optimiser step, then
   ``method.after_step()`` (momentum encoders, queues, memory banks).
4. ``metrics`` is a dict whose first key is :attr:`SSLMethod.pretext_metric` (tables take the first
   non-standard metrics.csv column as the pretext metric).

State: every tensor a method keeps across steps (queues, banks, momentum encoders, counters) is a
parameter or a registered buffer, so ``state_dict`` (and therefore ``checkpoint.pt``) carries it and a
resumed run continues bit-for-bit. Randomness inside a method uses torch's global generator, which the loop
reseeds from (seed, epoch) at the start of every epoch.

``augment(x_uint8)`` returns a normalised augmented view ``(N, 3, S, S)`` with fresh per-sample parameters
(:class:`archssl.train.augment.ViewMaker`); patch-based methods build their own inputs from the raw images
(and may use ``augment.generator``).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from archssl.catalog.methods import MethodInfo, info_of


class SSLMethod(nn.Module):
    """The base of every implementation; its metadata (``trains``, ``pretext_metric``, ``patch_based``,
    ``batch_inputs``) and its resolved ``cfg`` come from its :class:`~archssl.catalog.methods.base.MethodInfo`."""

    def __init__(self, backbone: nn.Module, cfg: dict[str, Any], info: MethodInfo | None = None):
        """``cfg``: the method's resolved ``method_params`` (every key, defaults filled in: build a method
        through its descriptor, ``METHODS.get(name)(backbone, params)``, which resolves them)."""
        super().__init__()
        self.info = info or info_of(type(self))
        self.backbone = backbone
        self.cfg = cfg

    @property
    def trains(self) -> bool:
        return self.info.trains

    @property
    def pretext_metric(self) -> str:
        return self.info.pretext_metric

    @property
    def patch_based(self) -> bool:
        return self.info.patch_based

    @property
    def batch_inputs(self) -> tuple[str, ...]:
        return self.info.batch_inputs

    @classmethod
    def method_name(cls) -> str:
        return info_of(cls).name

    def setup(self, dataset) -> None:
        """Called once with the pretraining dataset before training (and before a checkpoint is loaded)."""

    def on_step_start(self, step: int, total_steps: int) -> None:
        """Called before every training step with the global step index and the run's total steps."""

    def training_step(self, images: torch.Tensor, augment: Callable[[torch.Tensor], torch.Tensor], **inputs
                      ) -> tuple[torch.Tensor, dict[str, float]]:
        """``images``: uint8 batch (N, 3, H, W) on the device; ``augment`` maps it to a normalised view.
        Returns the loss and a dict of metrics (first key: ``pretext_metric``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement training_step")

    def after_step(self) -> None:
        """Hook after each optimiser step (momentum encoders, queues)."""
