"""The supervised baseline: the backbone and a linear classifier trained with cross-entropy on the
pretraining set's labels (one augmented view per image), then probed like every SSL method.

It needs a labelled pretraining set: the mini suite's ``pool`` has no labels (every target is -1), so give
the supervised run its own labelled set with ``pretrain.method_params.supervised.dataset`` (and ``split``,
default ``train``) while the SSL methods keep ``data.pretrain``; in the mini suite, e.g.
``dataset: photo_source`` (its train split). Config validation stops a supervised run whose pretraining set
has no labels, naming the key. The class count comes from ``num_classes`` or, when null, from the dataset's
labels (``dataset.labels`` / ``dataset.targets``, else a pass over the items).

Augmentation: ``pretrain.augment`` merged with ``method_params.supervised.augment``; the usual supervised
recipe is crop + flip only: ``augment: {jitter_p: 0, grayscale_p: 0, blur_p: 0}`` (the Good-practices study
compares contrastive vs supervised augmentation strengths, which is this knob).

method_params: ``num_classes`` (null: from the labels), ``label_smoothing``; their defaults are the
descriptor's, :mod:`archssl.catalog.methods.supervised`, and the method receives them resolved (the
reserved ``dataset`` / ``split`` / ``augment`` are the planner's, :mod:`archssl.methods.base`).
Pretext metric ``train_top1``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from archssl.methods.base import SSLMethod
from archssl.methods.common import top1


def dataset_labels(dataset) -> torch.Tensor:
    for attr in ("labels", "targets"):
        t = getattr(dataset, attr, None)
        if t is not None:
            return torch.as_tensor(t)
    if isinstance(dataset, torch.utils.data.Subset):
        return dataset_labels(dataset.dataset)[torch.as_tensor(dataset.indices)]
    return torch.as_tensor([int(dataset[i][1]) for i in range(len(dataset))])


class Supervised(SSLMethod):
    def __init__(self, backbone, cfg, info=None):
        super().__init__(backbone, cfg, info)
        self.label_smoothing = float(self.cfg["label_smoothing"])
        self.classifier: nn.Module | None = None
        if self.cfg["num_classes"] is not None:
            self.classifier = nn.Linear(backbone.out_dim, int(self.cfg["num_classes"]))

    def setup(self, dataset) -> None:
        labels = dataset_labels(dataset)
        if labels.dim() != 1:
            raise ValueError("supervised: multi-label pretraining sets are not supported")
        if len(labels) and int(labels.min()) < 0:
            raise ValueError("supervised needs a labelled pretraining set, but its targets include -1 (unlabelled, "
                             "e.g. the mini suite's 'pool'); set pretrain.method_params.supervised.dataset to a "
                             "labelled dataset")
        k = int(labels.max()) + 1 if len(labels) else 0
        if self.classifier is None:
            self.classifier = nn.Linear(self.backbone.out_dim, k)
        elif k > self.classifier.out_features:
            raise ValueError(f"supervised: labels go up to {k - 1} but num_classes is {self.classifier.out_features}")

    def training_step(self, images, augment, labels=None, **inputs):
        if labels is None:
            raise ValueError("supervised needs labels")
        if self.classifier is None:
            raise RuntimeError("supervised: num_classes unknown (set method_params.supervised.num_classes "
                               "or call setup)")
        labels = labels.to(images.device).long()
        if bool((labels < 0).any()):
            raise ValueError("supervised: batch holds unlabelled images (target -1)")
        logits = self.classifier(self.backbone(augment(images))).float()
        loss = F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
        return loss, {self.pretext_metric: float(top1(logits.detach(), labels))}
