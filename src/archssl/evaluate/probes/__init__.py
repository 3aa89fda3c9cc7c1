"""Probes on frozen features: a registry of classifiers with one ``fit_evaluate`` API.

>>> from archssl.evaluate.probes import make_probe
>>> probe = make_probe("lbfgs_logreg", num_l2=45)
>>> result = probe.fit_evaluate(train=(Xtr, ytr), val=(Xva, yva), test=(Xte, yte), num_classes=K,
...                             metric="top1")   # doctest: +SKIP

Registered probes (:data:`PROBES`): ``lbfgs_logreg`` (the standard protocol), ``sgd_linear``, ``mlp``,
``knn``. :func:`fit_many` fits several taps/files in one process. Result keys: :data:`RESULT_KEYS` plus
probe-specific extras (``num_classes``, ``multilabel``, ``val_source``, ``device``, ``source``).
"""

from . import metrics
from .base import PROBES, RESULT_KEYS, Probe, ProbeConfigError, ProbeData, ProbeInputError, make_probe
from .knn import KNNProbe, knn_scores
from .lbfgs import C_to_l2, LBFGSLogReg, LogRegSolver, fit_logreg, l2_grid, l2_to_C
from .many import fit_many
from .sgd import MLPProbe, SGDLinearProbe, kfold_indices, train_sgd

__all__ = [
    "PROBES", "RESULT_KEYS", "Probe", "ProbeConfigError", "ProbeData", "ProbeInputError", "make_probe", "metrics",
    "KNNProbe", "knn_scores", "C_to_l2", "LBFGSLogReg", "LogRegSolver", "fit_logreg", "l2_grid", "l2_to_C",
    "fit_many", "MLPProbe", "SGDLinearProbe", "kfold_indices", "train_sgd",
]
