"""Instance discrimination (Wu et al. 2018): a memory bank of every image's feature, ``negatives``
drawn per step, NCE or softmax ``loss`` at ``temperature``, bank entries updated with ``bank_momentum``."""

from __future__ import annotations

from archssl.catalog.methods.base import MethodInfo, head
from archssl.params import choice, integer, number


INFO = MethodInfo("instdisc", "archssl.methods.instdisc:InstDisc", pretext_metric="contrastive_top1",
                  batch_inputs=("indices",), params={
    "negatives": integer(4096, ge=1), "temperature": number(0.07, gt=0), "loss": choice("nce", ("nce", "softmax")),
    "bank_momentum": number(0.5, ge=0, lt=1), "head": head(kind="linear", out=128)})
