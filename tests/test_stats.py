"""archssl.analysis.stats and archssl.evaluate.bootstrap against scipy.stats on the same data and seeds, or
against plain recomputations.

Tolerances: ``IDENTICAL`` (rtol 1e-12) where both sides do the same floating-point operations on the same
numbers (scipy.stats.bootstrap fed the same statistic, the same resample indices and the same quantile);
``ROUNDING`` (atol 1e-12) where the statistic is computed by a different formula (e.g. our vectorised
correlation against scipy.stats.pearsonr per resample): correlations are bounded by 1, so different summation
orders differ by a few ulps (~1e-16), far inside 1e-12. BCa's z0 counts resamples below the estimate, a step
function, so comparisons of BCa computed by different formulas first check that no resample lies within 1e-9
of the estimate (the count cannot then change by rounding).
"""

import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st
from scipy.special import ndtr, ndtri

from archssl.analysis import stats as S
from archssl.evaluate import bootstrap as BS

IDENTICAL = dict(rtol=1e-12, atol=0)
ROUNDING = dict(rtol=0, atol=1e-12)
B = 2000
ROOT = Path(__file__).resolve().parents[1]


def scipy_ci(data, statistic, method, seed, **kw):
    res = st.bootstrap(data, statistic, n_resamples=B, confidence_level=0.95, method=method,
                       rng=np.random.default_rng(seed), **kw)
    return (res.confidence_interval.low, res.confidence_interval.high), res.bootstrap_distribution


def clear_of_estimate(dist, estimate):
    """Precondition for BCa computed two ways: no bootstrap value within 1e-9 of the estimate."""
    return np.min(np.abs(np.asarray(dist) - estimate)) > 1e-9


# ------------------------------------------------------------------------------------------------- accuracy


@pytest.mark.parametrize("method", ["percentile", "basic", "BCa"])
def test_top1_equals_scipy_bootstrap(method):
    x = (np.random.default_rng(1).random(500) < 0.7).astype(float)
    (lo, hi), _ = scipy_ci((x,), np.mean, method, seed=3)
    got = BS.bootstrap_accuracy_ci(x, "top1", n_resamples=B, confidence=0.95, seed=3, method=method)
    # 0/1 data: every mean, jackknife value and quantile is the same float on both sides
    np.testing.assert_allclose(got, (lo, hi), **IDENTICAL)
    # bool input is the same data
    assert BS.bootstrap_accuracy_ci(x.astype(bool), seed=3, method=method) == got


def test_scores_equal_scipy_bootstrap():
    x = np.random.default_rng(2).random(300)
    (lo, hi), dist = scipy_ci((x,), np.mean, "percentile", seed=4)
    np.testing.assert_allclose(BS.bootstrap_mean_ci(x, B, 0.95, 4, "percentile"), (lo, hi), **IDENTICAL)
    # BCa: our jackknife is the closed form (sum - x_i)/(n-1), scipy's the mean of n-1 values: they differ by
    # ulps, so the acceleration (and the interval) agree to rounding only
    (lo, hi), dist = scipy_ci((x,), np.mean, "BCa", seed=4)
    assert clear_of_estimate(dist, np.mean(x))
    np.testing.assert_allclose(BS.bootstrap_mean_ci(x, B, 0.95, 4, "BCa"), (lo, hi), rtol=1e-9)


def test_seeding_convention_and_batches():
    """rng=seed and rng=default_rng(seed) are one stream in scipy 1.17 (rng goes through default_rng); the
    legacy random_state=seed is RandomState's, another stream. Batching does not change the indices."""
    x = (np.random.default_rng(5).random(400) < 0.4).astype(float)
    got = BS.bootstrap_accuracy_ci(x, seed=11)
    by_int = st.bootstrap((x,), np.mean, n_resamples=B, method="percentile", rng=11).confidence_interval
    assert got == (by_int.low, by_int.high)
    legacy = st.bootstrap((x,), np.mean, n_resamples=B, method="percentile", random_state=11)
    assert not np.array_equal(legacy.bootstrap_distribution,
                              st.bootstrap((x,), np.mean, n_resamples=B, method="percentile",
                                           rng=11).bootstrap_distribution)
    assert BS.bootstrap_accuracy_ci(x, seed=11, batch=7) == got
    assert BS.bootstrap_accuracy_ci(x, seed=np.random.default_rng(11)) == got
    assert BS.bootstrap_accuracy_ci(x, seed=12) != got


