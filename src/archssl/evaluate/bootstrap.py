"""Bootstrap intervals as ``scipy.stats.bootstrap`` computes them, and the seeds of their random streams:
the interval of a probe's test accuracy over its test images (:func:`bootstrap_accuracy_ci`, which every probe
result carries as ``test_ci``), of a mean (:func:`bootstrap_mean_ci`), and the machinery the study's other
intervals share (:mod:`archssl.analysis.stats`: correlations across architectures). numpy and scipy only (no
torch).

* Seeded: every random quantity comes from ``numpy.random.default_rng(seed)`` (``seed`` an int or a
  ``numpy.random.Generator``); :func:`stable_seed` derives one seed per table cell or probe result from names.
  Same inputs and seed, same output.
* The resample indices are drawn as scipy 1.17 draws them (``rng.integers(0, n, (batch, n))`` per sample and
  batch), the bootstrap distribution is the same statistic of the same resamples, and the interval is taken the
  same way (``scipy.stats.quantile``, default ``'linear'``; BCa with scipy's z0 and jackknife acceleration). With
  scipy 1.17 the matching call is ``scipy.stats.bootstrap(..., rng=np.random.default_rng(seed))``, or
  ``rng=seed``, which scipy passes through ``default_rng``. Passing ``random_state=seed`` selects the legacy
  ``RandomState`` stream and gives different resamples.
* Two-sided intervals; ``method`` is ``"percentile"``, ``"basic"`` or ``"BCa"`` (not case-sensitive).
* A constant sample gives the point interval ``(mean, mean)`` rather than scipy's NaN for BCa.
"""

from __future__ import annotations

import hashlib
import json
import warnings

import numpy as np
from scipy import stats
from scipy.special import ndtr, ndtri

INTERVAL_METHODS = ("percentile", "basic", "bca")
# Most array elements one step materialises (resample indices, gathered values, pair signs): 4 Mi elements
# is 32 MiB of int64 or float64.
MAX_ELEMENTS = 1 << 22

_NAN = float("nan")


# ----------------------------------------------------------------------------------------------------------
# shared machinery


def stable_seed(*keys) -> int:
    """A 64-bit seed derived from ``keys`` with SHA-256 of their ``str`` forms: the same on every machine,
    Python version and run (unlike ``hash``). Used to give each table cell its own random stream, so adding
    a dataset or a family does not change the intervals of the other cells."""
    text = json.dumps([str(k) for k in keys], ensure_ascii=True)
    return int.from_bytes(hashlib.sha256(text.encode("ascii")).digest()[:8], "big")


def interval_method(method: str) -> str:
    m = str(method).lower()
    if m not in INTERVAL_METHODS:
        raise ValueError(f"method must be one of percentile, basic, BCa; got {method!r}")
    return m


def check_common(n_resamples: int, confidence: float) -> int:
    if int(n_resamples) != n_resamples or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer; got {n_resamples!r}")
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}")
    return int(n_resamples)


