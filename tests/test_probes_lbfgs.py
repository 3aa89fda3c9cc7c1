"""The standard-protocol probe ``lbfgs_logreg`` against scikit-learn, and its input errors."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from archssl.evaluate.probes.base import RESULT_KEYS, ProbeInputError, make_probe
from archssl.catalog.probes import PROBES, ProbeConfigError
from archssl.evaluate.probes.lbfgs import fit_logreg, l2_grid, l2_to_C
from archssl.evaluate.probes.lbfgs import near_best
from archssl.registry import RegistryError


def blobs(n, d=12, k=4, seed=0, sep=1.0, offset=0.5, scale=None):
    """Gaussian class means + anisotropic noise, shifted (so the intercept matters)."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(k, d)) * sep
    scale = np.linspace(0.5, 2.0, d) if scale is None else scale

    def draw(m, s):
        r = np.random.default_rng(s)
        y = np.arange(m) % k  # every class present
        r.shuffle(y)
        X = means[y] + r.normal(size=(m, d)) * scale + offset
        return X.astype(np.float32), y

    return draw, means


def sk_fit(X, y, C, multilabel=False):
    kw = dict(C=C, solver="lbfgs", tol=1e-12, max_iter=100000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if multilabel:
            coefs, ints = [], []
            for c in range(y.shape[1]):
                m = LogisticRegression(**kw).fit(X.astype(np.float64), y[:, c])
                coefs.append(m.coef_[0])
                ints.append(m.intercept_[0])
            return np.array(coefs).T, np.array(ints)
        m = LogisticRegression(**kw).fit(X.astype(np.float64), y)
    return m.coef_.T, m.intercept_


def objective(X, y, W, b, l2):
    """Our objective in float64 numpy (independent of the torch code): mean CE + l2/2 ||W||^2."""
    Z = X.astype(np.float64) @ W + b
    m = Z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(Z - m).sum(axis=1, keepdims=True)))[:, 0]
    return float((lse - Z[np.arange(len(y)), y]).mean() + 0.5 * l2 * (W**2).sum())


@pytest.mark.parametrize("l2", [1e-1, 1e-2, 1e-3])
@pytest.mark.parametrize("dtype, rtol", [("float64", 2e-5), ("float32", 5e-4)])
def test_coefficients_match_sklearn_multinomial(l2, dtype, rtol):
    """loss = mean CE + l2/2 ||W||^2  <=>  sklearn C = 1/(n*l2), intercept unpenalised.

    Tolerance: max |W - W_sklearn| <= rtol * max |W_sklearn| with rtol 2e-5 (float64 products) or 5e-4
    (float32 products), both solvers run to tight tolerances.
    """
    draw, _ = blobs(0, d=10, k=4, seed=1)
    X, y = draw(600, 11)
    n = X.shape[0]
    W, b, info = fit_logreg(X, y, 4, l2, dtype=dtype, tol=1e-10, max_iter=5000)
    Ws, bs = sk_fit(X, y, l2_to_C(l2, n))
    scale = np.abs(Ws).max()
    assert np.abs(W - Ws).max() <= rtol * scale, (np.abs(W - Ws).max(), scale, info)
    # b is defined up to a constant shift under softmax: compare centred
    assert np.abs((b - b.mean()) - (bs - bs.mean())).max() <= rtol * max(1.0, np.abs(bs).max())
    # the penalised optimum has class-mean-free weights (sum over classes is 0)
    assert np.abs(W.sum(axis=1)).max() <= 1e-3 * scale


