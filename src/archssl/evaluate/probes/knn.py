"""``knn``: weighted k-nearest-neighbour classifier on cosine similarity (Wu et al. 2018, InstDisc).

Features are L2-normalised; for a query the ``k`` most similar memory rows (cosine similarity ``s``) vote
for their labels with weight ``exp(s / temperature)``; the class scores are the summed votes divided by the
summed weights (so they lie in [0, 1]; multi-hot memory rows vote for each of their positive classes).
The prediction is the highest score (ties: lowest class index).

Selection: ``k`` and ``temperature`` may be single values or lists; every combination is scored on val with
the train rows as memory, the best (ties: earliest in the listed order) is used on test with train+val as
memory ("refit"). ``k`` larger than the memory is clamped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import metrics as M
from .base import Probe, ProbeData, resolve_device, select_best


def knn_scores(
    memory_X: np.ndarray,
    memory_y: np.ndarray,
    query_X: np.ndarray,
    num_classes: int,
    k: int,
    temperature: float,
    device: Any = "cpu",
    chunk_elems: int = 1 << 24,
) -> np.ndarray:
    """(Nq, K) vote scores of the temperature-weighted cosine kNN."""
    import torch

    dev = torch.device(device) if not isinstance(device, torch.device) else device
    with torch.inference_mode():
        mem = torch.nn.functional.normalize(torch.as_tensor(memory_X, dtype=torch.float32).to(dev), dim=1)
        qry = torch.nn.functional.normalize(torch.as_tensor(query_X, dtype=torch.float32).to(dev), dim=1)
        n_mem = mem.shape[0]
        k = int(min(k, n_mem))
        if memory_y.ndim == 1:
            labels = torch.as_tensor(memory_y, dtype=torch.int64).to(dev)
            onehot = None
        else:
            labels = None
            onehot = torch.as_tensor(memory_y, dtype=torch.float32).to(dev)
        out = torch.empty(qry.shape[0], num_classes, dtype=torch.float64)
        step = max(1, chunk_elems // max(1, n_mem))
        for start in range(0, qry.shape[0], step):
            q = qry[start : start + step]
            sim = q @ mem.T
            top_s, top_i = sim.topk(k, dim=1)
            w = torch.exp((top_s.double() - top_s[:, :1].double()) / temperature)  # shift for stability
            if labels is not None:
                votes = torch.zeros(q.shape[0], num_classes, dtype=torch.float64, device=dev)
                votes.scatter_add_(1, labels[top_i], w)
            else:
                votes = torch.einsum("qk,qkc->qc", w, onehot[top_i].double())
            out[start : start + step] = (votes / w.sum(dim=1, keepdim=True)).cpu()
    return out.numpy()


def _as_list(v) -> list:
    return list(v) if isinstance(v, (list, tuple)) else [v]


class KNNProbe(Probe):
    """Parameters: ``k`` (int or list, default 200), ``temperature`` (float or list, default 0.07), plus the
    common ``device``, ``num_threads``, ``val_fraction``, ``seed``."""

    name = "knn"
    threshold = 0.5  # scores are vote fractions
    def _fit_select(self, data: ProbeData, metric: str) -> dict[str, Any]:
        device = resolve_device(self.params["device"])
        K = data.num_classes
        curve = []
        for k in _as_list(self.params["k"]):
            for t in _as_list(self.params["temperature"]):
                sv = knn_scores(data.X_train, data.y_train, data.X_val, K, int(k), float(t), device)
                curve.append({
                    "k": int(k), "temperature": float(t), "k_used": int(min(k, len(data.y_train))),
                    "val_top1": M.top1(sv, data.y_val), "val_metric": M.compute(metric, sv, data.y_val, self.threshold),
                })
        best = select_best([c["val_metric"] for c in curve])
        Xall, yall = data.trainval()
        k, t = curve[best]["k"], curve[best]["temperature"]
        scores = knn_scores(Xall, yall, data.X_test, K, k, t, device)
        return {
            "selected": {"k": k, "temperature": t, "k_used": int(min(k, len(yall))), "index": best,
                         "val_metric": curve[best]["val_metric"]},
            "val_curve": curve,
            "test_scores": scores,
            "device": str(device),
        }
