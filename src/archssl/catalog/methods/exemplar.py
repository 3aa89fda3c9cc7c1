"""Exemplar (Dosovitskiy et al. 2014), as in Kolesnikov et al. 2019: ``copies`` views per image, triplet loss
with ``margin``."""

from __future__ import annotations

from archssl.catalog.methods.base import MethodInfo, head
from archssl.params import integer, number


INFO = MethodInfo("exemplar", "archssl.methods.exemplar:Exemplar", pretext_metric="exemplar_nn_acc", params={
    "copies": integer(8, ge=2), "margin": number(0.5, ge=0), "head": head(kind="linear", out=1000)})
