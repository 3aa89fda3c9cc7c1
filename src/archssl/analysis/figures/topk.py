"""The ``topk`` figure (:mod:`archssl.catalog.figures.topk`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from archssl.analysis.figures import FigureData
from archssl.analysis.figures.text import literal, num


def draw(data: FigureData, method: str):
    """Top-k overlap with the reference ranking per dataset, bars per k, the chance level marked."""
    tk = data.tables["topk"]
    t = tk[tk["method"] == method]
    datasets = sorted(t["dataset"].unique())
    ks = sorted(t["k"].unique())
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(datasets) * max(1, len(ks)) ** 0.5 + 2.5), 4.0),
                           layout="constrained")
    width = 0.8 / max(1, len(ks))
    for j, k in enumerate(ks):
        s = t[t["k"] == k].set_index("dataset").reindex(datasets)
        x = np.arange(len(datasets)) + (j - (len(ks) - 1) / 2) * width
        ax.bar(x, s["overlap"], width * 0.95, label=f"top-{k}")
        ax.scatter(x, k / s["n"], marker="_", s=120, color="black", zorder=3,
                   label="chance (k / n)" if j == 0 else None)
    ax.set_xticks(range(len(datasets)), datasets, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share of the reference's top-k also in the top-k", fontsize=8)
    ref = t["reference"].iloc[0] if len(t) else ""
    n = int(t["n"].max()) if len(t) else 0
    ax.set_title(f"Top-k overlap with the {ref} ranking of {n} architectures ({method})", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return fig


def numbers(data: FigureData, method: str) -> list[str]:
    """Per dataset: each k's overlap and its chance level k / n."""
    out = []
    k = data.tables["topk"]
    for ds, g in k[k["method"] == method].groupby("dataset", sort=True):
        parts = [f"top-{int(r.k)} {num(r.overlap, '.2f')} (chance {num(r.k / r.n, '.2f')})"
                 for r in g.sort_values("k").itertuples()]
        out.append(f"{literal(ds)}: {', '.join(parts)}")
    return out
