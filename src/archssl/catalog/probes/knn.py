"""Temperature-weighted cosine kNN (Wu et al. 2018): ``k`` neighbours, votes ``exp(s / temperature)``; lists
of values are all scored on val (:mod:`archssl.evaluate.probes.knn`)."""

from __future__ import annotations

from archssl.catalog.probes.base import ProbeInfo
from archssl.params import one_or_list

INFO = ProbeInfo("knn", "archssl.evaluate.probes.knn:KNNProbe", params={
    "k": one_or_list({"type": "integer", "minimum": 1}, 200),
    "temperature": one_or_list({"type": "number", "exclusiveMinimum": 0}, 0.07)})
