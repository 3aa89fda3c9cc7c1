"""A linear classifier trained by SGD with momentum, its weight decay chosen by cross-validation or on val
(:mod:`archssl.evaluate.probes.sgd`)."""

from __future__ import annotations

from archssl.catalog.probes.base import ProbeInfo
from archssl.params import boolean, choice, integer, list_of, number

#: the SGD probes' parameters (the MLP probe adds its hidden width)
SGD_PARAMS = {
    "epochs": integer(100, ge=1), "batch_size": integer(256, ge=1), "lr": number(0.1, gt=0),
    "momentum": number(0.9, ge=0, lt=1), "nesterov": boolean(True),
    "weight_decays": list_of({"type": "number", "minimum": 0}, [0.0, 1e-5, 1e-4, 1e-3]),
    "selection": choice("cv", ("cv", "val")), "folds": integer(3, ge=2), "standardize": boolean(True)}

INFO = ProbeInfo("sgd_linear", "archssl.evaluate.probes.sgd:SGDLinearProbe", params=SGD_PARAMS)
