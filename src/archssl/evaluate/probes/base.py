"""Shared machinery of all probes: registry, errors, input validation, devices, result assembly.

Every probe is a :class:`Probe` subclass registered in :data:`PROBES` and built with
:func:`make_probe`. ``probe.fit_evaluate(train=(X, y), val=(X, y), test=(X, y), num_classes=K,
metric=...)`` returns a JSON-serialisable dict with the keys listed in :data:`RESULT_KEYS`.

Labels ``y`` are (N,) integer class indices in ``[0, K)`` (single-label) or (N, K) multi-hot arrays
(multi-label); every split must use the same kind. Features are (N, D) finite floats.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator, Mapping

import numpy as np

from archssl.catalog.probes import PROBES, ProbeConfigError  # noqa: F401  (this module's API too)
from archssl.evaluate.bootstrap import bootstrap_accuracy_ci

from . import metrics as M

RESULT_KEYS = (
    "probe", "params", "selected", "val_curve", "test", "metric", "value", "n_train", "n_val", "n_test", "seconds",
)


class ProbeInputError(ValueError):
    """Features/labels a probe cannot use. The message says what is wrong (and names ``source`` if given)."""


class Probe:
    """Base class. Subclasses set ``name`` (their :class:`~archssl.catalog.probes.base.ProbeInfo` declares
    the parameters) and implement :meth:`_fit_select`."""

    name: ClassVar[str] = "probe"

    def __init__(self, **params: Any):
        # defaults, types and ranges: the descriptor (ProbeConfigError naming the key)
        self.params: dict[str, Any] = PROBES.get(self.name).resolve(params)
        self._check_params()

    # -- to override ---------------------------------------------------------------------------------------
    def _check_params(self) -> None:
        """Normalise the validated ``self.params`` (e.g. sort a grid)."""

    def _fit_select(self, data: "ProbeData", metric: str) -> dict[str, Any]:
        """Select hyper-parameters, refit, and return ``{"selected", "val_curve", "test_scores", ...}``."""
        raise NotImplementedError

    #: decision threshold on test scores for the multi-label ``mean_per_class`` (0 for logits)
    threshold: ClassVar[float] = 0.0

    # -- public --------------------------------------------------------------------------------------------
    def fit_evaluate(
        self,
        train: tuple[Any, Any],
        val: tuple[Any, Any] | None,
        test: tuple[Any, Any],
        num_classes: int | None,
        metric: str = "top1",
        source: str | None = None,
        bootstrap: dict | None = None,
    ) -> dict[str, Any]:
        """Select on ``val`` (``None``: a stratified ``val_fraction`` hold-out of train), refit on train+val,
        score ``test``. ``num_classes=None`` infers it from the labels (:func:`infer_num_classes`).
        ``source`` (e.g. the feature file) prefixes every :class:`ProbeInputError` message. ``bootstrap``
        (``{n_resamples, confidence, seed}``): also the bootstrap interval of the test metrics over test
        images, as ``result["test_ci"]`` (:func:`test_intervals`)."""
        t0 = time.perf_counter()
        data = prepare_data(train, val, test, num_classes, metric, source, self.params)
        num_classes = data.num_classes
        work = data.X_train.shape[0] * data.X_train.shape[1] * num_classes
        with torch_threads(self.params["num_threads"], work):
            out = self._fit_select(data, metric)
        scores = out.pop("test_scores")
        test_metrics = M.all_metrics(scores, data.y_test, metric, self.threshold)
        result = {
            "probe": self.name,
            "params": jsonable(self.params),
            "selected": jsonable(out.pop("selected")),
            "val_curve": jsonable(out.pop("val_curve")),
            "test": test_metrics,
            "metric": metric,
            "value": test_metrics[metric],
            "n_train": int(data.X_train.shape[0]),
            "n_val": int(data.X_val.shape[0]),
            "n_test": int(data.X_test.shape[0]),
            "num_classes": int(num_classes),
            "multilabel": bool(data.multilabel),
            "val_source": data.val_source,
        }
        result.update(jsonable(out))
        if bootstrap is not None:
            result["test_ci"] = test_intervals(scores, data.y_test, bootstrap)
        if source is not None:
            result["source"] = source
        result["seconds"] = round(time.perf_counter() - t0, 4)
        return result


def test_intervals(scores: np.ndarray, y: np.ndarray, bootstrap: dict) -> dict[str, Any]:
    """Percentile bootstrap intervals of the test metrics over the test images, from the per-image correctness
    of the top-scoring class (:func:`archssl.evaluate.bootstrap.bootstrap_accuracy_ci`, which equals
    ``scipy.stats.bootstrap`` with ``rng=np.random.default_rng(seed)``): ``top1`` always, ``mean_per_class``
    for single-label targets (resampled within each class, so every resample keeps the test set's classes);
    multi-label ``mean_per_class`` and ``map11`` get none. Returns ``{n_resamples, confidence, seed, method,
    <metric>: [lo, hi], ...}``; no interval with fewer than 2 test images."""
    kw = {"n_resamples": int(bootstrap["n_resamples"]), "confidence": float(bootstrap["confidence"]),
          "seed": int(bootstrap["seed"])}
    out: dict[str, Any] = {**kw, "method": "percentile"}
    if y.shape[0] < 2:
        return out
    pred = np.argmax(scores, axis=1)
    correct = (pred == y) if y.ndim == 1 else (y[np.arange(y.shape[0]), pred] > 0)
    out["top1"] = [float(v) for v in bootstrap_accuracy_ci(correct, "top1", **kw)]
    if y.ndim == 1:
        out["mean_per_class"] = [float(v) for v in bootstrap_accuracy_ci(correct, "mean_per_class", labels=y, **kw)]
    return out


def make_probe(name: str, **params: Any) -> Probe:
    """Instantiate the probe registered as ``name`` with ``params`` (unknown keys -> ProbeConfigError)."""
    return PROBES.get(name).load()(**params)


# --------------------------------------------------------------------------------------------- data


@dataclass
class ProbeData:
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    multilabel: bool
    val_source: str  # "given" or "holdout"

    def trainval(self) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate([self.X_train, self.X_val]), np.concatenate([self.y_train, self.y_val])


def _where(source: str | None) -> str:
    return f"{source}: " if source else ""


def _check_split(name: str, pair: Any, num_classes: int, source: str | None):
    w = _where(source)
    try:
        X, y = pair
    except (TypeError, ValueError):
        raise ProbeInputError(f"{w}{name} must be a pair (X, y)") from None
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2:
        raise ProbeInputError(f"{w}{name} features must be 2-D (N, D), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ProbeInputError(f"{w}{name} split is empty")
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise ProbeInputError(f"{w}{name} features must be real numbers, got dtype {X.dtype}")
    if y.ndim not in (1, 2):
        raise ProbeInputError(f"{w}{name} labels must be (N,) or (N, K), got shape {y.shape}")
    if y.shape[0] != X.shape[0]:
        raise ProbeInputError(
            f"{w}{name}: X has {X.shape[0]} rows but y has {y.shape[0]} (mismatched X/y shapes)"
        )
    X = X.astype(np.float32, copy=False)
    if not np.isfinite(X).all():
        bad = int((~np.isfinite(X)).any(axis=1).sum())
        raise ProbeInputError(f"{w}{name} features contain NaN/inf values ({bad} of {X.shape[0]} rows)")
    if y.ndim == 1:
        if not (np.issubdtype(y.dtype, np.integer) or (np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y)))):
            raise ProbeInputError(f"{w}{name} labels must be integer class indices, got dtype {y.dtype}")
        y = y.astype(np.int64)
        if y.min() < 0 or y.max() >= num_classes:
            raise ProbeInputError(
                f"{w}{name} labels must lie in [0, {num_classes}); found range [{y.min()}, {y.max()}]"
            )
    else:
        if y.shape[1] != num_classes:
            raise ProbeInputError(f"{w}{name} multi-hot labels have {y.shape[1]} columns, expected {num_classes}")
        y = y.astype(np.float32)
        if not np.isfinite(y).all() or ((y != 0) & (y != 1)).any():
            raise ProbeInputError(f"{w}{name} multi-hot labels must be 0/1")
    return X, y


def _present(y: np.ndarray, k: int) -> np.ndarray:
    if y.ndim == 1:
        return np.bincount(y, minlength=k) > 0
    return (y > 0).any(axis=0)


def holdout_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (single-label) or random (multi-label) train/val index split; every class keeps >=1 train row."""
    rng = np.random.default_rng(seed)
    n = y.shape[0]
    if y.ndim == 1:
        val_idx = []
        for c in np.unique(y):
            idx = np.flatnonzero(y == c)
            rng.shuffle(idx)
            k = int(round(fraction * idx.size))
            k = min(k, idx.size - 1)
            val_idx.append(idx[:k])
        val = np.sort(np.concatenate(val_idx)) if val_idx else np.array([], dtype=np.int64)
    else:
        perm = rng.permutation(n)
        val = np.sort(perm[: int(round(fraction * n))])
    mask = np.ones(n, dtype=bool)
    mask[val] = False
    return np.flatnonzero(mask), val


def infer_num_classes(train, val, test, source: str | None = None) -> int:
    """``num_classes=None``: the multi-hot width, or the largest class index in any split + 1 (a class absent
    from every split and above all present ones cannot be seen; pass ``num_classes`` when that matters)."""
    widths, top = set(), -1
    for pair in (train, val, test):
        if pair is None:
            continue
        try:
            y = np.asarray(pair[1])
        except (TypeError, IndexError):
            raise ProbeInputError(f"{_where(source)}splits must be pairs (X, y)") from None
        if y.ndim == 2:
            widths.add(int(y.shape[1]))
        elif y.ndim == 1 and y.size and np.issubdtype(y.dtype, np.number):
            top = max(top, int(np.max(y)))
    if widths:
        return widths.pop() if len(widths) == 1 else -1
    return top + 1


def prepare_data(train, val, test, num_classes, metric, source, params) -> ProbeData:
    w = _where(source)
    if metric not in M.METRICS:
        raise ProbeInputError(f"{w}unknown metric {metric!r}; expected one of {M.METRICS}")
    if num_classes is None:
        num_classes = infer_num_classes(train, val, test, source)
    if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool) or num_classes < 2:
        raise ProbeInputError(f"{w}num_classes must be an integer >= 2, got {num_classes!r}")
    num_classes = int(num_classes)
    Xtr, ytr = _check_split("train", train, num_classes, source)
    val_source = "given"
    if val is None:
        frac = float(params.get("val_fraction", 0.2))
        if not 0 < frac < 1:
            raise ProbeInputError(f"{w}val_fraction must be in (0, 1), got {frac}")
        tr_idx, va_idx = holdout_split(ytr, frac, int(params.get("seed", 0)))
        if va_idx.size == 0:
            raise ProbeInputError(f"{w}train split too small to hold out a validation split")
        Xtr, ytr, Xva, yva = Xtr[tr_idx], ytr[tr_idx], Xtr[va_idx], ytr[va_idx]
        val_source = "holdout"
    else:
        Xva, yva = _check_split("val", val, num_classes, source)
    Xte, yte = _check_split("test", test, num_classes, source)
    d = Xtr.shape[1]
    for name, X in (("val", Xva), ("test", Xte)):
        if X.shape[1] != d:
            raise ProbeInputError(f"{w}feature dimension mismatch: train has D={d}, {name} has D={X.shape[1]}")
    kinds = {ytr.ndim, yva.ndim, yte.ndim}
    if len(kinds) != 1:
        raise ProbeInputError(f"{w}splits mix single-label (N,) and multi-label (N, K) targets")
    multilabel = ytr.ndim == 2
    if metric == "map11" and not multilabel:
        pass  # allowed: single-label targets are scored one-hot
    present = _present(ytr, num_classes)
    for name, y in (("val", yva), ("test", yte)):
        missing = np.flatnonzero(_present(y, num_classes) & ~present)
        if missing.size:
            shown = ", ".join(str(int(c)) for c in missing[:10]) + (" ..." if missing.size > 10 else "")
            raise ProbeInputError(
                f"{w}class(es) {shown} present in {name} but missing from train ({missing.size} classes)"
            )
    if not multilabel and present.sum() < 2:
        raise ProbeInputError(f"{w}train has a single class; a classifier needs at least two")
    return ProbeData(Xtr, ytr, Xva, yva, Xte, yte, num_classes, multilabel, val_source)


