"""Rotation prediction (Gidaris et al. 2018): 4-way, every rotation of each image (``mode: all``) or one
at random."""

from __future__ import annotations

from archssl.catalog.methods.base import MethodInfo, head
from archssl.params import choice


INFO = MethodInfo("rotation", "archssl.methods.rotation:Rotation", pretext_metric="rotation_acc", params={
    "mode": choice("all", ("all", "random")), "head": head(kind="none")})
