"""Statistics with uncertainty for the study's tables: correlations across architectures with their bootstrap
intervals, paired tests and rank agreement. numpy, scipy and pandas only (no torch), so the tables and figures
jobs can import it cheaply.

Contract shared by every function here
--------------------------------------
* Seeded: every random quantity comes from ``numpy.random.default_rng(seed)`` (``seed`` an int or a
  ``numpy.random.Generator``). Same inputs and seed, same output.
* Bootstrap intervals reproduce ``scipy.stats.bootstrap`` (scipy 1.17), with the resampling and interval
  machinery of :mod:`archssl.evaluate.bootstrap` (which also holds the interval of a mean and of a probe's test
  accuracy, and :func:`~archssl.evaluate.bootstrap.stable_seed`): see its docstring for how the draws match
  scipy's.
* Two-sided intervals; ``method`` is ``"percentile"``, ``"basic"`` or ``"BCa"`` (not case-sensitive).
* Exact ties: accuracies are ratios of small counts, so a paired difference within ``TIE_TOL`` (1e-12) of
  zero counts as a tie, the same tolerance ``tables._exact_ties`` uses for mean gains.

Deliberate departures from scipy, each documented where it applies: a constant sample gives the point interval
``(mean, mean)`` rather than scipy's NaN for BCa; correlation bootstraps leave out degenerate resamples
(constant x or y) and report how many there were, where scipy returns NaN; a correlation or its interval
needs n >= 3 pairs (NaN with a reason below that).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from itertools import combinations
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from archssl.evaluate.bootstrap import (MAX_ELEMENTS, batch_rows, bootstrap_mean_ci, check_common, index_batches,
                                        interval, interval_method, stable_seed)

TIE_TOL = 1e-12
CORRELATIONS = ("pearson", "spearman", "kendall")
PAIRED_TESTS = ("wilcoxon", "sign")

CORRELATION_COLUMNS = ["dataset_a", "dataset_b", "kind", "family", "n", "value", "pvalue", "ci_lo", "ci_hi",
                       "n_degenerate", "reason"]
HONESTY_STATS_COLUMNS = ["method", "baseline", "dataset", "n", "mean_diff", "wins", "losses", "ties", "test",
                         "statistic", "pvalue", "ci_lo", "ci_hi"]

_NAN = float("nan")


# ----------------------------------------------------------------------------------------------------------
# correlations across architectures


class Correlation(NamedTuple):
    statistic: float
    pvalue: float


@dataclass(frozen=True)
class CorrelationCI:
    """A bootstrap interval of a correlation: ``low``/``high`` (NaN with ``reason`` when undefined),
    ``n`` pairs used, ``n_resamples`` drawn, ``n_degenerate`` of them left out (constant x or y)."""

    low: float
    high: float
    n: int
    n_resamples: int
    n_degenerate: int
    reason: str = ""


def _kind(kind: str) -> str:
    k = str(kind).lower()
    if k not in CORRELATIONS:
        raise ValueError(f"kind must be one of {CORRELATIONS}; got {kind!r}")
    return k


def _paired_finite(x, y) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"x and y differ in length: {x.shape[0]} and {y.shape[0]}")
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def _constant_rows(a: np.ndarray) -> np.ndarray:
    return np.all(a == a[..., :1], axis=-1)


def _pearson_rows(x, y):
    xm = x - x.mean(axis=-1, keepdims=True)
    ym = y - y.mean(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.sum(xm * ym, axis=-1) / np.sqrt(np.sum(xm * xm, axis=-1) * np.sum(ym * ym, axis=-1))
    return np.clip(r, -1.0, 1.0)


def _kendall_rows(x, y):
    """Kendall's tau-b per row: (concordant - discordant) / sqrt(pairs untied in x) / sqrt(pairs untied in y),
    joint ties counted in neither (scipy's definition)."""
    n = x.shape[-1]
    i, j = np.triu_indices(n, 1)
    out = np.empty(x.shape[0])
    step = max(1, MAX_ELEMENTS // max(1, i.size))
    for s in range(0, x.shape[0], step):
        xs, ys = x[s:s + step], y[s:s + step]
        sx = np.sign(xs[:, i] - xs[:, j])
        sy = np.sign(ys[:, i] - ys[:, j])
        num = np.sum(sx * sy, axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[s:s + step] = num / np.sqrt(np.count_nonzero(sx, axis=-1)) / np.sqrt(np.count_nonzero(sy, axis=-1))
    return np.clip(out, -1.0, 1.0)


def correlation_rows(x, y, kind: str = "pearson") -> np.ndarray:
    """The correlation of each row pair of ``x`` and ``y`` (shape (..., n), correlated along the last axis):
    the vectorised statistic the bootstraps use. Pearson from centred sums, Spearman as Pearson of average
    ranks, Kendall's tau-b from pair signs; agrees with ``scipy.stats.pearsonr`` / ``spearmanr`` /
    ``kendalltau`` on each row up to rounding. NaN for a row whose x or y is constant (scipy's NaN)."""
    kind = _kind(kind)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    shape = np.broadcast_shapes(x.shape, y.shape)
    x2 = np.broadcast_to(x, shape).reshape(-1, shape[-1])
    y2 = np.broadcast_to(y, shape).reshape(-1, shape[-1])
    degenerate = _constant_rows(x2) | _constant_rows(y2)
    if kind == "pearson":
        r = _pearson_rows(x2, y2)
    elif kind == "spearman":
        r = _pearson_rows(stats.rankdata(x2, axis=-1), stats.rankdata(y2, axis=-1))
    else:
        r = _kendall_rows(x2, y2)
    r = np.where(degenerate, np.nan, r)
    return r.reshape(shape[:-1])


def correlation(x, y, kind: str = "pearson") -> Correlation:
    """``(statistic, pvalue)`` of ``scipy.stats.pearsonr`` / ``spearmanr`` / ``kendalltau`` (tau-b, default
    options) on the pairs where both x and y are finite. (NaN, NaN) when fewer than 3 pairs remain or x or y
    is constant (no warning), as ``tables.correlation_table`` does."""
    kind = _kind(kind)
    x, y = _paired_finite(x, y)
    if x.shape[0] < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return Correlation(_NAN, _NAN)
    fn = {"pearson": stats.pearsonr, "spearman": stats.spearmanr, "kendall": stats.kendalltau}[kind]
    res = fn(x, y)
    return Correlation(float(res.statistic), float(res.pvalue))


def correlation_ci(x, y, kind: str = "pearson", n_resamples: int = 2000, confidence: float = 0.95, seed=0,
                   method: str = "percentile", batch: int | None = None) -> CorrelationCI:
    """Bootstrap interval of a correlation across architectures: (x_i, y_i) pairs resampled together.

    Pairs with a non-finite x or y are dropped first. Where no resample is degenerate this equals
    ``scipy.stats.bootstrap((x, y), statistic, paired=True, n_resamples=..., confidence_level=confidence,
    method=method, rng=np.random.default_rng(seed))`` with ``statistic`` the scipy correlation (up to rounding;
    exactly with :func:`correlation_rows` as the statistic), for any ``batch``.

    Degenerate resamples (x or y constant, e.g. one architecture drawn n times; scipy gives NaN and then a
    NaN interval) are left out: the interval comes from the finite resamples (for BCa, z0 from those too) and
    ``n_degenerate`` says how many were dropped, so the caller can judge (the interval is then conditional on a
    non-degenerate resample). NaN interval with ``reason`` when: n < 3; x or y constant; every resample
    degenerate; BCa with a constant leave-one-out sample or undefined levels.
    """
    kind = _kind(kind)
    n_resamples = check_common(n_resamples, confidence)
    method = interval_method(method)
    x, y = _paired_finite(x, y)
    n = x.shape[0]

    def undefined(reason: str, n_degenerate: int = 0) -> CorrelationCI:
        return CorrelationCI(_NAN, _NAN, n, n_resamples, n_degenerate, reason)

    if n < 3:
        return undefined(f"n = {n} < 3 pairs")
    if np.all(x == x[0]) or np.all(y == y[0]):
        return undefined("x or y is constant")
    theta_hat = float(correlation_rows(x, y, kind))
    rng = np.random.default_rng(seed)
    rows = batch_rows(n_resamples, n, batch)
    theta_b = np.concatenate([correlation_rows(x[idx], y[idx], kind)
                              for idx in index_batches(rng, n, n_resamples, rows)])
    finite = np.isfinite(theta_b)
    n_degenerate = int(n_resamples - np.count_nonzero(finite))
    if n_degenerate == n_resamples:
        return undefined("every resample is degenerate (x or y constant)", n_degenerate)
    jack = None
    if method == "bca":
        keep = ~np.eye(n, dtype=bool)
        loo = np.broadcast_to(np.arange(n), (n, n))[keep].reshape(n, n - 1)
        jk = correlation_rows(x[loo], y[loo], kind)
        if not np.all(np.isfinite(jk)):
            return undefined("BCa undefined: a leave-one-out sample has constant x or y", n_degenerate)
        jack = [jk]
    lo, hi = interval(theta_b[finite], theta_hat, confidence, method, jack)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return undefined("BCa undefined: degenerate bootstrap distribution or acceleration", n_degenerate)
    return CorrelationCI(lo, hi, n, n_resamples, n_degenerate, "")


# ----------------------------------------------------------------------------------------------------------
# paired tests


def _exact_ties(value: float) -> float:
    return 0.0 if abs(value) < TIE_TOL else float(value)


def paired_test(a, b, test: str = "wilcoxon") -> dict:
    """Two-sided paired test of ``a`` against ``b`` (same architectures, same order).

    Pairs with a NaN in either are dropped. Differences ``d = a - b`` with ``|d| < TIE_TOL`` are ties: set to
    exactly 0, counted in ``n_ties`` and left out of the test (Wilcoxon's ``zero_method='wilcox'``; the sign
    test uses the nonzero differences only).

    * ``"wilcoxon"``: ``scipy.stats.wilcoxon(d[nonzero])`` with its defaults (two-sided, method ``'auto'``);
      ``statistic`` as scipy reports it (the smaller rank sum). scipy sees only the nonzero differences, so
      its choice of exact, permutation or asymptotic p-value is made on those: without ties this is exactly
      ``scipy.stats.wilcoxon(a, b)``; with ties scipy's own call would count the zeros in that choice.
    * ``"sign"``: ``scipy.stats.binomtest(n_pos, n_pos + n_neg, 0.5)``; ``statistic`` is ``n_pos``.

    Returns ``{statistic, pvalue, n, n_pos, n_neg, n_ties, mean_diff}``: ``n`` pairs (ties included),
    ``mean_diff`` the mean of the tie-cleaned differences (itself 0 when within ``TIE_TOL``). With no nonzero
    difference (n = 0, or all ties) the test is undefined: statistic and pvalue are NaN.
    """
    if test not in PAIRED_TESTS:
        raise ValueError(f"test must be one of {PAIRED_TESTS}; got {test!r}")
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"a and b differ in length: {a.shape[0]} and {b.shape[0]}")
    keep = ~(np.isnan(a) | np.isnan(b))
    d = a[keep] - b[keep]
    tie = np.abs(d) < TIE_TOL
    d = np.where(tie, 0.0, d)
    n_pos, n_neg = int(np.count_nonzero(d > 0)), int(np.count_nonzero(d < 0))
    out = {"statistic": _NAN, "pvalue": _NAN, "n": int(d.shape[0]), "n_pos": n_pos, "n_neg": n_neg,
           "n_ties": int(np.count_nonzero(tie)), "mean_diff": _exact_ties(np.mean(d)) if d.size else _NAN}
    if n_pos + n_neg == 0:
        return out
    if test == "wilcoxon":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # small-sample notes; the result is scipy's as is
            res = stats.wilcoxon(d[~tie])
        out["statistic"], out["pvalue"] = float(res.statistic), float(res.pvalue)
    else:
        res = stats.binomtest(n_pos, n_pos + n_neg, 0.5)
        out["statistic"], out["pvalue"] = float(n_pos), float(res.pvalue)
    return out


# ----------------------------------------------------------------------------------------------------------
# agreement of rankings


class KendallW(NamedTuple):
    w: float
    chi2: float
    pvalue: float
    m: int
    n: int


def _complete_items(matrix) -> np.ndarray:
    """(m raters, n items) as floats, items (columns) with any NaN removed."""
    x = np.asarray(matrix, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected a (raters, items) matrix; got shape {x.shape}")
    return x[:, ~np.any(np.isnan(x), axis=0)]


def kendalls_w(matrix) -> KendallW:
    """Kendall's coefficient of concordance W of ``matrix`` (m raters x n items; a DataFrame's rows are
    raters: pass ``acc_matrix.T`` to see datasets as raters of architectures). Items with a NaN for any rater
    are left out. Each rater's scores get average ranks; with ``T_i = sum(t^3 - t)`` over rater i's tie groups

        W = 12 S / (m^2 (n^3 - n) - m sum_i T_i),   S = sum_j (R_j - m (n + 1) / 2)^2,

    ``R_j`` item j's rank sum. ``chi2 = m (n - 1) W`` (Friedman's tie-corrected statistic), p-value from
    chi-square with n - 1 degrees of freedom (upper tail). NaN for m < 2, n < 2 or when every rater ties all
    items. Returns ``KendallW(w, chi2, pvalue, m, n)`` with the m and n used.
    """
    x = _complete_items(matrix)
    m, n = x.shape
    if m < 2 or n < 2:
        return KendallW(_NAN, _NAN, _NAN, m, n)
    ranks = stats.rankdata(x, axis=1)
    ties = 0.0
    for row in x:
        _, t = np.unique(row, return_counts=True)
        ties += float(np.sum(t.astype(np.float64) ** 3 - t))
    r = ranks.sum(axis=0)
    s = float(np.sum((r - m * (n + 1) / 2) ** 2))
    denom = m * m * (n ** 3 - n) - m * ties
    if denom <= 0:
        return KendallW(_NAN, _NAN, _NAN, m, n)
    w = 12 * s / denom
    chi2 = m * (n - 1) * w
    return KendallW(float(w), float(chi2), float(stats.chi2.sf(chi2, n - 1)), m, n)


def mean_pairwise_tau(matrix) -> float:
    """Mean of Kendall's tau-b (``scipy.stats.kendalltau``) over all pairs of raters (rows) of ``matrix``,
    items with a NaN for any rater left out (as in :func:`kendalls_w`). A pair with a constant rater has no tau
    and is skipped; NaN when no pair has one (or m < 2, n < 2)."""
    x = _complete_items(matrix)
    taus = []
    if x.shape[1] >= 2:
        for i, j in combinations(range(x.shape[0]), 2):
            if np.all(x[i] == x[i, 0]) or np.all(x[j] == x[j, 0]):
                continue
            taus.append(float(stats.kendalltau(x[i], x[j]).statistic))
    return float(np.mean(taus)) if taus else _NAN


def _topk(scores: np.ndarray, order_key: np.ndarray, k: int) -> set:
    # highest score first; equal scores by order_key ascending
    return set(np.lexsort((order_key, -scores))[:k].tolist())


def topk_overlap(ref_scores, other_scores, k: int) -> float:
    """Fraction of the reference's top-k items that are also in the other's top-k (``|A & B| / k``).

    Two ``pd.Series`` are aligned on their index (items missing from either, or NaN in either, are left out)
    and equal scores are ordered by item name, ascending (the index's own sort order). Array-likes are matched
    by position (same length; NaN pairs left out) and equal scores are ordered by position, first wins. Higher
    score ranks higher. ``k`` must be in 1..n items compared.
    """
    if isinstance(ref_scores, pd.Series) and isinstance(other_scores, pd.Series):
        both = pd.concat([ref_scores.rename("ref"), other_scores.rename("other")], axis=1, join="inner")
        both = both.dropna()
        names = both.index
        order_key = np.empty(len(names), dtype=np.int64)
        order_key[names.argsort(kind="stable")] = np.arange(len(names))
        ref, other = both["ref"].to_numpy(np.float64), both["other"].to_numpy(np.float64)
    else:
        ref = np.asarray(ref_scores, dtype=np.float64).reshape(-1)
        other = np.asarray(other_scores, dtype=np.float64).reshape(-1)
        if ref.shape != other.shape:
            raise ValueError(f"score arrays differ in length: {ref.shape[0]} and {other.shape[0]}")
        keep = ~(np.isnan(ref) | np.isnan(other))
        ref, other = ref[keep], other[keep]
        order_key = np.arange(ref.shape[0])
    n = ref.shape[0]
    if int(k) != k or not 1 <= k <= n:
        raise ValueError(f"k must be an integer in 1..{n}; got {k!r}")
    return len(_topk(ref, order_key, int(k)) & _topk(other, order_key, int(k))) / int(k)


# ----------------------------------------------------------------------------------------------------------
# tidy tables


def correlation_table(acc_matrix: pd.DataFrame, kinds=CORRELATIONS, n_resamples: int = 2000,
                      confidence: float = 0.95, seed: int = 0, families: pd.Series | None = None,
                      method: str = "percentile") -> pd.DataFrame:
    """Correlations across architectures between every ordered pair of datasets, with bootstrap intervals.

    ``acc_matrix``: arch x dataset (index: architecture names, columns: datasets), e.g.
    ``tables.primary_matrix(acc, method)``. ``families``: architecture -> family name (a Series indexed by
    arch), or None. Groups: ``family='all'`` (every architecture), then each family with >= 3 architectures in
    ``acc_matrix`` (sorted by name; architectures absent from ``families`` are only in 'all').

    One row per group, ordered pair (a, b) with a != b (both orders, identical values), and kind, with columns
    ``CORRELATION_COLUMNS``: dataset_a, dataset_b, kind, family, n (architectures with both values), value and
    pvalue (:func:`correlation`), ci_lo and ci_hi (:func:`correlation_ci`), n_degenerate and reason (from
    :func:`correlation_ci`; reason is empty when the interval is defined).

    Seeds: each unordered pair in each group gets ``stable_seed(seed, family, *sorted((a, b)))``, shared by its
    kinds (all kinds see the same resampled architecture sets). So the table is deterministic given ``seed``,
    and adding a dataset, family or kind leaves the other cells' intervals unchanged.
    """
    kinds = [_kind(k) for k in kinds]
    interval_method(method)
    groups = [("all", list(acc_matrix.index))]
    if families is not None:
        fam = families.reindex(acc_matrix.index).dropna()
        if "all" in set(fam):
            raise ValueError("'all' is reserved for the group of every architecture; rename that family")
        for name in sorted(fam.unique(), key=str):
            archs = list(fam.index[fam == name])
            if len(archs) >= 3:
                groups.append((str(name), archs))
    rows = []
    for family, archs in groups:
        sub = acc_matrix.loc[archs]
        for a, b in combinations(list(acc_matrix.columns), 2):
            pair = sub[[a, b]].dropna()
            x, y = pair[a].to_numpy(np.float64), pair[b].to_numpy(np.float64)
            pair_seed = stable_seed(seed, family, *sorted((str(a), str(b))))
            for kind in kinds:
                value, p = correlation(x, y, kind)
                ci = correlation_ci(x, y, kind, n_resamples, confidence, pair_seed, method)
                for da, db in ((a, b), (b, a)):
                    rows.append({"dataset_a": da, "dataset_b": db, "kind": kind, "family": family,
                                 "n": int(len(pair)), "value": value, "pvalue": p, "ci_lo": ci.low,
                                 "ci_hi": ci.high, "n_degenerate": ci.n_degenerate, "reason": ci.reason})
    return pd.DataFrame(rows, columns=CORRELATION_COLUMNS)


def honesty_stats_table(rows: pd.DataFrame, method: str, baseline: str, tests=PAIRED_TESTS,
                        n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0,
                        ci_method: str = "percentile") -> pd.DataFrame:
    """``method`` against ``baseline`` on the same architectures, per dataset, with paired tests and an
    interval of the mean difference (the honesty table's question; equally a variant against its method).

    ``rows``: long rows with columns method, arch, dataset, value, exactly one row per (method, arch, dataset)
    for the two methods (reduce taps/metrics first, e.g. to the primary metric; duplicates raise ValueError);
    rows of other methods are ignored. Per dataset (sorted) on the architectures both have a finite value for
    (datasets with none are left out): differences d = method - baseline, ties as in :func:`paired_test`.

    One row per dataset and test, columns ``HONESTY_STATS_COLUMNS``: method, baseline, dataset, n, mean_diff,
    wins (d >= TIE_TOL; note ``tables.honesty_table`` counts any d > 0), losses (d <= -TIE_TOL), ties, test,
    statistic, pvalue (:func:`paired_test`), ci_lo, ci_hi: :func:`~archssl.evaluate.bootstrap.bootstrap_mean_ci`
    of the tie-cleaned differences over architectures with ``seed=stable_seed(seed, "honesty", method, baseline,
    dataset)`` (NaN for n < 2; a point for constant d).
    """
    for t in tests:
        if t not in PAIRED_TESTS:
            raise ValueError(f"tests must be among {PAIRED_TESTS}; got {t!r}")
    interval_method(ci_method)
    missing = {"method", "arch", "dataset", "value"} - set(rows.columns)
    if missing:
        raise ValueError(f"rows lack columns {sorted(missing)}")
    d = rows[rows["method"].isin([method, baseline])]
    dup = d.duplicated(["method", "arch", "dataset"], keep=False)
    if dup.any():
        first = d[dup].iloc[0]
        raise ValueError(f"more than one value for (method, arch, dataset) = ({first['method']}, {first['arch']}, "
                         f"{first['dataset']}): reduce rows to one value each (e.g. the primary metric)")
    wide = {m: d[d["method"] == m].pivot(index="arch", columns="dataset", values="value") for m in (method, baseline)}
    out = []
    for ds in sorted(set(wide[method].columns) & set(wide[baseline].columns), key=str):
        pair = pd.concat([wide[method][ds].rename("m"), wide[baseline][ds].rename("b")], axis=1).dropna()
        if pair.empty:
            continue
        diff = pair["m"].to_numpy(np.float64) - pair["b"].to_numpy(np.float64)
        diff = np.where(np.abs(diff) < TIE_TOL, 0.0, diff)
        if diff.shape[0] >= 2:
            cell_seed = stable_seed(seed, "honesty", method, baseline, ds)
            lo, hi = bootstrap_mean_ci(diff, n_resamples, confidence, cell_seed, ci_method)
        else:
            lo, hi = _NAN, _NAN
        for t in tests:
            res = paired_test(pair["m"], pair["b"], t)
            out.append({"method": method, "baseline": baseline, "dataset": ds, "n": res["n"],
                        "mean_diff": res["mean_diff"], "wins": res["n_pos"], "losses": res["n_neg"],
                        "ties": res["n_ties"], "test": t, "statistic": res["statistic"], "pvalue": res["pvalue"],
                        "ci_lo": lo, "ci_hi": hi})
    return pd.DataFrame(out, columns=HONESTY_STATS_COLUMNS)


__all__ = ["CORRELATIONS", "CORRELATION_COLUMNS", "HONESTY_STATS_COLUMNS", "PAIRED_TESTS", "TIE_TOL", "Correlation",
           "CorrelationCI", "KendallW", "correlation", "correlation_ci", "correlation_rows", "correlation_table",
           "honesty_stats_table", "kendalls_w", "mean_pairwise_tau", "paired_test", "topk_overlap"]