@pytest.mark.parametrize("l2", [1e-1, 1e-3])
def test_more_features_than_samples_match_sklearn(l2):
    """n < d (1280-d MobileNetV2 features of a few hundred images): the preconditioner keeps only the
    covariance's range; the optimum must not change. Nearly separable data at weak l2 leave flat directions,
    so the check is the objective (ours at most 1e-7 above scikit-learn's tight optimum, relative) and the
    weights within 2e-4 of scikit-learn's largest."""
    draw, _ = blobs(0, d=80, k=4, seed=2)
    X, y = draw(40, 5)
    W, b, info = fit_logreg(X, y, 4, l2, dtype="float64", tol=1e-10, max_iter=5000)
    Ws, bs = sk_fit(X, y, l2_to_C(l2, X.shape[0]))
    ours, theirs = objective(X, y, W, b, l2), objective(X, y, Ws, bs, l2)
    assert ours <= theirs * (1 + 1e-7), (ours, theirs, info)
    scale = np.abs(Ws).max()
    assert np.abs(W - Ws).max() <= 2e-4 * scale, (np.abs(W - Ws).max(), scale, info)


def test_weakly_regularised_optimum_at_least_as_good_as_sklearn():
    """At l2 = 1e-5 the problem is badly conditioned and sklearn (tol=1e-12) itself stops a little short:
    our float64 optimum must reach an objective no worse than sklearn's, and agree to 1e-4 relative."""
    draw, _ = blobs(0, d=10, k=4, seed=1)
    X, y = draw(600, 11)
    l2 = 1e-5
    W, b, info = fit_logreg(X, y, 4, l2, dtype="float64", tol=1e-12, step_tol=0.0, ftol=0.0, max_iter=5000)
    Ws, bs = sk_fit(X, y, l2_to_C(l2, len(y)))
    assert objective(X, y, W, b, l2) <= objective(X, y, Ws, bs, l2) + 1e-12
    assert np.abs(W - Ws).max() <= 1e-4 * np.abs(Ws).max()


def test_coefficients_match_sklearn_multilabel_ovr():
    rng = np.random.default_rng(5)
    n, d, k = 500, 8, 3
    X = rng.normal(size=(n, d)).astype(np.float32) + 0.3
    logits = X @ rng.normal(size=(d, k)) + rng.normal(size=k)
    Y = (logits + rng.logistic(size=(n, k)) > 0).astype(np.float32)
    l2 = 3e-3
    W, b, _ = fit_logreg(X, Y, k, l2, dtype="float64", tol=1e-10, max_iter=5000)
    Ws, bs = sk_fit(X, Y, l2_to_C(l2, n), multilabel=True)
    np.testing.assert_allclose(W, Ws, atol=2e-5 * np.abs(Ws).max())
    np.testing.assert_allclose(b, bs, atol=2e-5 * max(1, np.abs(bs).max()))


def test_binary_mapping_to_sklearn():
    """K=2: symmetric softmax solution, W[:,1]-W[:,0] equals sklearn's binomial w at C = 2/(n*l2)."""
    draw, _ = blobs(0, d=6, k=2, seed=3)
    X, y = draw(400, 4)
    l2 = 1e-2
    W, b, _ = fit_logreg(X, y, 2, l2, dtype="float64", tol=1e-10, max_iter=5000)
    ws, bs = sk_fit(X, y, 2.0 / (X.shape[0] * l2))
    np.testing.assert_allclose(W[:, 1] - W[:, 0], ws[:, 0], atol=2e-5 * np.abs(ws).max())
    np.testing.assert_allclose(b[1] - b[0], bs[0], atol=2e-5 * max(1, abs(bs[0])))


def sklearn_sweep(train, val, test, l2s):
    """What a user would do with scikit-learn: loop over C, same selection rule, refit on train+val."""
    (Xtr, ytr), (Xva, yva), (Xte, yte) = train, val, test
    accs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for l2 in l2s:
            m = LogisticRegression(C=l2_to_C(l2, len(ytr)), tol=1e-10, max_iter=20000).fit(Xtr, ytr)
            accs.append(float((m.predict(Xva) == yva).mean()))
        best = int(np.argmax(np.array(accs) > max(accs) - 1e-12))  # first (strongest) of the ties
        Xall, yall = np.concatenate([Xtr, Xva]), np.concatenate([ytr, yva])
        m = LogisticRegression(C=l2_to_C(l2s[best], len(yall)), tol=1e-10, max_iter=20000).fit(Xall, yall)
    return accs, best, float((m.predict(Xte) == yte).mean())


