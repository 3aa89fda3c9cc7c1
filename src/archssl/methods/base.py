"""The SSL-method extension point.

A method wraps a backbone (``archssl.archs.build``) and owns everything else it trains (projection head,
momentum encoder, queue, memory bank, classifier...). The training loop calls
:meth:`SSLMethod.training_step` on a batch of ``uint8`` images and gets back the loss and the method's own
pretext metric, so the analysis can relate pretext accuracy to downstream accuracy.

Contract with the loop (``archssl.train.loop``):

1. ``method = METHODS.get(name)(backbone, method_params)``: unknown ``method_params`` keys are errors
   (:attr:`SSLMethod.defaults` lists the known ones with their defaults); :data:`RESERVED_KEYS` are
   allowed for every method and not read by it: ``augment`` (per-method augmentation overrides, merged over
   ``pretrain.augment`` by the loop), ``optimizer`` / ``epochs`` / ``precision`` (replace
   ``pretrain.optimizer`` / ``pretrain.epochs`` / ``pretrain.precision`` for this method, applied by the loop)
   and ``dataset`` / ``split`` (the set this method pretrains on instead of ``data.pretrain`` /
   ``data.pretrain_split``, read by the workflow: e.g. a labelled set for ``supervised``).
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

from archssl.registry import Registry
from archssl.utils import deep_merge

#: method_params keys every method accepts without reading them (see the contract above)
#: the pretrain keys a method's params (or a variant's) may set for that method alone (a schedule knob of the
#: ablations: e.g. cosine off, or SimCLR's negatives K = 2 x batch_size - 2)
PRETRAIN_OVERRIDES = ("optimizer", "epochs", "precision", "batch_size", "warmup_epochs", "final_lr", "cosine")
RESERVED_KEYS = ("augment", "dataset", "split", *PRETRAIN_OVERRIDES)


class SSLMethod(nn.Module):
    #: False for baselines that are not trained (random initialisation)
    trains: bool = True
    #: name of the pretext metric the method reports in metrics.csv (first key of the metrics dict)
    pretext_metric: str = "pretext_acc"
    #: trained on patches (method_params hold the :class:`archssl.methods.patches.PatchConfig` keys):
    #: ``features.patch_eval: patch_average`` evaluates it on the mean of its patch representations
    patch_based: bool = False
    #: per-batch inputs passed to training_step as keyword arguments: subset of ("labels", "indices")
    batch_inputs: tuple[str, ...] = ()
    #: the method_params keys the method reads, with their defaults (:data:`RESERVED_KEYS` are always allowed)
    defaults: dict[str, Any] = {}

    def __init__(self, backbone: nn.Module, cfg: dict[str, Any]):
        super().__init__()
        self.backbone = backbone
        cfg = dict(cfg or {})
        unknown = sorted(set(cfg) - set(self.defaults) - set(RESERVED_KEYS))
        for k in RESERVED_KEYS:
            if k != "augment":
                cfg.pop(k, None)
        if unknown:
            known = ", ".join(sorted(self.defaults)) or "(none)"
            raise ValueError(f"pretrain.method_params.{self.method_name()}: unknown key {unknown[0]!r}; known: {known}")
        self.cfg = deep_merge(self.defaults, cfg)

    @classmethod
    def method_name(cls) -> str:
        for name, obj in METHODS.items():
            if obj is cls:
                return name
        return cls.__name__.lower()

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


METHODS: Registry[type[SSLMethod]] = Registry("SSL method")
