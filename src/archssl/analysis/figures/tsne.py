"""The ``tsne`` figure (:mod:`archssl.catalog.figures.tsne`): a t-SNE of frozen features, one panel per run."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.metrics import silhouette_score
from sklearn.neighbors import NearestNeighbors

from archssl.analysis.figures import FigureData
from archssl.analysis.figures.plotting import palette
from archssl.analysis.figures.text import literal, num
from archssl.evaluate.featurestore import read_features
from archssl.utils import atomic_path

TSNE_K = 5  # neighbours of the kNN scores


def _knn_loo(X: np.ndarray, y: np.ndarray, k: int = TSNE_K, metric: str = "euclidean") -> float:
    """Leave-one-out k-nearest-neighbour accuracy (majority vote, ties to the smallest label)."""
    k = min(k, len(X) - 1)
    nn = NearestNeighbors(n_neighbors=k + 1, metric=metric).fit(X)
    _, idx = nn.kneighbors(X)
    votes = []
    for i, row in enumerate(idx):
        row = [j for j in row if j != i][:k]
        votes.append(np.bincount(y[row], minlength=int(y.max()) + 1).argmax())
    return float(np.mean(np.array(votes) == y))


def _tsne_labels(y: np.ndarray) -> np.ndarray:
    """Class per image: the label, or for multi-hot labels the single positive class (-1: none or several)."""
    if y.ndim == 1:
        return y.astype(np.int64)
    single = y.sum(axis=1) == 1
    return np.where(single, y.argmax(axis=1), -1).astype(np.int64)


def tsne_embed(spec: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The t-SNE of every run of ``spec`` (:meth:`archssl.plan.Plan.tsne`): the same test images for every run
    (the ``classes`` most frequent classes of the first run's test split, ``per_class`` images of each drawn
    with the spec's seed), features standardised, reduced by PCA to at most 50 dimensions, then scikit-learn's
    TSNE (PCA init, seeded). Returns the points (run, index, label, x, y) and per run the scores: 5-NN
    leave-one-out accuracy in the 2-D embedding (``knn_2d``), the silhouette of the classes in it
    (``silhouette_2d``) and the 5-NN accuracy in the feature space itself (cosine, ``knn_features``)."""
    files, seed = spec["files"], int(spec["seed"])
    names = list(files)
    first = read_features(files[names[0]], spec.get("tap"), splits=("test",))["test"]
    labels = _tsne_labels(first.y)
    counts = pd.Series(labels[labels >= 0]).value_counts()
    counts = counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
    chosen = sorted(int(c) for c in counts.index[: int(spec["classes"])])
    rng = np.random.default_rng(seed)
    keep = []
    for c in chosen:
        members = first.indices[labels == c]
        take = min(int(spec["per_class"]), len(members))
        keep.extend(sorted(rng.choice(members, size=take, replace=False).tolist()))
    keep = np.array(sorted(keep), dtype=np.int64)
    points, scores = [], []
    for name in names:
        split = read_features(files[name], spec.get("tap"), splits=("test",))["test"]
        pos = pd.Series(np.arange(len(split.indices)), index=split.indices)
        rows = pos.reindex(keep)
        if rows.isna().any():
            raise ValueError(f"{files[name]}: test images {keep[rows.isna().values][:5].tolist()} of "
                             f"{files[names[0]]} are missing")
        X = split.X[rows.values.astype(np.int64)].astype(np.float64)
        y = _tsne_labels(split.y)[rows.values.astype(np.int64)]
        std = X.std(axis=0)
        Z = (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)
        Z = PCA(n_components=min(50, Z.shape[1], len(Z)), random_state=seed).fit_transform(Z)
        emb = TSNE(n_components=2, perplexity=min(30.0, (len(Z) - 1) / 3.0), init="pca", learning_rate="auto",
                   random_state=seed).fit_transform(Z)
        Xn = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        scores.append({"run": name, "n": len(y), "classes": len(chosen), "knn_2d": _knn_loo(emb, y),
                       "silhouette_2d": float(silhouette_score(emb, y)),
                       "knn_features": _knn_loo(Xn, y, metric="cosine")})
        points.append(pd.DataFrame({"run": name, "index": keep, "label": y, "x": emb[:, 0], "y": emb[:, 1]}))
    return pd.concat(points, ignore_index=True), pd.DataFrame(scores)


def prepare(data: FigureData, out_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The embedding of ``data.tsne`` (:func:`tsne_embed`), once for the figure and its numbers; writes its
    points to ``out_dir/tsne.csv``."""
    if not data.tsne:
        raise ValueError("the plan draws the t-SNE figure, but no t-SNE spec (--tsne) was given")
    points, scores = tsne_embed(data.tsne)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "tsne.csv") as tmp:
        points.to_csv(tmp, index=False)
    return points, scores


def draw(data: FigureData, method: str):
    """One row per knob series of the spec, one panel per run, weak to strong augmentation."""
    (points, scores), spec = data.prepared, data.tsne
    rows = spec["rows"]
    cols = max(len(r["runs"]) for r in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(3.0 * cols, 3.1 * len(rows) + 0.9), squeeze=False,
                             layout="constrained")
    colors = palette(points["label"])
    sc = scores.set_index("run")
    for i, r in enumerate(rows):
        for j in range(cols):
            ax = axes[i, j]
            if j >= len(r["runs"]):
                ax.set_visible(False)
                continue
            name, level = r["runs"][j], r["levels"][j]
            p = points[points["run"] == name]
            ax.scatter(p["x"], p["y"], s=7, c=[colors[v] for v in p["label"]], alpha=0.85, linewidths=0)
            s_ = sc.loc[name]
            ax.set_title(f"{name}\n{level}", fontsize=8)
            ax.text(0.02, 0.02, f"5-NN {s_['knn_2d']:.2f}, silhouette {s_['silhouette_2d']:.2f}",
                    transform=ax.transAxes, fontsize=7, va="bottom",
                    bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1.5})
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel("t-SNE 1", fontsize=7)
            ax.set_ylabel(f"{r['method']}, {r['knob']}: t-SNE 2" if j == 0 else "t-SNE 2", fontsize=7)
    handles = [Line2D([], [], marker="o", linestyle="", color=c, label=f"class {k}") for k, c in colors.items()]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 8), fontsize=8, frameon=False)
    n = int(scores["n"].max())
    fig.suptitle(f"t-SNE of frozen features of {spec['arch']} on {spec['dataset']} ({n} test images, "
                 f"{int(scores['classes'].max())} classes)\naugmentation from weak (left) to strong (right); "
                 "5-NN: leave-one-out accuracy in the 2-D embedding", fontsize=9)
    return fig


def numbers(data: FigureData, method: str) -> list[str]:
    """Per run: the 5-NN accuracy and silhouette in 2-D, and the 5-NN accuracy in the feature space."""
    out = []
    sc = data.prepared[1].set_index("run")
    for r in data.tsne["rows"]:
        for run, level in zip(r["runs"], r["levels"]):
            s_ = sc.loc[run]
            out.append(f"{literal(run)} ({level}): 5-NN {num(s_['knn_2d'], '.2f')} and silhouette "
                       f"{num(s_['silhouette_2d'], '.2f')} in 2-D, 5-NN {num(s_['knn_features'], '.2f')} in the "
                       f"feature space")
    return out