def test_sweep_matches_sklearn_and_result_format():
    draw, _ = blobs(0, d=20, k=5, seed=7, sep=0.45)
    train, val, test = draw(800, 1), draw(400, 2), draw(400, 3)
    probe = make_probe("lbfgs_logreg", num_l2=12, l2_min=1e-5, l2_max=1e1, tol=1e-7)
    res = probe.fit_evaluate(train=train, val=val, test=test, num_classes=5, metric="top1", source="mem.h5")
    json.dumps(res)  # JSON-serialisable
    for key in RESULT_KEYS:
        assert key in res
    assert res["probe"] == "lbfgs_logreg" and res["metric"] == "top1"
    assert res["n_train"] == 800 and res["n_val"] == 400 and res["n_test"] == 400
    assert res["value"] == res["test"]["top1"] and "mean_per_class" in res["test"]
    l2s = [c["l2"] for c in res["val_curve"]]
    assert l2s == pytest.approx(l2_grid(12, 1e-5, 1e1)) and l2s[0] > l2s[-1]
    assert all(c["converged"] for c in res["val_curve"])
    accs, best, sk_test = sklearn_sweep(train, val, test, l2s)
    ours = [c["val_top1"] for c in res["val_curve"]]
    # identical predictions up to a borderline sample or two per grid value
    assert np.abs(np.array(ours) - np.array(accs)).max() <= 2 / 400, (ours, accs)
    assert abs(res["test"]["top1"] - sk_test) <= 2 / 400
    assert 0.5 < res["value"] < 1.0  # informative task
    assert res["selected"]["l2"] == pytest.approx(l2s[best]) or abs(accs[best] - ours[best]) <= 2 / 400
    assert res["selected"]["refit_converged"]


def test_near_best_picks_the_closest_within_the_margin():
    vals = [0.50, 0.62, 0.61, float("nan"), 0.62, 0.60, 0.55, None]
    assert near_best(vals, 0.015, 5) == [1, 4, 2]  # ties: the earlier index first
    assert near_best(vals, 0.02, 2) == [1, 4]
    assert near_best(vals, 0.0, 5) == [1, 4]
    assert near_best(vals, 0.5, 0) == [] and near_best([float("nan")], 1.0, 3) == []


def test_near_best_values_are_resolved_tightly_before_selection():
    """A deliberately loose sweep (tol 1e-2): the near-best values are re-solved at tight_tol, so their
    validation accuracies, and the refit's test accuracy, are those of scikit-learn's exact optima."""
    draw, _ = blobs(0, d=20, k=5, seed=7, sep=0.45)
    train, val, test = draw(800, 1), draw(400, 2), draw(400, 3)
    kw = dict(num_l2=12, l2_min=1e-5, l2_max=1e1, tol=1e-2, step_tol=1e-2, dtype="float64")
    res = make_probe("lbfgs_logreg", tight_tol=1e-9, polish_max=3, **kw).fit_evaluate(
        train, val, test, num_classes=5, metric="top1")
    curve = res["val_curve"]
    polished = [i for i, c in enumerate(curve) if c.get("polished")]
    assert 1 <= len(polished) <= 3
    accs, sk_best, sk_test = sklearn_sweep(train, val, test, [c["l2"] for c in curve])
    for i in polished:
        assert curve[i]["val_top1"] == accs[i], (i, curve[i]["val_top1"], accs[i])
        assert curve[i]["converged"]
    # the polished values were the best of the sweep (within two validation images of its best)
    loose = make_probe("lbfgs_logreg", tight_tol=None, **kw).fit_evaluate(train, val, test, num_classes=5)
    first = [c["val_top1"] for c in loose["val_curve"]]
    assert not any(c.get("polished") for c in loose["val_curve"])
    assert all(first[i] >= max(first) - 2 / 400 - 1e-12 for i in polished)
    assert res["selected"]["index"] in polished or all(
        curve[res["selected"]["index"]]["val_top1"] > curve[i]["val_top1"] for i in polished)
    # on this problem the loose sweep overrates one value and picks it; polished, the choice is scikit-learn's
    assert loose["selected"]["index"] != sk_best and loose["test"]["top1"] != sk_test
    assert res["selected"]["index"] == sk_best and res["test"]["top1"] == sk_test
    # the refit at the selected value is solved tightly: scikit-learn's exact refit predicts the same
    (Xtr, ytr), (Xva, yva), (Xte, yte) = train, val, test
    Xall, yall = np.concatenate([Xtr, Xva]), np.concatenate([ytr, yva])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = LogisticRegression(C=l2_to_C(res["selected"]["l2"], len(yall)), tol=1e-10, max_iter=20000)
        m.fit(Xall, yall)
    assert res["test"]["top1"] == float((m.predict(Xte) == yte).mean())