def mpc_stratified_stat(*samples, axis=-1):
    return np.mean(np.stack([np.mean(s, axis=axis) for s in samples], axis=-1), axis=-1)


@pytest.mark.parametrize("method", ["percentile", "BCa"])
def test_mean_per_class_stratified_equals_scipy_multisample(method):
    rng = np.random.default_rng(6)
    labels = np.repeat(np.array([3, 0, 7, 1, 5, 2]), [20, 25, 30, 35, 40, 22])
    rng.shuffle(labels)
    x = (rng.random(labels.size) < 0.3 + 0.08 * labels).astype(float)
    groups = tuple(x[labels == c] for c in np.unique(labels))
    (lo, hi), _ = scipy_ci(groups, mpc_stratified_stat, method, seed=8, vectorized=True)
    got = BS.bootstrap_accuracy_ci(x, "mean_per_class", labels, B, 0.95, 8, method, stratify=True)
    np.testing.assert_allclose(got, (lo, hi), **IDENTICAL)
    # a stated batch is scipy's batch (draws interleave by class within a batch)
    (lo, hi), _ = scipy_ci(groups, mpc_stratified_stat, method, seed=8, vectorized=True, batch=300)
    got = BS.bootstrap_accuracy_ci(x, "mean_per_class", labels, B, 0.95, 8, method, stratify=True, batch=300)
    np.testing.assert_allclose(got, (lo, hi), **IDENTICAL)


def mpc_plain_stat(x, labels, axis=-1):
    """Mean over the classes present of the per-class mean (masked sums; NaN for an absent class)."""
    means = []
    for c in range(5):
        mask = labels == c
        with np.errstate(invalid="ignore", divide="ignore"):
            means.append(np.sum(x * mask, axis=axis) / np.sum(mask, axis=axis))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.stack(means, axis=-1), axis=-1)


@pytest.mark.parametrize("method", ["percentile", "BCa"])
def test_mean_per_class_plain_equals_scipy_paired(method):
    rng = np.random.default_rng(7)
    labels = np.repeat(np.arange(5), [3, 60, 80, 50, 47])  # class 0 is missing from ~5% of resamples
    rng.shuffle(labels)
    x = (rng.random(labels.size) < 0.6).astype(float)
    (lo, hi), dist = scipy_ci((x, labels), mpc_plain_stat, method, seed=9, paired=True, vectorized=True)
    got = BS.bootstrap_accuracy_ci(x, "mean_per_class", labels, B, 0.95, 9, method, stratify=False)
    np.testing.assert_allclose(got, (lo, hi), **IDENTICAL)


def test_constant_and_invalid_accuracy_inputs():
    assert BS.bootstrap_accuracy_ci(np.ones(100), method="BCa") == (1.0, 1.0)
    labels = np.repeat(np.arange(4), 5)
    assert BS.bootstrap_accuracy_ci(np.zeros(20), "mean_per_class", labels) == (0.0, 0.0)
    with pytest.raises(ValueError):
        BS.bootstrap_accuracy_ci(np.ones(1))
    with pytest.raises(ValueError):
        BS.bootstrap_accuracy_ci(np.ones(10), "mean_per_class")
    with pytest.raises(ValueError):
        BS.bootstrap_accuracy_ci(np.array([1.0, np.nan, 0.0]))
    with pytest.raises(ValueError):
        BS.bootstrap_accuracy_ci(np.ones(10), method="studentized")
    with pytest.raises(ValueError):  # a class of one image has no jackknife in stratified BCa
        BS.bootstrap_accuracy_ci(np.array([1.0, 0, 1, 0, 1]), "mean_per_class", np.array([0, 0, 1, 1, 2]),
                                method="BCa")


def test_imagenet_size_is_fast_and_sane():
    """2,000 resamples of 50,000 images: seconds, and the width matches the binomial standard error."""
    x = np.random.default_rng(8).random(50_000) < 0.76
    t = time.perf_counter()
    lo, hi = BS.bootstrap_accuracy_ci(x, n_resamples=B, seed=0)
    elapsed = time.perf_counter() - t
    p = x.mean()
    assert lo < p < hi
    expected = 2 * 1.959964 * np.sqrt(p * (1 - p) / x.size)
    assert abs((hi - lo) / expected - 1) < 0.1  # percentile width of 2000 resamples: a few % Monte Carlo error
    assert elapsed < 20, elapsed  # ~1 s on one core; generous for a shared machine


