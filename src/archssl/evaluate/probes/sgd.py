"""Mini-batch SGD probes: ``sgd_linear`` (the SGD linear probe of Girish et al. / Kolesnikov et al.) and
``mlp`` (one hidden layer).

Training (both): cross-entropy (softmax) for single-label targets, per-class binary logistic loss for
multi-hot targets; mini-batches drawn from a per-epoch random permutation, on the device; SGD with Nesterov
momentum (torch semantics: ``buf = momentum*buf + g``, ``step = g + momentum*buf``), learning rate following
a cosine schedule per step from ``lr`` to 0 over ``epochs``; weight decay ``wd`` adds ``wd * W`` to the
gradient of the weight matrices (biases are not decayed). Features are standardised with the statistics of
the rows being fitted (``standardize=True``, default). Linear weights start at zero; MLP weights use torch's
``nn.Linear`` initialisation (uniform, bound ``1/sqrt(fan_in)``), seeded.

All weight-decay candidates are trained together (one stacked matrix product per mini-batch, same batches
and initialisation for every candidate), which makes the sweep cost close to a single run.

Selection of the weight decay (``weight_decays``, default ``[0, 1e-5, 1e-4, 1e-3]``):

* ``selection="cv"`` (default for ``sgd_linear``, as in the authors' code): ``folds``-fold cross-validation
  (stratified, seeded) over the labelled rows train+val; the candidate with the best mean held-out metric
  wins (ties: the larger weight decay);
* ``selection="val"`` (default for ``mlp``): train on train, score val.

The winner is refitted on train+val and scored on test. ``val_curve`` has one entry per candidate with the
mean held-out ``val_metric``/``val_top1`` (and the per-fold values for CV).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import metrics as M
from .base import Probe, ProbeData, Standardizer, resolve_device, select_best


def train_sgd(
    X: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    weight_decays: list[float],
    *,
    hidden: int | None = None,
    epochs: int = 100,
    batch_size: int = 256,
    lr: float = 0.1,
    momentum: float = 0.9,
    nesterov: bool = True,
    seed: int = 0,
    device: Any = "cpu",
) -> "SGDModels":
    """Train one linear (``hidden=None``) or one-hidden-layer ReLU model per weight decay, jointly."""
    import torch

    dev = torch.device(device) if not isinstance(device, torch.device) else device
    P, K = len(weight_decays), int(num_classes)
    n, d = X.shape
    gen = torch.Generator().manual_seed(int(seed))
    with torch.inference_mode():
        Xt = torch.as_tensor(np.ascontiguousarray(X), dtype=torch.float32).to(dev)
        multilabel = y.ndim == 2
        # single-label targets stay class indices (one-hot per mini-batch: no (N, K) matrix on the device)
        Yt = torch.as_tensor(y, dtype=torch.float32 if multilabel else torch.int64).to(dev)
        wd = torch.as_tensor(weight_decays, dtype=torch.float32).to(dev)
        if hidden is None:
            params = {"W": torch.zeros(d, P * K, device=dev), "b": torch.zeros(P * K, device=dev)}
            decay = {"W": wd.repeat_interleave(K)[None, :]}
        else:
            H = int(hidden)
            b1, b2 = 1.0 / math.sqrt(d), 1.0 / math.sqrt(H)
            W1 = (torch.rand(d, H, generator=gen) * 2 - 1) * b1
            c1 = (torch.rand(H, generator=gen) * 2 - 1) * b1
            W2 = (torch.rand(H, K, generator=gen) * 2 - 1) * b2
            c2 = (torch.rand(K, generator=gen) * 2 - 1) * b2
            params = {
                "W1": W1.repeat(1, P).to(dev),  # (d, P*H), same init for every candidate
                "b1": c1.repeat(P).to(dev),
                "W2": W2[None].repeat(P, 1, 1).to(dev),  # (P, H, K)
                "b2": c2[None].repeat(P, 1).to(dev),
            }
            decay = {"W1": wd.repeat_interleave(H)[None, :], "W2": wd[:, None, None]}
        bufs = {k: torch.zeros_like(v) for k, v in params.items()}
        steps_per_epoch = max(1, math.ceil(n / batch_size))
        total = epochs * steps_per_epoch
        step = 0
        for _ in range(epochs):
            perm = torch.randperm(n, generator=gen).to(dev)
            for s in range(steps_per_epoch):
                idx = perm[s * batch_size : (s + 1) * batch_size]
                xb, yb = Xt[idx], Yt[idx]
                if not multilabel:
                    yb = torch.nn.functional.one_hot(yb, K).to(xb.dtype)
                B = xb.shape[0]
                if hidden is None:
                    Z = torch.addmm(params["b"], xb, params["W"]).view(B, P, K)
                    G = _residual(Z, yb[:, None, :], multilabel).div_(B)
                    Gf = G.view(B, P * K)
                    grads = {"W": xb.T @ Gf, "b": Gf.sum(0)}
                else:
                    A = torch.addmm(params["b1"], xb, params["W1"])  # (B, P*H)
                    Hh = torch.relu(A).view(B, P, -1).transpose(0, 1)  # (P, B, H)
                    Z = torch.baddbmm(params["b2"][:, None, :], Hh, params["W2"])  # (P, B, K)
                    G = _residual(Z, yb[None], multilabel).div_(B)
                    gW2 = Hh.transpose(1, 2) @ G
                    gb2 = G.sum(1)
                    gH = (G @ params["W2"].transpose(1, 2)).mul_(Hh > 0)  # (P, B, H)
                    gHf = gH.transpose(0, 1).reshape(B, -1)
                    grads = {"W1": xb.T @ gHf, "b1": gHf.sum(0), "W2": gW2, "b2": gb2}
                lr_t = 0.5 * lr * (1.0 + math.cos(math.pi * step / total))
                for k, g in grads.items():
                    if k in decay:
                        g = g.add_(params[k] * decay[k])
                    buf = bufs[k].mul_(momentum).add_(g)
                    upd = g.add(buf, alpha=momentum) if nesterov else buf
                    params[k].sub_(upd, alpha=lr_t)
                step += 1
    return SGDModels(params, P, K, hidden, dev)


def _residual(Z, Y, multilabel):
    import torch

    if multilabel:
        return torch.sigmoid(Z).sub_(Y)
    return torch.softmax(Z, dim=-1).sub_(Y)


class SGDModels:
    """``P`` jointly trained models; :meth:`scores` returns (P, N, K) logits."""

    def __init__(self, params, P, K, hidden, device):
        self.params, self.P, self.K, self.hidden, self.device = params, P, K, hidden, device

    def scores(self, X: np.ndarray, chunk: int = 8192) -> np.ndarray:
        import torch

        out = []
        p = self.params
        with torch.inference_mode():
            for start in range(0, X.shape[0], chunk):
                xb = torch.as_tensor(np.ascontiguousarray(X[start : start + chunk]), dtype=torch.float32).to(self.device)
                B = xb.shape[0]
                if self.hidden is None:
                    Z = torch.addmm(p["b"], xb, p["W"]).view(B, self.P, self.K).transpose(0, 1)
                else:
                    Hh = torch.relu(torch.addmm(p["b1"], xb, p["W1"])).view(B, self.P, -1).transpose(0, 1)
                    Z = torch.baddbmm(p["b2"][:, None, :], Hh, p["W2"])
                out.append(Z.double().cpu().numpy())
        return np.concatenate(out, axis=1)


def kfold_indices(y: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """Held-out index sets of a seeded stratified (single-label) or random (multi-label) k-fold split."""
    rng = np.random.default_rng(seed)
    assign = np.empty(y.shape[0], dtype=np.int64)
    if y.ndim == 1:
        offset = 0
        for c in np.unique(y):
            idx = np.flatnonzero(y == c)
            rng.shuffle(idx)
            assign[idx] = (np.arange(idx.size) + offset) % folds
            offset += idx.size
    else:
        perm = rng.permutation(y.shape[0])
        assign[perm] = np.arange(y.shape[0]) % folds
    return [np.flatnonzero(assign == f) for f in range(folds)]


class _SGDProbe(Probe):
    def _check_params(self) -> None:
        # strongest first: ties go to more decay
        self.params["weight_decays"] = sorted({float(w) for w in self.params["weight_decays"]}, reverse=True)

    def _train(self, X, y, K, device, weight_decays=None):
        p = self.params
        return train_sgd(
            X, y, K, p["weight_decays"] if weight_decays is None else weight_decays, hidden=p.get("hidden"),
            epochs=int(p["epochs"]),
            batch_size=int(p["batch_size"]), lr=float(p["lr"]), momentum=float(p["momentum"]),
            nesterov=bool(p["nesterov"]), seed=int(p["seed"]), device=device,
        )

    def _fit_select(self, data: ProbeData, metric: str) -> dict[str, Any]:
        p = self.params
        device = resolve_device(p["device"])
        K, wds = data.num_classes, p["weight_decays"]
        Xall, yall = data.trainval()
        per_fold: list[list[tuple[float, float]]] = [[] for _ in wds]
        if p["selection"] == "cv":
            for held in kfold_indices(yall, int(p["folds"]), int(p["seed"])):
                mask = np.ones(len(yall), dtype=bool)
                mask[held] = False
                std = Standardizer(Xall[mask], p["standardize"])
                models = self._train(std(Xall[mask]), yall[mask], K, device)
                S = models.scores(std(Xall[held]))
                for i in range(len(wds)):
                    per_fold[i].append((M.top1(S[i], yall[held]), M.compute(metric, S[i], yall[held])))
        else:
            std = Standardizer(data.X_train, p["standardize"])
            models = self._train(std(data.X_train), data.y_train, K, device)
            S = models.scores(std(data.X_val))
            for i in range(len(wds)):
                per_fold[i].append((M.top1(S[i], data.y_val), M.compute(metric, S[i], data.y_val)))
        curve = []
        for wd, vals in zip(wds, per_fold):
            entry = {"weight_decay": wd, "val_top1": float(np.mean([v[0] for v in vals])),
                     "val_metric": float(np.nanmean([v[1] for v in vals]))}
            if p["selection"] == "cv":
                entry["fold_metrics"] = [v[1] for v in vals]
            curve.append(entry)
        best = select_best([c["val_metric"] for c in curve])
        wd = curve[best]["weight_decay"]
        std = Standardizer(Xall, p["standardize"])
        final = self._train(std(Xall), yall, K, device, weight_decays=[wd])
        scores = final.scores(std(data.X_test))[0]
        return {
            "selected": {"weight_decay": wd, "index": best, "val_metric": curve[best]["val_metric"],
                         "selection": p["selection"]},
            "val_curve": curve,
            "test_scores": scores,
            "device": str(device),
        }


class SGDLinearProbe(_SGDProbe):
    """Linear probe trained by mini-batch SGD; see the module docstring. Parameters: ``epochs`` (100),
    ``batch_size`` (256), ``lr`` (0.1), ``momentum`` (0.9), ``nesterov`` (True), ``weight_decays``
    ([0, 1e-5, 1e-4, 1e-3]), ``selection`` ("cv"), ``folds`` (3), ``standardize`` (True), and the common ones."""

    name = "sgd_linear"


class MLPProbe(_SGDProbe):
    """One-hidden-layer ReLU MLP probe (``hidden`` units, default 1024) trained like ``sgd_linear``; weight
    decay selected on val by default (``selection="val"``)."""

    name = "mlp"