# --------------------------------------------------------------------------------------------- helpers


class Standardizer:
    """Per-feature standardisation fitted on ``X`` (float64 statistics; constant features keep scale 1);
    ``enabled=False`` passes features through."""

    def __init__(self, X: np.ndarray, enabled: bool = True):
        self.enabled = enabled
        if enabled:
            self.mean = X.mean(axis=0, dtype=np.float64)
            std = X.std(axis=0, dtype=np.float64)
            self.std = np.where(std > 1e-12, std, 1.0)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        if not self.enabled:
            return X
        return ((X - self.mean) / self.std).astype(np.float32)


def resolve_device(device: str | None):
    """:func:`archssl.runtime.select_device` (None means auto); a missing GPU is a :class:`ProbeConfigError`."""
    from archssl.runtime import select_device

    try:
        return select_device(device or "auto")
    except RuntimeError as e:
        raise ProbeConfigError(str(e)) from None


def available_cores() -> int:
    """The job's thread budget (``--threads`` of a workflow job, via :func:`archssl.runtime.set_threads`), else
    every core this process may run on."""
    from archssl.runtime import granted_threads

    granted = granted_threads()
    if granted:
        return granted
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


#: below this many multiply-adds per full-batch product, ``num_threads=None`` runs on one thread: thread
#: synchronisation then costs more than it saves (badly so on a busy machine)
SMALL_WORK = 2e7


@contextlib.contextmanager
def torch_threads(n: int | None, work: float | None = None) -> Iterator[None]:
    """Run with ``n`` torch CPU threads, then restore the previous setting.

    ``n=None``: all cores available to the process, or one thread when ``work`` (multiply-adds of one
    full-batch product) is below :data:`SMALL_WORK`.
    """
    import torch

    old = torch.get_num_threads()
    if n:
        want = int(n)
    else:
        want = 1 if (work is not None and work < SMALL_WORK) else available_cores()
    if want != old:
        torch.set_num_threads(want)
    try:
        yield
    finally:
        if torch.get_num_threads() != old:
            torch.set_num_threads(old)


def select_best(values: list[float]) -> int:
    """Index of the best validation value; ties go to the earliest entry (grids are ordered so that the
    earliest is the most regularised / simplest candidate). NaN never wins."""
    best, best_i = -math.inf, None
    for i, v in enumerate(values):
        if v is not None and not math.isnan(v) and v > best + 1e-12:
            best, best_i = v, i
    return 0 if best_i is None else best_i


def jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return str(obj)
