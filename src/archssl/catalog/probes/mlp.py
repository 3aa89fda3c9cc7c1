"""A one-hidden-layer MLP on frozen features, trained as :mod:`.sgd_linear` (selected on val by default)."""

from __future__ import annotations

from archssl.catalog.probes.base import ProbeInfo
from archssl.catalog.probes.sgd_linear import SGD_PARAMS
from archssl.params import choice, integer

INFO = ProbeInfo("mlp", "archssl.evaluate.probes.sgd:MLPProbe", params={
    **SGD_PARAMS, "hidden": integer(1024, ge=1), "selection": choice("val", ("cv", "val"))})
