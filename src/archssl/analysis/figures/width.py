"""The ``width`` figure (:mod:`archssl.catalog.figures.width`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from archssl.analysis.figures import FigureData
from archssl.analysis.figures.text import num
from archssl.analysis.tables import primary_matrix


def draw(data: FigureData, method: str):
    """Per family, a (widening factor x representation size) heatmap of the mean accuracy over datasets."""
    acc = data.tables["accuracy"]
    m = primary_matrix(acc, method).dropna()
    info = acc.drop_duplicates("arch").set_index("arch")
    per_arch = pd.DataFrame({"mean": m.mean(axis=1)}).join(info[["family", "widen", "rep_size"]])
    fams = sorted(per_arch["family"].unique())
    # the families that vary width or representation size (a family of one cell has nothing to compare)
    fams = [f for f in fams if len(per_arch[per_arch["family"] == f].groupby(["widen", "rep_size"])) >= 2] or fams
    fig, axes = plt.subplots(1, len(fams), figsize=(4.2 * len(fams) + 1, 3.8), squeeze=False, layout="constrained")
    vmin, vmax = float(per_arch["mean"].min()), float(per_arch["mean"].max())
    im = None
    for ax, f in zip(axes.flat, fams):
        g = per_arch[per_arch["family"] == f]
        cell = g.groupby(["widen", "rep_size"])["mean"].agg(["mean", "count"]).reset_index()
        rows, cols = sorted(cell["widen"].unique()), sorted(cell["rep_size"].unique())
        mat = np.full((len(rows), len(cols)), np.nan)
        cnt = np.zeros_like(mat)
        for r in cell.itertuples():
            mat[rows.index(r.widen), cols.index(r.rep_size)] = r.mean
            cnt[rows.index(r.widen), cols.index(r.rep_size)] = r.count
        im = ax.imshow(np.ma.masked_invalid(mat), cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
        for i in range(len(rows)):
            for j in range(len(cols)):
                if np.isfinite(mat[i, j]):
                    ax.text(j, i, f"{mat[i, j]:.3f}\nn={int(cnt[i, j])}", ha="center", va="center", fontsize=7,
                            color="white" if mat[i, j] < (vmin + vmax) / 2 else "black")
        ax.set_xticks(range(len(cols)), [str(c) for c in cols], fontsize=8)
        ax.set_yticks(range(len(rows)), [f"{r:g}" for r in rows], fontsize=8)
        ax.set_xlabel("representation size", fontsize=8)
        ax.set_ylabel("widening factor", fontsize=8)
        ax.grid(False)
        ax.set_title(f, fontsize=9)
    fig.colorbar(im, ax=list(axes.flat), shrink=0.8, pad=0.04, label="mean accuracy over datasets")
    fig.suptitle(f"Width x representation size ({method}); cells: mean over architectures, n architectures; "
                 "blank: no such architecture", fontsize=10)
    return fig


def numbers(data: FigureData, method: str) -> list[str]:
    """Per drawn (family, widening factor, representation size) cell: the mean accuracy and n architectures."""
    out = []
    acc = data.tables["accuracy"]
    m = primary_matrix(acc, method).dropna()
    info = acc.drop_duplicates("arch").set_index("arch")
    per_arch = pd.DataFrame({"mean": m.mean(axis=1)}).join(info[["family", "widen", "rep_size"]])
    cell = per_arch.groupby(["family", "widen", "rep_size"])["mean"].agg(["mean", "count"]).reset_index()
    drawn = [f for f, g in cell.groupby("family") if len(g) >= 2] or list(cell["family"].unique())
    for r in cell[cell["family"].isin(drawn)].itertuples():
        out.append(f"{r.family} widen {r.widen:g}, representation {int(r.rep_size)}: {num(r.mean)} "
                   f"(n = {int(r.count)})")
    return out
