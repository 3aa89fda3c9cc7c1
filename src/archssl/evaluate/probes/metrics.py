"""Probe metrics on score matrices (numpy).

``scores`` is (N, K): logits, probabilities or vote weights, higher = more likely. ``y`` is (N,) int class
indices (single-label) or (N, K) multi-hot (multi-label).

* ``top1``: single-label: fraction of samples whose highest score is the true class. Multi-label: fraction of
  samples whose highest-scored class is one of its positive labels (precision@1).
* ``mean_per_class``: single-label: per-class recall (accuracy on the samples of that class) averaged over the
  classes present in ``y``. Multi-label: per-class binary accuracy of the decision ``score > threshold``
  averaged over the classes with at least one positive.
* ``map11``: PASCAL VOC2007 11-point interpolated average precision, averaged over the classes with at least
  one positive: for each class rank the samples by score, and average over recall levels
  ``t = 0, 0.1, ..., 1`` the maximum precision at recall >= t (0 when recall t is never reached).
  Single-label targets are treated as one-hot. (VOC's "difficult" flags are not modelled.)
"""

from __future__ import annotations

import numpy as np

METRICS = ("top1", "mean_per_class", "map11")


def _one_hot(y: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((y.shape[0], k), dtype=np.float32)
    out[np.arange(y.shape[0]), y] = 1.0
    return out


def top1(scores: np.ndarray, y: np.ndarray) -> float:
    pred = np.argmax(scores, axis=1)
    if y.ndim == 1:
        return float(np.mean(pred == y))
    return float(np.mean(y[np.arange(y.shape[0]), pred] > 0))


def mean_per_class(scores: np.ndarray, y: np.ndarray, threshold: float = 0.0) -> float:
    if y.ndim == 1:
        pred = np.argmax(scores, axis=1)
        classes = np.unique(y)
        return float(np.mean([np.mean(pred[y == c] == c) for c in classes]))
    pos = y > 0
    keep = pos.any(axis=0)
    acc = ((scores > threshold) == pos).mean(axis=0)
    return float(acc[keep].mean())


def average_precision_11(scores: np.ndarray, positives: np.ndarray) -> float:
    """VOC2007 11-point interpolated AP of one class (``positives`` boolean, at least one True)."""
    order = np.argsort(-scores, kind="stable")
    tp = positives[order].astype(np.float64)
    ctp = np.cumsum(tp)
    cfp = np.cumsum(1.0 - tp)
    recall = ctp / max(1.0, tp.sum())
    precision = ctp / np.maximum(ctp + cfp, np.finfo(np.float64).eps)
    ap = 0.0
    for t in np.linspace(0.0, 1.0, 11):
        mask = recall >= t - 1e-12
        ap += float(precision[mask].max()) if mask.any() else 0.0
    return ap / 11.0


def map11(scores: np.ndarray, y: np.ndarray) -> float:
    k = scores.shape[1]
    Y = _one_hot(y, k) if y.ndim == 1 else y
    pos = Y > 0
    aps = [average_precision_11(scores[:, c], pos[:, c]) for c in range(k) if pos[:, c].any()]
    if not aps:
        return float("nan")
    return float(np.mean(aps))


def compute(metric: str, scores: np.ndarray, y: np.ndarray, threshold: float = 0.0) -> float:
    if metric == "top1":
        return top1(scores, y)
    if metric == "mean_per_class":
        return mean_per_class(scores, y, threshold)
    if metric == "map11":
        return map11(scores, y)
    raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")


def all_metrics(scores: np.ndarray, y: np.ndarray, metric: str, threshold: float = 0.0) -> dict[str, float]:
    """``top1`` and ``mean_per_class`` always, ``map11`` for multi-label targets or when it is the metric."""
    out = {"top1": top1(scores, y), "mean_per_class": mean_per_class(scores, y, threshold)}
    if metric == "map11" or y.ndim == 2:
        out["map11"] = map11(scores, y)
    return out
