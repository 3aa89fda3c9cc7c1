"""kNN, SGD-linear and MLP probes against independent references; fit_many over feature files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier

from archssl.evaluate.featurestore import write_features
from archssl.evaluate.probes.base import RESULT_KEYS, make_probe
from archssl.catalog.probes import ProbeConfigError
from archssl.evaluate.probes.knn import knn_scores
from archssl.evaluate.probes.lbfgs import fit_logreg
from archssl.evaluate.probes.many import fit_many
from archssl.evaluate.probes.sgd import kfold_indices, train_sgd


def gauss(n, d=8, k=4, seed=0, sep=1.2):
    rng = np.random.default_rng(seed)
    means = np.random.default_rng(123).normal(size=(k, d)) * sep
    y = np.arange(n) % k
    rng.shuffle(y)
    return (means[y] + rng.normal(size=(n, d))).astype(np.float32), y


# ------------------------------------------------------------------------------------------------ kNN


def brute_knn(mem_X, mem_Y, q_X, k, T):
    """Plain loop: cosine similarity, top-k, votes exp(s/T), normalised (mem_Y one-hot or multi-hot)."""
    mn = mem_X / np.linalg.norm(mem_X, axis=1, keepdims=True)
    out = []
    for q in q_X:
        s = mn @ (q / np.linalg.norm(q))
        top = np.argsort(-s)[:k]
        w = np.exp(s[top] / T)
        out.append((w[:, None] * mem_Y[top]).sum(0) / w.sum())
    return np.array(out)


def test_knn_scores_match_sklearn_and_brute_force():
    Xm, ym = gauss(300, seed=1)
    Xq, _ = gauss(50, seed=2)
    k, T = 15, 0.1
    ours = knn_scores(Xm, ym, Xq, 4, k, T)
    sk = KNeighborsClassifier(n_neighbors=k, metric="cosine", algorithm="brute",
                              weights=lambda dist: np.exp((1.0 - dist) / T)).fit(Xm, ym)
    np.testing.assert_allclose(ours, sk.predict_proba(Xq), atol=1e-6)
    np.testing.assert_array_equal(ours.argmax(1), sk.predict(Xq))
    np.testing.assert_allclose(ours, brute_knn(Xm, np.eye(4)[ym], Xq, k, T), atol=1e-6)
    # multi-hot memory, and k larger than the memory is clamped
    Ym = (np.random.default_rng(3).random((300, 4)) < 0.3).astype(np.float32)
    np.testing.assert_allclose(knn_scores(Xm, Ym, Xq, 4, 7, 0.07), brute_knn(Xm, Ym, Xq, 7, 0.07), atol=1e-6)
    np.testing.assert_allclose(knn_scores(Xm[:20], ym[:20], Xq, 4, 500, 0.5),
                               brute_knn(Xm[:20], np.eye(4)[ym[:20]], Xq, 20, 0.5), atol=1e-6)
    # chunking does not change the result beyond float32 round-off: the chunks' matrix products are summed in
    # another order (2.2e-7 apart on an AMD EPYC, 0 on an Intel Xeon with AMX), so a bit-identity assertion
    # would hold on one CPU vendor only
    np.testing.assert_allclose(knn_scores(Xm, ym, Xq, 4, k, T, chunk_elems=600), ours, rtol=1e-5, atol=1e-6)


def test_knn_probe_selects_on_val_and_uses_train_plus_val_memory():
    tr, va, te = gauss(200, seed=4, sep=0.6), gauss(80, seed=5, sep=0.6), gauss(80, seed=6, sep=0.6)
    res = make_probe("knn", k=[1, 10, 40], temperature=0.1).fit_evaluate(tr, va, te, num_classes=4)
    json.dumps(res)
    assert all(key in res for key in RESULT_KEYS)
    for c in res["val_curve"]:
        ref = brute_knn(tr[0], np.eye(4)[tr[1]], va[0], c["k"], 0.1)
        assert c["val_top1"] == pytest.approx(float((ref.argmax(1) == va[1]).mean()))
    best = int(np.argmax([c["val_metric"] for c in res["val_curve"]]))
    assert res["selected"]["k"] == res["val_curve"][best]["k"]
    Xall, yall = np.concatenate([tr[0], va[0]]), np.concatenate([tr[1], va[1]])
    ref = brute_knn(Xall, np.eye(4)[yall], te[0], res["selected"]["k"], 0.1)
    assert res["test"]["top1"] == pytest.approx(float((ref.argmax(1) == te[1]).mean()))
    with pytest.raises(ProbeConfigError):
        make_probe("knn", k=0)


# ------------------------------------------------------------------------------------------------ SGD


def test_sgd_update_matches_torch_optim_sgd_nesterov_cosine():
    """Full-batch steps (order-free) against torch.optim.SGD(nesterov) + CosineAnnealingLR on nn.Linear,
    weight decay on the weight only."""
    X, y = gauss(64, d=5, k=3, seed=7)
    epochs, lr, mom, wd = 6, 0.5, 0.9, 1e-2
    ours = train_sgd(X, y, 3, [wd], epochs=epochs, batch_size=64, lr=lr, momentum=mom, seed=0)
    lin = torch.nn.Linear(5, 3)
    torch.nn.init.zeros_(lin.weight)
    torch.nn.init.zeros_(lin.bias)
    opt = torch.optim.SGD([{"params": [lin.weight], "weight_decay": wd}, {"params": [lin.bias], "weight_decay": 0.0}],
                          lr=lr, momentum=mom, nesterov=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=0.0)
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    for _ in range(epochs):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(lin(Xt), yt).backward()
        opt.step()
        sched.step()
    np.testing.assert_allclose(ours.params["W"].numpy(), lin.weight.detach().numpy().T, atol=2e-5)
    np.testing.assert_allclose(ours.params["b"].numpy(), lin.bias.detach().numpy(), atol=2e-5)


def test_mlp_update_matches_autograd():
    X, y = gauss(32, d=4, k=3, seed=8)
    H, epochs, lr, wd, seed = 6, 4, 0.3, 1e-3, 5
    ours = train_sgd(X, y, 3, [wd, 0.0], hidden=H, epochs=epochs, batch_size=32, lr=lr, momentum=0.9, seed=seed)
    for p_idx, w in enumerate([wd, 0.0]):
        gen = torch.Generator().manual_seed(seed)  # same draws as train_sgd's initialisation
        b1, b2 = 1 / math.sqrt(4), 1 / math.sqrt(H)
        W1 = ((torch.rand(4, H, generator=gen) * 2 - 1) * b1).requires_grad_()
        c1 = ((torch.rand(H, generator=gen) * 2 - 1) * b1).requires_grad_()
        W2 = ((torch.rand(H, 3, generator=gen) * 2 - 1) * b2).requires_grad_()
        c2 = ((torch.rand(3, generator=gen) * 2 - 1) * b2).requires_grad_()
        opt = torch.optim.SGD([{"params": [W1, W2], "weight_decay": w}, {"params": [c1, c2], "weight_decay": 0.0}],
                              lr=lr, momentum=0.9, nesterov=True)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
        Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
        for _ in range(epochs):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(torch.relu(Xt @ W1 + c1) @ W2 + c2, yt).backward()
            opt.step()
            sched.step()
        np.testing.assert_allclose(ours.params["W1"][:, p_idx * H:(p_idx + 1) * H].numpy(), W1.detach().numpy(), atol=2e-5)
        np.testing.assert_allclose(ours.params["W2"][p_idx].numpy(), W2.detach().numpy(), atol=2e-5)
        np.testing.assert_allclose(ours.params["b2"][p_idx].numpy(), c2.detach().numpy(), atol=2e-5)


def test_sgd_converges_to_the_lbfgs_optimum():
    """Convex problem: mini-batch SGD with weight decay wd and a cosine schedule reaches the L2-regularised
    optimum that L-BFGS computes for l2 = wd (bias undecayed in both)."""
    X, y = gauss(600, d=6, k=3, seed=9, sep=0.8)
    wd = 1e-2
    W, b, _ = fit_logreg(X, y, 3, wd, dtype="float64", tol=1e-9)
    m = train_sgd(X, y, 3, [wd], epochs=150, batch_size=50, lr=0.2, momentum=0.9, seed=1)
    Ws = m.params["W"].numpy()
    assert np.abs(Ws - W).max() <= 0.03 * np.abs(W).max()
    bs = m.params["b"].numpy()
    assert np.abs((bs - bs.mean()) - (b - b.mean())).max() <= 0.03 * max(1.0, np.abs(b).max())


def test_kfold_is_a_stratified_partition():
    y = np.repeat(np.arange(4), [30, 31, 32, 7])
    folds = kfold_indices(y, 3, seed=0)
    allidx = np.sort(np.concatenate(folds))
    np.testing.assert_array_equal(allidx, np.arange(len(y)))
    for f in folds:
        counts = np.bincount(y[f], minlength=4)
        assert np.all(np.abs(counts - np.bincount(y, minlength=4) / 3) <= 1)


def test_sgd_linear_probe_cv_and_mlp_beats_linear_on_xor():
    tr, va, te = gauss(240, seed=10, sep=0.7), gauss(90, seed=11, sep=0.7), gauss(90, seed=12, sep=0.7)
    res = make_probe("sgd_linear", epochs=15).fit_evaluate(tr, va, te, num_classes=4, metric="mean_per_class")
    json.dumps(res)
    assert all(key in res for key in RESULT_KEYS)
    assert [c["weight_decay"] for c in res["val_curve"]] == [1e-3, 1e-4, 1e-5, 0.0]
    assert all(len(c["fold_metrics"]) == 3 for c in res["val_curve"])
    assert res["selected"]["selection"] == "cv" and res["n_train"] == 240
    ref = make_probe("lbfgs_logreg", num_l2=8, l2_min=1e-4, l2_max=1e0).fit_evaluate(tr, va, te, num_classes=4)
    assert abs(res["test"]["top1"] - ref["test"]["top1"]) <= 0.08
    # XOR: no linear probe can do better than chance-ish; one hidden layer solves it
    rng = np.random.default_rng(0)

    def xor(n):
        Z = rng.uniform(-1, 1, size=(n, 2))
        return np.c_[Z, rng.normal(size=(n, 2)) * 0.1].astype(np.float32), ((Z[:, 0] > 0) ^ (Z[:, 1] > 0)).astype(int)

    tr, va, te = xor(400), xor(200), xor(200)
    lin = make_probe("sgd_linear", epochs=20).fit_evaluate(tr, va, te, num_classes=2)
    mlp = make_probe("mlp", epochs=60, hidden=32, lr=0.1).fit_evaluate(tr, va, te, num_classes=2)
    assert lin["test"]["top1"] < 0.7 and mlp["test"]["top1"] > 0.9
    assert mlp["selected"]["selection"] == "val" and len(mlp["val_curve"]) == 4


# ------------------------------------------------------------------------------------------------ fit_many


ATTRS = {"arch": "a1", "method": "simclr", "dataset": "toy", "preprocessing": {"size": 8},
         "code_version": "t", "config_hash": "h"}


def test_fit_many_one_result_per_tap_equal_to_direct_fits(tmp_path):
    paths = []
    for i in range(2):
        splits = {}
        for s, n, seed in (("train", 120, 1), ("val", 40, 2), ("test", 40, 3)):
            X, y = gauss(n, d=6, seed=seed + 10 * i, sep=0.8)
            splits[s] = {"features": {"shallow": X[:, :3].copy(), "deep": X}, "labels": y, "indices": np.arange(n)}
        paths.append(write_features(tmp_path / f"f{i}.h5", splits, {**ATTRS, "arch": f"a{i}"}))
    broken = tmp_path / "broken.h5"
    broken.write_bytes(b"garbage")
    params = {"num_l2": 5, "l2_min": 1e-3, "l2_max": 1e1}
    results = fit_many([*paths, broken], "lbfgs_logreg", params, on_error="record")
    assert [(r["source"], r["tap"]) for r in results] == [
        (str(paths[0]), "shallow"), (str(paths[0]), "deep"), (str(paths[1]), "shallow"), (str(paths[1]), "deep"),
        (str(broken), None)]
    assert "error" in results[-1] and "cannot open as HDF5" in results[-1]["error"]
    assert results[1]["arch"] == "a0" and results[3]["dataset"] == "toy" and results[0]["metric"] == "top1"
    from archssl.evaluate.featurestore import read_features

    fs = read_features(paths[1], tap="shallow")
    direct = make_probe("lbfgs_logreg", **params).fit_evaluate(fs.xy("train"), fs.xy("val"), fs.xy("test"), num_classes=4)
    assert results[2]["test"] == direct["test"] and results[2]["selected"]["l2"] == direct["selected"]["l2"]
    with pytest.raises(Exception, match="cannot open as HDF5"):
        fit_many([broken], "knn")
    only = fit_many(paths, "knn", {"k": 5}, taps="deep", num_classes={"toy": 4})
    assert [r["tap"] for r in only] == ["deep", "deep"] and all(r["num_classes"] == 4 for r in only)
