"""The supervised baseline: cross-entropy on the labels of its own (labelled) pretraining set.
``num_classes`` null: the dataset's."""

from __future__ import annotations

from archssl.catalog.methods.base import MethodInfo
from archssl.params import integer, number


INFO = MethodInfo("supervised", "archssl.methods.supervised:Supervised", pretext_metric="train_top1",
                  batch_inputs=("labels",), params={
    "num_classes": integer(None, ge=2, null=True), "label_smoothing": number(0.0, ge=0, lt=1)})
