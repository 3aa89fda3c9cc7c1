"""BYOL (Grill et al. 2020): online projector and predictor, EMA target with ``tau_base`` on a
``tau_schedule``."""

from __future__ import annotations

from archssl.catalog.methods.base import MethodInfo, head
from archssl.params import choice, number


INFO = MethodInfo("byol", "archssl.methods.byol:BYOL", pretext_metric="cosine_sim", params={
    "tau_base": number(0.996, ge=0, le=1), "tau_schedule": choice("cosine", ("cosine", "constant")),
    "projector": head(kind="mlp", hidden=4096, out=256, bn=True),
    "predictor": head(out=False, kind="mlp", hidden=4096, bn=True)})