def test_metrics_and_multilabel_probe():
    rng = np.random.default_rng(9)
    n, d, k = 900, 10, 4
    X = rng.normal(size=(n, d)).astype(np.float32)
    Y = (X @ rng.normal(size=(d, k)) + rng.logistic(size=(n, k)) > 0.5).astype(np.float32)
    probe = make_probe("lbfgs_logreg", num_l2=6, l2_min=1e-4, l2_max=1e1)
    res = probe.fit_evaluate(train=(X[:500], Y[:500]), val=(X[500:700], Y[500:700]), test=(X[700:], Y[700:]),
                             num_classes=k, metric="map11")
    assert res["multilabel"] and res["metric"] == "map11"
    assert res["value"] == res["test"]["map11"] and 0.6 < res["value"] <= 1.0
    # single-label with a non-default metric: value is that metric
    draw, _ = blobs(0, d=8, k=3, seed=2)
    res = make_probe("lbfgs_logreg", num_l2=5, l2_min=1e-3, l2_max=1e1).fit_evaluate(
        draw(300, 1), draw(100, 2), draw(100, 3), num_classes=3, metric="mean_per_class")
    assert res["value"] == res["test"]["mean_per_class"] and "map11" not in res["test"]
    assert all("val_metric" in c and "val_top1" in c for c in res["val_curve"])


def test_holdout_when_val_missing():
    draw, _ = blobs(0, d=8, k=3, seed=4)
    res = make_probe("lbfgs_logreg", num_l2=4, l2_min=1e-3, l2_max=1e0, val_fraction=0.25).fit_evaluate(
        draw(400, 1), None, draw(100, 3), num_classes=3)
    assert res["val_source"] == "holdout" and res["n_val"] == 100 and res["n_train"] == 300


def test_input_errors_name_the_problem():
    draw, _ = blobs(0, d=6, k=3, seed=5)
    (Xtr, ytr), (Xva, yva), (Xte, yte) = draw(90, 1), draw(30, 2), draw(30, 3)
    probe = make_probe("lbfgs_logreg", num_l2=3)
    fit = probe.fit_evaluate
    bad = Xva.copy()
    bad[4, 2] = np.nan
    with pytest.raises(ProbeInputError, match=r"feats\.h5: val features contain NaN/inf"):
        fit((Xtr, ytr), (bad, yva), (Xte, yte), num_classes=3, source="feats.h5")
    bad = Xtr.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ProbeInputError, match="train features contain NaN/inf"):
        fit((bad, ytr), (Xva, yva), (Xte, yte), num_classes=3)
    keep = ytr != 2
    with pytest.raises(ProbeInputError, match=r"class\(es\) 2 present in val but missing from train"):
        fit((Xtr[keep], ytr[keep]), (Xva, yva), (Xte, yte), num_classes=3)
    with pytest.raises(ProbeInputError, match="X has 30 rows but y has 29"):
        fit((Xtr, ytr), (Xva, yva), (Xte, yte[:-1]), num_classes=3)
    with pytest.raises(ProbeInputError, match="feature dimension mismatch: train has D=6, test has D=5"):
        fit((Xtr, ytr), (Xva, yva), (Xte[:, :5], yte), num_classes=3)
    with pytest.raises(ProbeInputError, match=r"labels must lie in \[0, 3\)"):
        fit((Xtr, ytr + 1), (Xva, yva), (Xte, yte), num_classes=3)
    with pytest.raises(ProbeInputError, match="unknown metric"):
        fit((Xtr, ytr), (Xva, yva), (Xte, yte), num_classes=3, metric="top5")


