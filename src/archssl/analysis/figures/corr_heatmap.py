"""The ``corr_heatmap`` figure (:mod:`archssl.catalog.figures.corr_heatmap`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import Normalize

from archssl.analysis.figures import FigureData
from archssl.analysis.figures.plotting import corr_lookup
from archssl.analysis.figures.text import ci, literal


def draw(data: FigureData, method: str):
    """Dataset x dataset Pearson and Spearman heatmaps of ``method``'s correlations across architectures."""
    corr = data.tables["correlations"]
    kinds = [k for k in ("pearson", "spearman") if k in set(corr["kind"])]
    c0 = corr[corr["method"] == method]
    datasets = sorted(set(c0["dataset_a"]) | set(c0["dataset_b"]))
    k = len(datasets)
    side = max(3.8, 0.78 * k + 1.6)
    fig, axes = plt.subplots(1, len(kinds), figsize=(side * len(kinds) + 1.2, side + 0.9), squeeze=False,
                             layout="constrained")
    norm, cmap = Normalize(-1, 1), plt.get_cmap("RdBu_r")
    blank = 0
    n_max = int(c0["n"].max()) if len(c0) else 0
    for ax, kind in zip(axes.flat, kinds):
        c = corr_lookup(corr, method, kind)
        mat = np.full((k, k), np.nan)
        for i, a in enumerate(datasets):
            for j, b in enumerate(datasets):
                mat[i, j] = 1.0 if a == b else (c.loc[(a, b), "value"] if (a, b) in c.index else np.nan)
        im = ax.imshow(np.ma.masked_invalid(mat), cmap=cmap, norm=norm)
        ax.set_facecolor("#eeeeee")
        size = 7 if k <= 6 else 6
        for i, a in enumerate(datasets):
            for j, b in enumerate(datasets):
                if i == j:
                    ax.text(j, i, "1", ha="center", va="center", fontsize=size, color="white")
                    continue
                if not np.isfinite(mat[i, j]):
                    blank += 1
                    ax.text(j, i, "n<3" if n_max < 3 else "n/a", ha="center", va="center", fontsize=size,
                            color="#555555")
                    continue
                row = c.loc[(a, b)]
                txt = f"{row['value']:.2f}"
                if np.isfinite(row["ci_lo"]):
                    txt += (f"\n[{row['ci_lo']:.2f},\n{row['ci_hi']:.2f}]" if k > 5
                            else f"\n[{row['ci_lo']:.2f}, {row['ci_hi']:.2f}]")
                ax.text(j, i, txt, ha="center", va="center", fontsize=size - (1 if k > 5 else 0),
                        color="white" if abs(row["value"]) > 0.6 else "black", linespacing=0.95)
        ax.set_xticks(range(k), datasets, rotation=40, ha="right", fontsize=8)
        ax.set_yticks(range(k), datasets, fontsize=8)
        ax.grid(False)
        ax.set_title(f"{kind.capitalize()} across {n_max} architectures", fontsize=10)
    fig.colorbar(im, ax=list(axes.flat), shrink=0.75, pad=0.03, label="correlation")
    note = (f"Blank cells: a correlation needs at least 3 architectures; this study has {n_max}."
            if n_max < 3 else "Grey cells: undefined (an accuracy constant across architectures).") if blank else \
        "Cells: coefficient [bootstrap interval over architectures]."
    fig.suptitle(f"Dataset x dataset correlation of probe accuracy across architectures ({method})\n{note}",
                 fontsize=10)
    return fig


def numbers(data: FigureData, method: str) -> list[str]:
    """Per dataset pair: each kind's coefficient with its interval, and n architectures."""
    out = []
    c = data.tables["correlations"]
    c = c[(c["method"] == method) & (c["family"] == "all")]
    for (a, b), g in c.groupby(["dataset_a", "dataset_b"], sort=True):
        if a >= b:
            continue
        g = g.set_index("kind")
        parts = [f"{k} {ci(g.loc[k, 'value'], g.loc[k, 'ci_lo'], g.loc[k, 'ci_hi'], '.2f')}"
                 for k in ("pearson", "spearman") if k in g.index]
        out.append(f"{literal(a)} / {literal(b)}: {', '.join(parts)} (n = {int(g['n'].max())})")
    return out
