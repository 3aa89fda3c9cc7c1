"""Probes on frozen features: classifiers with one ``fit_evaluate`` API (:class:`.base.Probe`).

>>> from archssl.evaluate.probes.base import make_probe
>>> probe = make_probe("lbfgs_logreg", num_l2=45)
>>> result = probe.fit_evaluate(train=(Xtr, ytr), val=(Xva, yva), test=(Xte, yte), num_classes=K,
...                             metric="top1")   # doctest: +SKIP

The descriptors (parameters, defaults) are in :mod:`archssl.catalog.probes`: ``lbfgs_logreg`` (the standard
protocol, :mod:`.lbfgs`), ``sgd_linear`` and ``mlp`` (:mod:`.sgd`), ``knn`` (:mod:`.knn`).
:func:`.many.fit_many` fits several taps/files in one process. Result keys: :data:`.base.RESULT_KEYS` plus
probe-specific extras (``num_classes``, ``multilabel``, ``val_source``, ``device``, ``source``).
"""