def test_registry_and_config_errors():
    assert "lbfgs_logreg" in PROBES
    with pytest.raises(RegistryError, match="unknown probe 'nope'"):
        make_probe("nope")
    with pytest.raises(ProbeConfigError, match="'probe.params.l2_grid': unknown key"):
        make_probe("lbfgs_logreg", l2_grid=3)
    with pytest.raises(ProbeConfigError):
        make_probe("lbfgs_logreg", dtype="float16")
    with pytest.raises(ProbeConfigError, match="'probe.params.tight_tol': 0 is less than or equal to the minimum of 0"):
        make_probe("lbfgs_logreg", tight_tol=0)
    with pytest.raises(ProbeConfigError, match="'probe.params.polish_max': -1 is less than the minimum of 0"):
        make_probe("lbfgs_logreg", polish_max=-1)
    p = make_probe("lbfgs_logreg", l2_values=[1e-3, 1.0, 1e-1])
    assert p.grid() == [1.0, 1e-1, 1e-3]  # strongest first
    assert len(make_probe("lbfgs_logreg").grid()) == 45
    assert make_probe("lbfgs_logreg").grid()[0] == pytest.approx(1e5)
    assert make_probe("lbfgs_logreg").grid()[-1] == pytest.approx(1e-6)


def test_standardize_makes_the_probe_invariant_to_feature_scales():
    """standardize=True fits on z-scored features (stats of the rows fitted): rescaling and shifting the raw
    features per dimension must not change anything; without it the result does change."""
    draw, _ = blobs(0, d=8, k=3, seed=6, sep=0.5)
    tr, va, te = draw(300, 1), draw(100, 2), draw(100, 3)
    rng = np.random.default_rng(0)
    a, c = rng.uniform(0.01, 100, size=8).astype(np.float32), rng.normal(size=8).astype(np.float32) * 10
    warp = lambda s: (s[0] * a + c, s[1])  # noqa: E731
    kw = dict(num_l2=6, l2_min=1e-4, l2_max=1e1, dtype="float64", tol=1e-9)
    r1 = make_probe("lbfgs_logreg", standardize=True, **kw).fit_evaluate(tr, va, te, num_classes=3)
    r2 = make_probe("lbfgs_logreg", standardize=True, **kw).fit_evaluate(warp(tr), warp(va), warp(te), num_classes=3)
    assert [c["val_top1"] for c in r1["val_curve"]] == [c["val_top1"] for c in r2["val_curve"]]
    assert r1["test"] == r2["test"] and r1["selected"]["l2"] == r2["selected"]["l2"]
    r3 = make_probe("lbfgs_logreg", **kw).fit_evaluate(warp(tr), warp(va), warp(te), num_classes=3)
    assert [c["val_top1"] for c in r3["val_curve"]] != [c["val_top1"] for c in r1["val_curve"]]


