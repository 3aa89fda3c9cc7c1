"""Jigsaw (Noroozi & Favaro 2016): 3x3 patches, ``num_permutations`` classes of maximal Hamming distance,
``perms_per_image`` per image; the patch geometry of :mod:`archssl.catalog.methods.patches`."""

from __future__ import annotations

from archssl.catalog.methods.base import MethodInfo, head
from archssl.catalog.methods.patches import PATCH_PARAMS, check_patches
from archssl.params import integer, number


INFO = MethodInfo("jigsaw", "archssl.methods.jigsaw:Jigsaw", pretext_metric="jigsaw_acc", patch_based=True,
                  check=check_patches, params={
    "num_permutations": integer(100, ge=2), "perms_per_image": integer(8, ge=1), "hidden": integer(4096, ge=1),
    "dropout": number(0.5, ge=0, lt=1), "head": head(kind="linear", out=1000), "permutation_seed": integer(0, ge=0),
    **PATCH_PARAMS})
