"""Probe metrics against scikit-learn and hand-computed references."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, precision_recall_curve

from archssl.evaluate.probes import metrics as M


def voc07_ap_reference(scores, labels):
    """VOC2007 devkit style: rank by score, cumulative TP/FP, 11-point interpolation (py-faster-rcnn voc_ap)."""
    order = np.argsort(-scores)
    tp = labels[order] == 1
    fp = ~tp
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    rec = tp / labels.sum()
    prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    ap = 0.0
    for t in np.arange(0.0, 1.1, 0.1):
        p = 0.0 if np.sum(rec >= t) == 0 else np.max(prec[rec >= t])
        ap += p / 11.0
    return ap


def eleven_point_from_sklearn(scores, labels):
    """11-point interpolation of scikit-learn's precision-recall curve (independent PR computation)."""
    prec, rec, _ = precision_recall_curve(labels, scores)
    prec, rec = prec[:-1], rec[:-1]  # drop sklearn's appended (recall 0, precision 1) end point
    return float(np.mean([prec[rec >= t].max() if (rec >= t).any() else 0.0 for t in np.linspace(0, 1, 11)]))


def test_top1_and_mean_per_class_match_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 7, 500)
    scores = rng.normal(size=(500, 7)) + 1.5 * np.eye(7)[y]
    pred = scores.argmax(1)
    assert M.top1(scores, y) == pytest.approx(accuracy_score(y, pred))
    assert M.mean_per_class(scores, y) == pytest.approx(balanced_accuracy_score(y, pred))
    # imbalanced classes: mean per class differs from top-1
    y2 = np.r_[np.zeros(90, int), np.ones(10, int)]
    s2 = np.zeros((100, 2))
    s2[:, 0] = 1.0  # always predicts class 0
    assert M.top1(s2, y2) == pytest.approx(0.9)
    assert M.mean_per_class(s2, y2) == pytest.approx(0.5)


def test_map11_hand_example_and_references():
    # ranks: + - + -  -> precision 1, .5, .667, .5 at recall .5, .5, 1, 1
    s = np.array([0.9, 0.8, 0.7, 0.6])
    lab = np.array([1, 0, 1, 0])
    assert M.average_precision_11(s, lab.astype(bool)) == pytest.approx((6 * 1.0 + 5 * (2 / 3)) / 11)
    assert M.average_precision_11(np.array([3.0, 2.0, 1.0]), np.array([True, True, False])) == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    n, k = 400, 6
    Y = np.zeros((n, k), dtype=np.float32)
    for c in range(k):  # 7, 13, 19, ... positives: recall levels never sit exactly on a 0.1 step
        Y[rng.choice(n, 7 + 6 * c, replace=False), c] = 1
    scores = rng.normal(size=(n, k)) + 1.2 * Y
    ref = np.mean([voc07_ap_reference(scores[:, c], Y[:, c]) for c in range(k)])
    ref2 = np.mean([eleven_point_from_sklearn(scores[:, c], Y[:, c]) for c in range(k)])
    assert M.map11(scores, Y) == pytest.approx(ref, abs=1e-12)
    assert M.map11(scores, Y) == pytest.approx(ref2, abs=1e-12)
    # classes without positives are skipped; single-label targets are scored one-hot
    Y0 = Y.copy()
    Y0[:, 0] = 0
    assert M.map11(scores, Y0) == pytest.approx(np.mean([voc07_ap_reference(scores[:, c], Y[:, c]) for c in range(1, k)]))
    y = rng.integers(0, 3, 50)
    sc = rng.normal(size=(50, 3))
    onehot = np.eye(3)[y]
    assert M.map11(sc, y) == pytest.approx(np.mean([voc07_ap_reference(sc[:, c], onehot[:, c]) for c in range(3)]))


def test_multilabel_top1_and_mean_per_class():
    Y = np.array([[1, 0, 1], [0, 1, 0], [0, 0, 1], [1, 1, 0]], dtype=np.float32)
    scores = np.array([[2.0, -1, 1], [0.5, 0.2, -3], [-1, -2, 0.3], [-0.1, 3, 0.0]])
    # top-scored class positive? rows: yes, no, yes, yes
    assert M.top1(scores, Y) == pytest.approx(0.75)
    # per-class binary accuracy of the decision score > 0, averaged over classes
    pred = scores > 0
    expected = np.mean([(pred[:, c] == (Y[:, c] > 0)).mean() for c in range(3)])
    assert M.mean_per_class(scores, Y) == pytest.approx(expected)
    assert M.mean_per_class(scores - 0.5, Y, threshold=-0.5) == pytest.approx(expected)
    out = M.all_metrics(scores, Y, "top1")
    assert set(out) == {"top1", "mean_per_class", "map11"}
    with pytest.raises(ValueError):
        M.compute("top5", scores, Y)


def test_probe_threads_follow_the_jobs_budget(monkeypatch):
    """num_threads None: a workflow job's --threads (set_threads) bounds the probe's threads, not the core count."""
    import torch

    from archssl import runtime as utils
    from archssl.evaluate.probes.base import SMALL_WORK, torch_threads

    old = torch.get_num_threads()
    monkeypatch.setattr(utils, "_GRANTED_THREADS", None)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(7)))
    seen = {}
    with torch_threads(None, SMALL_WORK * 10):
        seen["all"] = torch.get_num_threads()
    utils.set_threads(3)
    with torch_threads(None, SMALL_WORK * 10):
        seen["granted"] = torch.get_num_threads()
    with torch_threads(None, SMALL_WORK / 10):
        seen["small"] = torch.get_num_threads()
    with torch_threads(5, SMALL_WORK / 10):
        seen["explicit"] = torch.get_num_threads()
    torch.set_num_threads(old)
    assert seen == {"all": 7, "granted": 3, "small": 1, "explicit": 5}