def test_multilabel_input_errors():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    Y = (rng.random((60, 3)) < 0.4).astype(np.float32)
    Ytr = Y[:40].copy()
    Ytr[:, 2] = 0
    probe = make_probe("lbfgs_logreg", num_l2=2)
    with pytest.raises(ProbeInputError, match=r"class\(es\) 2 present in val but missing from train"):
        probe.fit_evaluate((X[:40], Ytr), (X[40:50], Y[40:50]), (X[50:], Y[50:]), num_classes=3)
    with pytest.raises(ProbeInputError, match="multi-hot labels have 3 columns, expected 4"):
        probe.fit_evaluate((X[:40], Y[:40]), (X[40:50], Y[40:50]), (X[50:], Y[50:]), num_classes=4)
    with pytest.raises(ProbeInputError, match="mix single-label"):
        probe.fit_evaluate((X[:40], Y[:40]), (X[40:50], Y[40:50].argmax(1)), (X[50:], Y[50:]), num_classes=3)


def test_num_classes_inferred_when_none():
    draw, _ = blobs(0, d=6, k=3, seed=8)
    res = make_probe("lbfgs_logreg", num_l2=3).fit_evaluate(draw(90, 1), draw(30, 2), draw(30, 3), num_classes=None)
    assert res["num_classes"] == 3
    with pytest.raises(ProbeInputError, match="num_classes must be an integer >= 2"):
        make_probe("lbfgs_logreg", num_l2=3).fit_evaluate(draw(90, 1), draw(30, 2), draw(30, 3), num_classes=1)


def scipy_reference(X, y, k, l2):
    """Independent reference: scipy L-BFGS-B on the same objective (float64 numpy), in coordinates rescaled
    by each feature's standard deviation around its mean (an exact change of variables that makes
    scipy converge on badly scaled features)."""
    from scipy.optimize import minimize

    X = X.astype(np.float64)
    mu, sd = X.mean(0), X.std(0)
    Xs = (X - mu) / sd
    n, d = X.shape
    Y = np.eye(k)[y]

    def fg(v):
        V, c = v[: d * k].reshape(d, k), v[d * k:]
        W = V / sd[:, None]
        Z = Xs @ V + c
        Z -= Z.max(1, keepdims=True)
        P = np.exp(Z)
        P /= P.sum(1, keepdims=True)
        loss = -np.log(P[np.arange(n), y]).mean() + 0.5 * l2 * (W**2).sum()
        G = (P - Y) / n
        gV = Xs.T @ G + l2 * W / sd[:, None]
        return loss, np.concatenate([gV.ravel(), G.sum(0)])

    res = minimize(fg, np.zeros(d * k + k), jac=True, method="L-BFGS-B",
                   options={"maxiter": 20000, "gtol": 1e-12, "ftol": 1e-15, "maxcor": 30})
    V, c = res.x[: d * k].reshape(d, k), res.x[d * k:]
    W = V / sd[:, None]
    return W, c - mu @ W


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_tiny_variation_on_large_offset_reaches_the_optimum(dtype):
    """Collapsed-looking features (a large constant + 1e-4-scale informative variation, like a collapsed SSL
    backbone): the solver must not stop at W = 0 just because raw gradients are tiny."""
    draw, _ = blobs(0, d=12, k=3, seed=12, sep=0.8)
    (Z, y), (Zv, yv) = draw(300, 1), draw(300, 2)
    offset = np.random.default_rng(0).uniform(0.1, 1.4, size=12).astype(np.float32)
    X, Xv = offset + 1e-4 * Z, offset + 1e-4 * Zv
    l2 = 1e-6
    W, b, info = fit_logreg(X, y, 3, l2, dtype=dtype)
    Wr, br = scipy_reference(X, y, 3, l2)
    f, fr = objective(X, y, W, b, l2), objective(X, y, Wr, br, l2)
    assert f <= fr + 1e-7 * abs(fr), (f, fr, info)
    acc = float(((Xv.astype(np.float64) @ W + b).argmax(1) == yv).mean())
    acc_ref = float(((Xv.astype(np.float64) @ Wr + br).argmax(1) == yv).mean())
    assert acc > 0.6 and abs(acc - acc_ref) <= 2 / 300
    assert np.abs(W - Wr).max() <= 1e-4 * np.abs(Wr).max(), np.abs(W - Wr).max() / np.abs(Wr).max()
