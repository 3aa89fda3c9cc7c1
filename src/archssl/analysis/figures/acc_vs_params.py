"""The ``acc_vs_params`` figure (:mod:`archssl.catalog.figures.acc_vs_params`)."""

from __future__ import annotations

import math

from scipy.stats import spearmanr

from archssl.analysis.figures import FigureData
from archssl.analysis.figures.plotting import family_legend, grid, log_axis, palette, scatter_ci
from archssl.analysis.figures.text import literal, num, p_value


def draw(data: FigureData, method: str):
    """Accuracy against parameters (upper rows) and FLOPs (lower rows), one panel per dataset."""
    acc = data.tables["accuracy"]
    d = acc[(acc["method"] == method) & acc["primary"]].drop_duplicates(["arch", "dataset", "tap"])
    d = d.groupby(["arch", "dataset"], sort=True).tail(1)
    datasets = sorted(d["dataset"].unique())
    colors = palette(acc["family"])
    cols = min(4, len(datasets))
    block = math.ceil(len(datasets) / cols)
    fig, axes = grid(len(datasets), cols=cols, h=2.8, rows_extra=block)
    flat = list(axes.flat)
    for part, (x, label) in enumerate((("params", "parameters"), ("flops", "FLOPs per image"))):
        for i, ds in enumerate(datasets):
            ax = flat[part * block * cols + i]
            sub = d[d["dataset"] == ds]
            scatter_ci(ax, sub[x], sub["value"], [colors[f] for f in sub["family"]],
                        y_lo=sub["ci_lo"].values, y_hi=sub["ci_hi"].values)
            log_axis(ax)
            ax.set_title(f"{ds} vs {label}", fontsize=9)
            ax.set_xlabel(label, fontsize=8)
            ax.set_ylabel("accuracy", fontsize=8)
            ax.tick_params(labelsize=7)
        for ax in flat[part * block * cols + len(datasets):(part + 1) * block * cols]:
            ax.set_visible(False)
    family_legend(fig, colors)
    fig.suptitle(f"Accuracy against parameter count (upper rows) and FLOPs (lower rows) ({method})", fontsize=10)
    return fig


def numbers(data: FigureData, method: str) -> list[str]:
    """Per dataset: the accuracy range over architectures and, with 3 or more, Spearman's rho with the
    parameter count."""
    out = []
    acc = data.tables["accuracy"]
    d = acc[(acc["method"] == method) & acc["primary"]].drop_duplicates(["arch", "dataset", "tap"])
    d = d.groupby(["arch", "dataset"], sort=True).tail(1)
    for ds, g in d.groupby("dataset", sort=True):
        line = f"{literal(ds)}: accuracy {num(g['value'].min())}-{num(g['value'].max())} over {len(g)} architectures"
        if len(g) >= 3 and g["value"].nunique() > 1 and g["params"].nunique() > 1:
            rho, p = spearmanr(g["params"], g["value"])
            line += f", Spearman rho with parameters {num(rho, '.2f')} ({p_value(p)})"
        out.append(line)
    return out
