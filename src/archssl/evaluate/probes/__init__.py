"""Probes on frozen features: a registry of classifiers with one ``fit_evaluate`` API.

>>> from archssl.evaluate.probes import make_probe
>>> probe = make_probe("lbfgs_logreg", num_l2=45)
>>> result = probe.fit_evaluate(train=(Xtr, ytr), val=(Xva, yva), test=(Xte, yte), num_classes=K,
...                             metric="top1")   # doctest: +SKIP

Registered probes (:data:`PROBES`, torch-free descriptors in :mod:`.info`): ``lbfgs_logreg`` (the standard
protocol), ``sgd_linear``, ``mlp``, ``knn``. :func:`fit_many` fits several taps/files in one process. Result
keys: :data:`RESULT_KEYS` plus probe-specific extras (``num_classes``, ``multilabel``, ``val_source``,
``device``, ``source``). The implementations (and torch) are imported on first use of a name below.
"""

from .info import EXECUTION_PARAMS, PROBES, ProbeConfigError, ProbeInfo, register_probe

#: lazily imported names -> their module
_LAZY = {
    "metrics": None,
    "RESULT_KEYS": "base", "Probe": "base", "ProbeData": "base", "ProbeInputError": "base", "make_probe": "base",
    "Standardizer": "base",
    "KNNProbe": "knn", "knn_scores": "knn",
    "C_to_l2": "lbfgs", "LBFGSLogReg": "lbfgs", "LogRegSolver": "lbfgs", "fit_logreg": "lbfgs", "l2_grid": "lbfgs",
    "l2_to_C": "lbfgs",
    "fit_many": "many",
    "MLPProbe": "sgd", "SGDLinearProbe": "sgd", "kfold_indices": "sgd", "train_sgd": "sgd",
}

__all__ = ["EXECUTION_PARAMS", "PROBES", "ProbeConfigError", "ProbeInfo", "register_probe", *_LAZY]


def __getattr__(name: str):
    import importlib

    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _LAZY[name] is None:
        return importlib.import_module(f"{__name__}.{name}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
