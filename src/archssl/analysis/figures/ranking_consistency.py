"""The ``ranking_consistency`` figure (:mod:`archssl.catalog.figures.ranking_consistency`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from archssl.analysis.figures import FigureData
from archssl.analysis.figures.text import literal, num, p_value


def draw(data: FigureData, method: str):
    """Kendall's W per dataset, one bar per ranking (architectures across methods, methods across
    architectures)."""
    cons = data.tables["consistency"]
    rankings = list(dict.fromkeys(cons["ranking"]))
    datasets = sorted(cons["dataset"].unique())
    fig, ax = plt.subplots(figsize=(max(5.5, 1.0 * len(datasets) + 3), 4.2), layout="constrained")
    width = 0.38
    for j, r in enumerate(rankings):
        s = cons[cons["ranking"] == r].set_index("dataset").reindex(datasets)
        x = np.arange(len(datasets)) + (j - 0.5) * width
        bars = ax.bar(x, s["w"], width * 0.95, label=f"{r} ({int(s['m'].max())} raters, {int(s['n'].max())} items)")
        for xi, w, p in zip(x, s["w"], s["p_value"]):
            if np.isfinite(w):
                ax.text(xi, w + 0.02, f"p={p:.2g}", ha="center", va="bottom", fontsize=6, rotation=90)
        del bars
    ax.set_xticks(range(len(datasets)), datasets, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.25)
    ax.set_ylabel("Kendall's W (1 = identical rankings)", fontsize=8)
    ax.set_title("Agreement of rankings: architectures across methods, methods across architectures", fontsize=10)
    ax.legend(loc="upper left", fontsize=7, frameon=False)
    return fig


def numbers(data: FigureData, method: str) -> list[str]:
    """Per ranking and dataset: W, its p-value, raters m and items n."""
    out = []
    c = data.tables["consistency"]
    for r in c.itertuples():
        out.append(f"{r.ranking}, {literal(r.dataset)}: W = {num(r.w, '.2f')}, {p_value(r.p_value)} "
                   f"(m = {int(r.m)}, n = {int(r.n)})")
    return out
