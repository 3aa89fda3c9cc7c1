"""``fit_many``: fit one probe on many (file, tap) pairs in one process.

Start-up (importing torch, building the probe, thread setup) is paid once; files are read one tap at a time
so memory holds one tap's features. Returns one result per (source, tap), in input order, each the probe's
``fit_evaluate`` dict plus ``source``, ``tap`` and the file's ``arch``/``method``/``dataset`` attributes.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Mapping, Union

from .base import Probe, ProbeInputError, make_probe
from archssl.evaluate.featurestore import FeatureFileError, FeatureSet, list_taps, read_features

Resolver = Union[None, str, int, Mapping[str, Any], Callable[[dict], Any]]


def _resolve(value: Resolver, attrs: dict, what: str, default: Any) -> Any:
    if value is None:
        return default
    if callable(value):
        return value(attrs)
    if isinstance(value, Mapping):
        ds = attrs.get("dataset")
        if ds not in value:
            raise ProbeInputError(f"{what} given per dataset, but none for dataset {ds!r}")
        return value[ds]
    return value


def fit_many(
    sources: Iterable[Any],
    probe: str | Probe = "lbfgs_logreg",
    params: Mapping[str, Any] | None = None,
    taps: Iterable[str] | str | None = None,
    metric: Resolver = None,
    num_classes: Resolver = None,
    on_error: str = "raise",
) -> list[dict[str, Any]]:
    """Fit ``probe`` on every tap of every source.

    ``sources``: feature-file paths or :class:`~archssl.evaluate.featurestore.FeatureSet` objects.
    ``taps``: tap names to fit (default: every tap of each file; for a FeatureSet, its tap).
    ``metric`` / ``num_classes``: a value, a dict keyed by the file's ``dataset`` attribute, or a callable
    of the file's attrs; defaults: ``map11`` for multi-hot labels else ``top1``; the label width / largest
    label + 1 across splits (see :func:`~archssl.evaluate.probes.base.infer_num_classes`). ``on_error="record"`` turns a failing (source, tap) into a result with an
    ``error`` message instead of raising.
    """
    if on_error not in ("raise", "record"):
        raise ValueError(f"on_error must be 'raise' or 'record', got {on_error!r}")
    prb = probe if isinstance(probe, Probe) else make_probe(probe, **dict(params or {}))
    if isinstance(taps, str):
        taps = [taps]
    results = []
    for src in sources:
        if isinstance(src, FeatureSet):
            jobs = [(src.path, src.tap, lambda _t, fs=src: fs)]
        else:
            path = os.fspath(src)
            try:
                names = list(taps) if taps is not None else list_taps(path)
            except FeatureFileError as exc:
                if on_error == "raise":
                    raise
                results.append({"source": path, "tap": None, "probe": prb.name, "error": str(exc)})
                continue
            jobs = [(path, t, lambda t, p=path: read_features(p, tap=t)) for t in names]
        for path, tap, load in jobs:
            try:
                fs = load(tap)
                attrs = fs.attrs
                k = _resolve(num_classes, attrs, "num_classes", None)  # None: inferred from the labels
                m = _resolve(metric, attrs, "metric", "map11" if fs.multilabel else "top1")
                res = prb.fit_evaluate(fs.xy("train"), fs.xy("val") if "val" in fs.splits else None, fs.xy("test"),
                                       num_classes=k, metric=m, source=f"{path} [tap {tap}]")
            except (FeatureFileError, ProbeInputError) as exc:
                if on_error == "raise":
                    raise
                results.append({"source": path, "tap": tap, "probe": prb.name, "error": str(exc)})
                continue
            res["source"] = path
            res["tap"] = fs.tap
            for key in ("arch", "method", "dataset"):
                res[key] = attrs.get(key)
            results.append(res)
    return results
