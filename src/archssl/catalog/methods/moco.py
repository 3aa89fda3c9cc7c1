"""MoCo v2 (Chen et al. 2020): momentum key encoder, a FIFO queue of ``queue_size`` keys, InfoNCE with
``temperature``; shuffle BN over ``bn_splits`` groups; optional hard-negative mining (``hard_*``).
MoCo v1 is ``head: {kind: linear}, temperature: 0.07``."""

from __future__ import annotations

from archssl.catalog.methods.base import MethodInfo, head
from archssl.params import ParamError, boolean, integer, number


def check(p: dict, ctx: dict, where: str) -> None:
    b = int(ctx["batch_size"])
    if p["queue_size"] < b:
        raise ParamError(f"config key '{where}.queue_size': {p['queue_size']} is smaller than the batch ({b}): "
                         f"every step would overwrite the whole queue with its own keys")
    if b % p["bn_splits"]:
        raise ParamError(f"config key '{where}.bn_splits': {p['bn_splits']} does not divide the batch ({b})")


INFO = MethodInfo("moco", "archssl.methods.moco:MoCo", pretext_metric="contrastive_top1", check=check, params={
    "queue_size": integer(65536, ge=1), "momentum": number(0.999, ge=0, lt=1), "temperature": number(0.2, gt=0),
    "head": head(kind="mlp", hidden=2048, out=128, bn=False), "symmetric": boolean(False),
    "bn_splits": integer(1, ge=1), "hard_negatives": boolean(False), "hard_skew": number(4.0),
    "hard_loc": number(0.0), "hard_scale": number(0.2, gt=0)})