# ---------------------------------------------------------------------------------------------- correlations


SCIPY_CORR = {"pearson": st.pearsonr, "spearman": st.spearmanr, "kendall": st.kendalltau}


def scipy_corr_stat(kind):
    if kind == "pearson":
        return lambda a, b, axis=-1: st.pearsonr(a, b, axis=axis).statistic, True
    return (lambda a, b: SCIPY_CORR[kind](a, b).statistic), False


def corr_data(n=20, seed=2):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return x, 0.6 * x + rng.normal(size=n)


@pytest.mark.parametrize("kind", S.CORRELATIONS)
def test_correlation_equals_scipy(kind):
    x, y = corr_data()
    y[:4] = y[4]  # ties
    res = SCIPY_CORR[kind](x, y)
    got = S.correlation(x, y, kind)
    assert got.statistic == res.statistic and got.pvalue == res.pvalue
    # non-finite pairs are dropped
    xn, yn = np.append(x, np.nan), np.append(y, 1.0)
    assert S.correlation(xn, yn, kind) == got


@pytest.mark.parametrize("kind", S.CORRELATIONS)
def test_correlation_rows_match_scipy_per_row(kind):
    rng = np.random.default_rng(3)
    x = np.round(rng.normal(size=(300, 12)), 1)  # rounding makes ties; rows with repeats as in resamples
    y = np.round(0.5 * x + rng.normal(size=(300, 12)), 1)
    x[:5] = 1.0  # constant rows -> NaN
    got = S.correlation_rows(x, y, kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = np.array([SCIPY_CORR[kind](a, b).statistic for a, b in zip(x, y)])
    assert np.isnan(got[:5]).all() and np.isnan(ref[:5]).all()
    np.testing.assert_allclose(got[5:], ref[5:], **ROUNDING)


@pytest.mark.parametrize("kind", S.CORRELATIONS)
@pytest.mark.parametrize("method", ["percentile", "BCa"])
def test_correlation_ci_equals_scipy_bootstrap(kind, method):
    x, y = corr_data()
    ci = S.correlation_ci(x, y, kind, B, 0.95, seed=5, method=method)
    assert (ci.n, ci.n_resamples, ci.n_degenerate, ci.reason) == (20, B, 0, "")
    # scipy with its own correlation as the statistic: equal up to rounding of the statistic
    stat, vectorized = scipy_corr_stat(kind)
    (lo, hi), dist = scipy_ci((x, y), stat, method, seed=5, paired=True, vectorized=vectorized)
    if method == "BCa":
        assert clear_of_estimate(dist, SCIPY_CORR[kind](x, y).statistic)
    np.testing.assert_allclose((ci.low, ci.high), (lo, hi), **ROUNDING)
    # scipy with our vectorised statistic: the same computation, so the same floats
    (lo, hi), _ = scipy_ci((x, y), lambda a, b, axis=-1: S.correlation_rows(a, b, kind), method, seed=5,
                           paired=True, vectorized=True)
    np.testing.assert_allclose((ci.low, ci.high), (lo, hi), **IDENTICAL)
    ci7 = S.correlation_ci(x, y, kind, B, 0.95, seed=5, method=method, batch=7)
    assert (ci7.low, ci7.high) == (ci.low, ci.high)


def loop_distribution(x, y, kind, seed):
    """Plain loop over resamples drawn like scipy.stats.bootstrap's (one (B, n) integer draw)."""
    idx = np.random.default_rng(seed).integers(0, x.size, (B, x.size))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant-input warnings: those resamples are NaN
        return np.array([SCIPY_CORR[kind](x[i], y[i]).statistic for i in idx])


@pytest.mark.parametrize("kind", ["pearson", "kendall"])
def test_degenerate_resamples_are_left_out(kind):
    rng = np.random.default_rng(4)
    # two 1s in 15: ~12% of resamples have constant x, but no leave-one-out sample does; n = 15 makes a
    # resample that is a permutation of the data (its correlation the estimate itself) improbable (3e-6 each)
    x = np.zeros(15)
    x[[3, 9]] = 1.0
    y = x + rng.normal(scale=0.5, size=x.size)
    dist = loop_distribution(x, y, kind, seed=6)
    finite = dist[np.isfinite(dist)]
    assert 0 < dist.size - finite.size < B
    ci = S.correlation_ci(x, y, kind, B, 0.95, seed=6, method="percentile")
    assert ci.n_degenerate == dist.size - finite.size and ci.reason == ""
    np.testing.assert_allclose((ci.low, ci.high), np.quantile(finite, [0.025, 0.975]), **ROUNDING)
    # BCa by hand on the finite resamples (Efron & Tibshirani eqs. 14.14-14.15)
    theta = SCIPY_CORR[kind](x, y).statistic
    assert clear_of_estimate(finite, theta)
    z0 = ndtri((np.sum(finite < theta) + np.sum(finite <= theta)) / (2 * finite.size))
    jack = np.array([SCIPY_CORR[kind](np.delete(x, i), np.delete(y, i)).statistic for i in range(x.size)])
    u = jack.mean() - jack
    a = np.sum(u ** 3) / (6 * np.sum(u ** 2) ** 1.5)
    z = ndtri(0.025)
    levels = [ndtr(z0 + (z0 + s * z) / (1 - a * (z0 + s * z))) for s in (1, -1)]
    ci = S.correlation_ci(x, y, kind, B, 0.95, seed=6, method="BCa")
    np.testing.assert_allclose((ci.low, ci.high), np.quantile(finite, levels), **ROUNDING)


def test_correlation_edge_cases():
    ci = S.correlation_ci([1.0, 2.0], [2.0, 1.0])
    assert np.isnan(ci.low) and np.isnan(ci.high) and ci.n == 2 and "< 3" in ci.reason
    ci = S.correlation_ci([1.0, 2.0, np.nan, 4.0], [1.0, 3.0, 2.0, np.nan])
    assert ci.n == 2 and np.isnan(ci.low)
    assert all(np.isnan(S.correlation([1.0, 2.0], [2.0, 1.0])))
    const = np.full(6, 0.5)
    y = np.arange(6.0)
    assert all(np.isnan(S.correlation(const, y, "spearman")))
    ci = S.correlation_ci(const, y, "kendall")
    assert np.isnan(ci.low) and "constant" in ci.reason
    # a leave-one-out sample with constant x: BCa is undefined, the percentile interval is not
    x = np.array([0.0, 0.0, 0.0, 0.0, 1.0])
    assert "leave-one-out" in S.correlation_ci(x, y[:5], method="BCa").reason
    assert np.isfinite(S.correlation_ci(x, y[:5]).low)
    with pytest.raises(ValueError):
        S.correlation_ci(y, y, "distance")


# ------------------------------------------------------------------------------------------------ paired tests


def test_paired_test_equals_scipy():
    rng = np.random.default_rng(10)
    a = rng.uniform(0.3, 0.7, 30)
    b = a - rng.normal(0.02, 0.03, 30)
    w = S.paired_test(a, b, "wilcoxon")
    ref = st.wilcoxon(a, b)
    assert (w["statistic"], w["pvalue"]) == (ref.statistic, ref.pvalue)
    d = a - b
    s = S.paired_test(a, b, "sign")
    ref = st.binomtest(int(np.sum(d > 0)), d.size, 0.5)
    assert s["pvalue"] == ref.pvalue and s["statistic"] == np.sum(d > 0)
    assert (s["n"], s["n_pos"] + s["n_neg"], s["n_ties"]) == (30, 30, 0)
    assert s["mean_diff"] == pytest.approx(np.mean(d), abs=1e-15)


def test_paired_test_ties():
    rng = np.random.default_rng(11)
    a = rng.uniform(0.3, 0.7, 20)
    b = a - rng.normal(0.01, 0.03, 20)
    b[:3] = a[:3]                        # exact ties
    b[3] = a[3] + 3e-17                  # round-off ties: within 1e-12
    b[4] = np.nan                        # dropped
    d = a - b
    nz = d[5:]
    for test in ("wilcoxon", "sign"):
        r = S.paired_test(a, b, test)
        assert (r["n"], r["n_ties"], r["n_pos"] + r["n_neg"]) == (19, 4, 15)
    assert S.paired_test(a, b, "wilcoxon")["pvalue"] == st.wilcoxon(nz).pvalue
    assert S.paired_test(a, b, "sign")["pvalue"] == st.binomtest(int(np.sum(nz > 0)), nz.size).pvalue
    # all ties: undefined test
    r = S.paired_test([0.5, 0.2, 0.1], [0.5, 0.2 + 1e-15, 0.1], "wilcoxon")
    assert np.isnan(r["pvalue"]) and r["n"] == 3 and r["n_ties"] == 3 and r["mean_diff"] == 0.0
    r = S.paired_test([], [], "sign")
    assert np.isnan(r["pvalue"]) and r["n"] == 0 and np.isnan(r["mean_diff"])
    # +0.1 and -0.1 gains: the mean is round-off, reported as 0
    r = S.paired_test([0.3, 0.7], [0.2, 0.8], "sign")
    assert r["mean_diff"] == 0.0 and r["pvalue"] == 1.0


# ------------------------------------------------------------------------------------------- rank agreement


def test_kendalls_w_hand_examples():
    # ranks (rater x item): column rank sums 4, 6, 8, 12, S = 35, W = 12*35 / (9 * 60) = 7/9, chi2 = 3*3*W = 7
    m = np.array([[1, 2, 3, 4], [2, 1, 3, 4], [1, 3, 2, 4]], dtype=float)
    w = S.kendalls_w(m)
    assert w.w == pytest.approx(7 / 9, rel=1e-14) and w.chi2 == pytest.approx(7.0, rel=1e-14)
    assert w.pvalue == pytest.approx(st.chi2.sf(7.0, 3), rel=1e-12) and (w.m, w.n) == (3, 4)
    # one rater ties two items (ranks 1.5, 1.5): T = 6, rank sums 3.5, 5.5, 9, 12, S = 42.5,
    # W = 12*42.5 / (9*60 - 3*6) = 85/87
    m = np.array([[0.1, 0.1, 0.3, 0.4], [1, 2, 3, 4], [10, 20, 30, 40]])
    assert S.kendalls_w(m).w == pytest.approx(85 / 87, rel=1e-14)
    assert S.kendalls_w(np.tile(np.arange(5.0), (4, 1))).w == pytest.approx(1.0, rel=1e-14)
    assert np.isnan(S.kendalls_w(np.ones((3, 4))).w)
    assert np.isnan(S.kendalls_w(np.arange(4.0)[None]).w)
    # a NaN item is left out
    m = np.array([[1, 2, 3, 4, 9], [2, 1, 3, 4, np.nan], [1, 3, 2, 4, 1]], dtype=float)
    assert S.kendalls_w(m).n == 4 and S.kendalls_w(m).w == pytest.approx(7 / 9, rel=1e-14)


def test_kendalls_w_equals_friedman():
    rng = np.random.default_rng(12)
    m = np.round(rng.normal(size=(6, 9)) + np.arange(9) * 0.3, 1)  # ties from rounding
    m[0, :3] = 0.0
    w = S.kendalls_w(m)
    ref = st.friedmanchisquare(*m.T)  # items are Friedman's treatments, raters its blocks
    # same closed form in another order of operations on half-integer ranks: rounding only
    assert w.chi2 == pytest.approx(ref.statistic, rel=1e-12)
    assert w.chi2 == pytest.approx(6 * 8 * w.w, rel=1e-14)
    assert w.pvalue == pytest.approx(ref.pvalue, rel=1e-10)


def test_mean_pairwise_tau():
    m = np.array([[1, 2, 3, 4], [2, 1, 3, 4], [1, 3, 2, 4]], dtype=float)
    # taus by hand: (r1, r2) 2/3, (r1, r3) 2/3, (r2, r3) 1/3
    assert S.mean_pairwise_tau(m) == pytest.approx(5 / 9, rel=1e-14)
    rng = np.random.default_rng(13)
    m = np.round(rng.normal(size=(5, 8)), 1)
    m[2] = 0.3  # a constant rater: its pairs are skipped
    taus = [st.kendalltau(m[i], m[j]).statistic for i in range(5) for j in range(i + 1, 5) if 2 not in (i, j)]
    assert S.mean_pairwise_tau(m) == pytest.approx(np.mean(taus), rel=1e-14)
    assert np.isnan(S.mean_pairwise_tau(np.ones((1, 4))))


def test_topk_overlap():
    ref = pd.Series({"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.6})
    other = pd.Series({"d": 0.7, "c": 0.9, "b": 0.8, "a": 0.1, "e": 1.0})  # e: not in ref, left out
    assert S.topk_overlap(ref, other, 2) == 0.5      # {a, b} vs {c, b}
    assert S.topk_overlap(ref, other, 4) == 1.0
    assert S.topk_overlap(ref, ref, 1) == 1.0
    # ties by name: the top 1 of {y: .5, x: .5} is x
    ref = pd.Series({"y": 0.5, "x": 0.5, "z": 0.1})
    assert S.topk_overlap(ref, pd.Series({"x": 0.2, "y": 0.1, "z": 0.0}), 1) == 1.0
    assert S.topk_overlap(ref, pd.Series({"x": 0.1, "y": 0.2, "z": 0.0}), 1) == 0.0
    # arrays: ties by position, the first wins
    assert S.topk_overlap([0.5, 0.5, 0.1], [0.1, 0.9, 0.2], 1) == 0.0
    assert S.topk_overlap([0.5, 0.5, 0.1], [0.9, 0.1, 0.2], 1) == 1.0
    assert S.topk_overlap([0.9, np.nan, 0.5, 0.1], [0.9, 0.8, 0.1, 0.5], 2) == 0.5
    for k in (0, 5, 1.5):
        with pytest.raises(ValueError):
            S.topk_overlap([1, 2, 3, 4], [1, 2, 3, 4], k)


# ----------------------------------------------------------------------------------------------- tidy tables


def acc_matrix(n_arch=9, datasets=("d1", "d2", "d3"), seed=14):
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.4, 0.7, n_arch)
    data = {ds: base + rng.normal(scale=0.05 * (i + 1), size=n_arch) for i, ds in enumerate(datasets)}
    return pd.DataFrame(data, index=[f"arch{i}" for i in range(n_arch)])


def test_correlation_table():
    m = acc_matrix()
    m.loc["arch0", "d3"] = np.nan
    fam = pd.Series({**{f"arch{i}": "resnet" for i in range(5)}, **{f"arch{i}": "mbv2" for i in range(5, 7)},
                     "arch7": "vit", "arch8": "vit", "other": "resnet"})
    t = S.correlation_table(m, n_resamples=300, seed=1, families=fam)
    assert list(t.columns) == S.CORRELATION_COLUMNS
    assert set(t["family"]) == {"all", "resnet"}  # mbv2 and vit have < 3 archs
    assert len(t) == 2 * 6 * 3                       # groups x ordered pairs x kinds
    r = t.set_index(["family", "kind", "dataset_a", "dataset_b"])
    for family, archs in (("all", list(m.index)), ("resnet", [f"arch{i}" for i in range(5)])):
        for kind in S.CORRELATIONS:
            for a, b in (("d1", "d2"), ("d1", "d3"), ("d2", "d3")):
                pair = m.loc[archs, [a, b]].dropna()
                ref = SCIPY_CORR[kind](pair[a], pair[b])
                row, back = r.loc[(family, kind, a, b)], r.loc[(family, kind, b, a)]
                assert row["value"] == ref.statistic and row["pvalue"] == ref.pvalue and row["n"] == len(pair)
                ci = S.correlation_ci(pair[a], pair[b], kind, 300, 0.95, BS.stable_seed(1, family, a, b))
                assert (row["ci_lo"], row["ci_hi"]) == (ci.low, ci.high)
                assert (back["ci_lo"], back["ci_hi"], back["value"]) == (row["ci_lo"], row["ci_hi"], row["value"])
    # deterministic; another dataset leaves the other pairs' intervals alone; another seed changes them
    m4 = m.assign(d4=acc_matrix(seed=15)["d1"])
    t4 = S.correlation_table(m4, n_resamples=300, seed=1, families=fam)
    same = t4[(t4.dataset_a != "d4") & (t4.dataset_b != "d4")].reset_index(drop=True)
    pd.testing.assert_frame_equal(same, t)
    pd.testing.assert_frame_equal(S.correlation_table(m, n_resamples=300, seed=1, families=fam), t)
    t2 = S.correlation_table(m, n_resamples=300, seed=2, families=fam)
    assert not np.array_equal(t2["ci_lo"].to_numpy(), t["ci_lo"].to_numpy())


def test_correlation_table_small_groups():
    m = acc_matrix(n_arch=4)
    m.loc[["arch0", "arch1"], "d2"] = np.nan
    t = S.correlation_table(m, kinds=["spearman"], n_resamples=100)
    row = t[(t.dataset_a == "d1") & (t.dataset_b == "d2")].iloc[0]
    assert row["n"] == 2 and np.isnan(row["value"]) and np.isnan(row["ci_lo"]) and "< 3" in row["reason"]


def long_rows(seed=16):
    rng = np.random.default_rng(seed)
    rows = []
    for a in range(8):
        for ds in ("d1", "d2"):
            base = rng.uniform(0.2, 0.5)
            rows.append({"method": "random", "arch": f"a{a}", "dataset": ds, "value": base})
            gain = 0.0 if (ds == "d2" and a < 3) else rng.normal(0.05, 0.05)
            rows.append({"method": "simclr", "arch": f"a{a}", "dataset": ds, "value": base + gain})
            rows.append({"method": "byol", "arch": f"a{a}", "dataset": ds, "value": 0.9})
    return pd.DataFrame(rows)


def test_honesty_stats_table():
    rows = long_rows()
    t = S.honesty_stats_table(rows, "simclr", "random", n_resamples=B, seed=3)
    assert list(t.columns) == S.HONESTY_STATS_COLUMNS and len(t) == 4
    w = rows.pivot_table(index="arch", columns=["method", "dataset"], values="value")
    for ds in ("d1", "d2"):
        a, b = w[("simclr", ds)].to_numpy(), w[("random", ds)].to_numpy()
        d = np.where(np.abs(a - b) < 1e-12, 0.0, a - b)
        (lo, hi), _ = scipy_ci((d,), np.mean, "percentile", seed=BS.stable_seed(3, "honesty", "simclr", "random", ds))
        for test in ("wilcoxon", "sign"):
            row = t[(t.dataset == ds) & (t.test == test)].iloc[0]
            ref = S.paired_test(a, b, test)
            assert (row["n"], row["wins"], row["losses"], row["ties"]) == (8, ref["n_pos"], ref["n_neg"], ref["n_ties"])
            assert row["pvalue"] == ref["pvalue"] and row["statistic"] == ref["statistic"]
            assert row["mean_diff"] == pytest.approx(np.mean(a - b), abs=1e-15)
            np.testing.assert_allclose((row["ci_lo"], row["ci_hi"]), (lo, hi), **IDENTICAL)
    assert t[t.dataset == "d2"]["ties"].iloc[0] == 3
    pvals = t[(t.dataset == "d1") & (t.test == "wilcoxon")]["pvalue"].iloc[0]
    assert pvals == st.wilcoxon(w[("simclr", "d1")], w[("random", "d1")]).pvalue
    with pytest.raises(ValueError):
        S.honesty_stats_table(pd.concat([rows, rows.iloc[:1]]), "simclr", "random")


def test_honesty_stats_small_and_constant():
    rows = pd.DataFrame([{"method": "m", "arch": "a0", "dataset": "d", "value": 0.5},
                         {"method": "b", "arch": "a0", "dataset": "d", "value": 0.4},
                         {"method": "m", "arch": "a0", "dataset": "e", "value": 0.5},
                         {"method": "b", "arch": "a0", "dataset": "e", "value": 0.5},
                         {"method": "m", "arch": "a1", "dataset": "e", "value": 0.6},
                         {"method": "b", "arch": "a1", "dataset": "e", "value": 0.6}])
    t = S.honesty_stats_table(rows, "m", "b", tests=["sign"], n_resamples=100, ci_method="BCa")
    d, e = t[t.dataset == "d"].iloc[0], t[t.dataset == "e"].iloc[0]
    assert d["n"] == 1 and np.isnan(d["ci_lo"]) and d["pvalue"] == 1.0
    assert e["ties"] == 2 and np.isnan(e["pvalue"]) and (e["ci_lo"], e["ci_hi"]) == (0.0, 0.0)


def test_stable_seed_and_torch_free():
    assert BS.stable_seed(0, "all", "d1", "d2") == BS.stable_seed(0, "all", "d1", "d2")
    assert BS.stable_seed(0, "all", "d1", "d2") != BS.stable_seed(1, "all", "d1", "d2")
    # pinned: SHA-256 of the keys, the same on every machine and Python version
    assert BS.stable_seed(0, "all", "d1", "d2") == 0x3A3965D17E696803
    code = ("import sys, archssl.analysis.stats, archssl.evaluate.bootstrap; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(ROOT / "src")})
