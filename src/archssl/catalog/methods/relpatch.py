"""Relative patch location (Doersch et al. 2015): 8-way position of a neighbour patch on a 3 x 3 grid."""

from __future__ import annotations

from archssl.catalog.methods.base import MethodInfo, head
from archssl.catalog.methods.patches import PATCH_PARAMS, check_patches
from archssl.params import integer, number


INFO = MethodInfo("relpatch", "archssl.methods.relpatch:RelativePatchLocation", pretext_metric="rpl_acc",
                  patch_based=True, check=check_patches, params={
    "hidden": integer(4096, ge=1), "dropout": number(0.5, ge=0, lt=1), "head": head(kind="linear", out=1000),
    **PATCH_PARAMS, "grid": {**PATCH_PARAMS["grid"], "enum": [3],
                             "description": "the 8-way task is defined on a 3 x 3 grid"}})
