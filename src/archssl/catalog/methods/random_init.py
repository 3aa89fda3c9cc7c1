"""The untrained baseline: random initialisation, BatchNorm statistics estimated on the pretraining set
(the honesty table's reference). No parameters."""

from __future__ import annotations

from archssl.catalog.methods.base import MethodInfo


INFO = MethodInfo("random", "archssl.methods.random_init:RandomInit", pretext_metric="none", trains=False)
