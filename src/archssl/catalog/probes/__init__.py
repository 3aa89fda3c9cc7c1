"""The probes' descriptors (:class:`~archssl.catalog.probes.base.ProbeInfo`), one module per probe,
registered in :data:`PROBES`; the implementations live in :mod:`archssl.evaluate.probes`.

``lbfgs_logreg`` (the standard protocol), ``sgd_linear``, ``mlp``, ``knn``. Adding a probe is one module here
(its ``INFO``), its implementation, and one entry in :data:`BUILTIN`.
"""

from __future__ import annotations

from archssl.catalog.probes import knn, lbfgs_logreg, mlp, sgd_linear
from archssl.catalog.probes.base import (COMMON_PARAMS, EXECUTION_PARAMS, PROBES, ProbeConfigError, ProbeInfo,
                                         register_probe)

#: the built-in probes' descriptor modules
BUILTIN = (lbfgs_logreg, sgd_linear, mlp, knn)
for _module in BUILTIN:
    register_probe(_module.INFO)

__all__ = ["COMMON_PARAMS", "EXECUTION_PARAMS", "PROBES", "ProbeConfigError", "ProbeInfo", "register_probe"]
