"""SimCLR (Chen et al. 2020): NT-Xent over the (global) batch. ``temperature`` divides the cosine
similarities; ``head`` is the projection head."""

from __future__ import annotations

from archssl.catalog.methods.base import MethodInfo, head
from archssl.params import number


INFO = MethodInfo("simclr", "archssl.methods.simclr:SimCLR", pretext_metric="contrastive_top1", params={
    "temperature": number(0.5, gt=0), "head": head(kind="mlp", hidden=2048, out=128, bn=True)})