def batch_rows(n_resamples: int, row_len: int, batch: int | None) -> int:
    """Resamples drawn per generator call: ``batch`` if given, else as many as keep one (rows, row_len) array
    within ``MAX_ELEMENTS`` (all of them when they fit)."""
    if batch is not None:
        if int(batch) != batch or batch < 1:
            raise ValueError(f"batch must be a positive integer or None; got {batch!r}")
        return int(batch)
    return max(1, min(n_resamples, MAX_ELEMENTS // max(1, row_len)))


def index_batches(rng: np.random.Generator, n: int, n_resamples: int, rows: int):
    """Resample indices as ``scipy.stats.bootstrap`` draws them for one sample: ``rng.integers(0, n, (b, n))``
    per batch of ``b`` resamples. For one sample (or a paired one) the batch size does not change the indices:
    numpy's Generator keeps its buffered 32-bit half-word in the bit generator's state, so consecutive calls
    continue one stream (``tests/test_stats.py`` checks this)."""
    for k in range(0, n_resamples, rows):
        yield rng.integers(0, n, (min(rows, n_resamples - k), n))


def _acceleration(jackknife: list[np.ndarray]) -> float:
    """BCa acceleration from the jackknife values of each sample, in the operation order of scipy 1.17's
    ``_bca_interval`` (Efron & Tibshirani 1993, eq. 14.15 summed over samples)."""
    n_j = [float(t.shape[-1]) for t in jackknife]
    dots = [np.mean(t, axis=-1, keepdims=True) for t in jackknife]
    u = [(n - 1) * (d - t) for d, t, n in zip(dots, jackknife, n_j)]
    nums = [np.sum(ui ** 3, axis=-1) / n ** 3 for ui, n in zip(u, n_j)]
    dens = [np.sum(ui ** 2, axis=-1) / n ** 2 for ui, n in zip(u, n_j)]
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(1 / 6 * sum(nums) / sum(dens) ** (3 / 2))


def interval(theta_b: np.ndarray, theta_hat: float, confidence: float, method: str,
              jackknife: list[np.ndarray] | None = None) -> tuple[float, float]:
    """Two-sided interval from a finite 1-D bootstrap distribution, computed as ``scipy.stats.bootstrap``
    computes it. BCa needs the jackknife values (one array per sample). NaN when BCa's levels are undefined."""
    alpha = (1 - confidence) / 2
    if method == "bca":
        b = theta_b.shape[-1]
        count = np.count_nonzero(theta_b < theta_hat) + np.count_nonzero(theta_b <= theta_hat)
        z0 = ndtri(np.float64(count) / (2 * b))
        a_hat = _acceleration(jackknife)
        z_alpha = float(ndtri(alpha))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            num1 = z0 + z_alpha
            alpha_1 = ndtr(z0 + num1 / (1 - a_hat * num1))
            num2 = z0 - z_alpha
            alpha_2 = ndtr(z0 + num2 / (1 - a_hat * num2))
        levels = np.stack((np.float64(alpha_1), np.float64(alpha_2)), axis=-1)
        if not np.all(np.isfinite(levels)):
            return _NAN, _NAN
    else:
        a = np.asarray(alpha, dtype=np.float64)
        levels = np.stack((a, 1 - a), axis=-1)
    q = stats.quantile(theta_b, levels, axis=-1)
    lo, hi = float(q[0]), float(q[1])
    if method == "basic":
        lo, hi = 2 * theta_hat - hi, 2 * theta_hat - lo
    return lo, hi


def _finite_1d(values, name: str) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} has NaN or infinite values")
    return x


# ----------------------------------------------------------------------------------------------------------
# accuracy intervals over test images


def _resample_means(x: np.ndarray, rng: np.random.Generator, n_resamples: int, batch: int | None) -> np.ndarray:
    """Means of ``n_resamples`` bootstrap resamples of ``x``. 0/1 data take a counting path that gives the same
    floats as ``np.mean`` (sums of 0.0/1.0 are exact integers, divided by n once either way)."""
    n = x.shape[0]
    rows = batch_rows(n_resamples, n, batch)
    binary = bool(np.all((x == 0) | (x == 1)))
    xb = x.astype(bool)
    out = np.empty(n_resamples)
    k = 0
    for idx in index_batches(rng, n, n_resamples, rows):
        b = idx.shape[0]
        out[k:k + b] = np.count_nonzero(xb[idx], axis=-1) / n if binary else x[idx].mean(axis=-1)
        k += b
    return out


def bootstrap_mean_ci(values, n_resamples: int = 2000, confidence: float = 0.95, seed=0,
                      method: str = "percentile", batch: int | None = None) -> tuple[float, float]:
    """Bootstrap interval of the mean of ``values`` (1-D, finite, n >= 2).

    Equals ``scipy.stats.bootstrap((values,), np.mean, n_resamples=..., confidence_level=confidence,
    method=method, rng=np.random.default_rng(seed))``, for any ``batch`` (resamples per generator call: only
    memory; None keeps each step within ``MAX_ELEMENTS``). BCa's jackknife uses the closed form
    ``(sum - x_i) / (n - 1)``: the same floats as scipy's for 0/1 data, within rounding otherwise. A constant
    sample returns ``(mean, mean)`` for every method (its bootstrap distribution is that point; scipy's BCa
    gives NaN there).
    """
    x = _finite_1d(values, "values")
    n_resamples = check_common(n_resamples, confidence)
    method = interval_method(method)
    if x.shape[0] < 2:
        raise ValueError("a bootstrap needs at least 2 observations")
    theta_hat = float(np.mean(x))
    if np.all(x == x[0]):
        return theta_hat, theta_hat
    theta_b = _resample_means(x, np.random.default_rng(seed), n_resamples, batch)
    jack = [(np.sum(x) - x) / (x.shape[0] - 1)] if method == "bca" else None
    return interval(theta_b, theta_hat, confidence, method, jack)


def _mean_per_class_stratified(x, codes, n_classes, rng, n_resamples, confidence, method, batch):
    groups = [x[codes == c] for c in range(n_classes)]
    sizes = [g.shape[0] for g in groups]
    if method == "bca" and min(sizes) < 2:
        raise ValueError("stratified BCa needs at least 2 test images in every class (the jackknife leaves one "
                         "out of each class); use stratify=False or another method")
    means = np.stack([np.mean(g, axis=-1) for g in groups], axis=-1)
    theta_hat = float(np.mean(means, axis=-1))
    if np.all(x == x[0]):
        return theta_hat, theta_hat
    rows = batch_rows(n_resamples, max(sizes), batch)
    theta_b = []
    for k in range(0, n_resamples, rows):
        b = min(rows, n_resamples - k)
        # scipy's order: within a batch, one draw per sample (class), classes in label order
        per_class = [g[rng.integers(0, g.shape[0], (b, g.shape[0]))].mean(axis=-1) for g in groups]
        theta_b.append(np.mean(np.stack(per_class, axis=-1), axis=-1))
    theta_b = np.concatenate(theta_b)
    jack = None
    if method == "bca":
        jack = []
        for j, g in enumerate(groups):
            m = np.repeat(means[None, :], g.shape[0], axis=0)
            m[:, j] = (np.sum(g) - g) / (g.shape[0] - 1)
            jack.append(np.mean(m, axis=-1))
    return interval(theta_b, theta_hat, confidence, method, jack)


def _class_means_rows(xr: np.ndarray, cr: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-row class means of rows ``xr`` with class codes ``cr`` (both (b, n)); NaN for a class a row lacks."""
    b = xr.shape[0]
    flat = (cr + n_classes * np.arange(b)[:, None]).ravel()
    sums = np.bincount(flat, weights=xr.ravel(), minlength=b * n_classes).reshape(b, n_classes)
    counts = np.bincount(flat, minlength=b * n_classes).reshape(b, n_classes)
    with np.errstate(divide="ignore", invalid="ignore"):
        return sums / counts


def _mean_per_class_plain(x, codes, n_classes, rng, n_resamples, confidence, method, batch):
    n = x.shape[0]
    sums = np.bincount(codes, weights=x, minlength=n_classes)
    counts = np.bincount(codes, minlength=n_classes)
    means = sums / counts
    theta_hat = float(np.nanmean(means, axis=-1))
    if np.all(x == x[0]):
        return theta_hat, theta_hat
    rows = batch_rows(n_resamples, n, batch)
    theta_b = np.empty(n_resamples)
    k = 0
    for idx in index_batches(rng, n, n_resamples, rows):
        b = idx.shape[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a resample may lack a class: left out of its mean
            theta_b[k:k + b] = np.nanmean(_class_means_rows(x[idx], codes[idx], n_classes), axis=-1)
        k += b
    jack = None
    if method == "bca":
        # leaving image i out changes only its class's mean (a class left empty drops out of the mean)
        with np.errstate(divide="ignore", invalid="ignore"):
            loo = (sums[codes] - x) / (counts[codes] - 1)
        jk = np.empty(n)
        step = max(1, MAX_ELEMENTS // n_classes)
        for s in range(0, n, step):
            sl = slice(s, min(n, s + step))
            m = np.repeat(means[None, :], sl.stop - sl.start, axis=0)
            m[np.arange(sl.stop - sl.start), codes[sl]] = loo[sl]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                jk[sl] = np.nanmean(m, axis=-1)
        jack = [jk]
    return interval(theta_b, theta_hat, confidence, method, jack)


def bootstrap_accuracy_ci(correct, metric: str = "top1", labels=None, n_resamples: int = 2000,
                          confidence: float = 0.95, seed=0, method: str = "percentile", stratify: bool = True,
                          batch: int | None = None) -> tuple[float, float]:
    """Bootstrap interval ``(lo, hi)`` of a probe's test accuracy, resampling test images.

    ``correct``: per-image 0/1 (bool) correctness or per-image scores, shape (n_test,), finite, n >= 2.

    ``metric="top1"``: the mean of ``correct``; equals
    ``scipy.stats.bootstrap((correct,), np.mean, rng=np.random.default_rng(seed), ...)`` (see
    :func:`bootstrap_mean_ci`).

    ``metric="mean_per_class"`` (needs ``labels``, shape (n_test,), any sortable values): the mean over
    classes of the per-class mean of ``correct``, classes in sorted label order.

    * ``stratify=True`` (default): each class is resampled on its own, keeping its test count, so every
      resample has every class (the metric's definition, and the test set's design). Equals
      ``scipy.stats.bootstrap(tuple(correct[labels == c] for c in classes), statistic, batch=b, ...)`` with
      ``statistic(*s, axis)`` = mean over classes of ``np.mean(s_c, axis)`` (scipy resamples unpaired samples
      independently: that is a stratified bootstrap). Here the draws interleave by class within a batch, so
      the batch size matters: ``b`` is ``batch``, or with None all ``n_resamples`` at once unless
      ``n_resamples * largest class`` exceeds ``MAX_ELEMENTS``. BCa needs >= 2 images in every class.
    * ``stratify=False``: images resampled regardless of class, a class a resample lacks is left out of that
      resample's mean. Equals ``scipy.stats.bootstrap((correct, labels), statistic, paired=True, ...)``.

    BCa's jackknife is in closed form (leave-one-out class means): identical to scipy's for 0/1 data, within
    rounding for scores. 2,000 resamples of 50,000 images take seconds and bounded memory (``MAX_ELEMENTS``
    per step).
    """
    x = _finite_1d(correct, "correct")
    n_resamples = check_common(n_resamples, confidence)
    method = interval_method(method)
    if x.shape[0] < 2:
        raise ValueError("a bootstrap needs at least 2 test images")
    if metric == "top1":
        return bootstrap_mean_ci(x, n_resamples, confidence, seed, method, batch)
    if metric != "mean_per_class":
        raise ValueError(f"metric must be 'top1' or 'mean_per_class'; got {metric!r}")
    if labels is None:
        raise ValueError("mean_per_class needs labels")
    labels = np.asarray(labels)
    if labels.shape != x.shape:
        raise ValueError(f"labels have shape {labels.shape}, correct has {x.shape}")
    _, codes = np.unique(labels, return_inverse=True)
    codes = codes.reshape(-1).astype(np.int64)
    n_classes = int(codes.max()) + 1
    rng = np.random.default_rng(seed)
    fn = _mean_per_class_stratified if stratify else _mean_per_class_plain
    return fn(x, codes, n_classes, rng, n_resamples, confidence, method, batch)



__all__ = ["INTERVAL_METHODS", "MAX_ELEMENTS", "batch_rows", "bootstrap_accuracy_ci", "bootstrap_mean_ci",
           "check_common", "index_batches", "interval", "interval_method", "stable_seed"]
