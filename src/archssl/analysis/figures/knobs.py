"""What the Good-practices knob figures share (``negatives``, ``heads``, ``augment``): mean accuracy over
datasets against a knob's levels, one line per method, and their numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from archssl.analysis.figures.plotting import grid, log_axis, palette, yerr
from archssl.analysis.figures.text import ci, literal

KNOB_TITLES = {"negatives": "negatives per query K (log scale)", "heads": "projection head",
               "crop": "crop area min-max, fraction of the image (smaller: stronger)",
               "jitter": "colour-jitter strength (larger: stronger)"}
KNOB_PANEL = {"negatives": "Number of negatives", "heads": "Projection head", "crop": "Crop", "jitter": "Colour jitter"}


def _knob_panel(ax, k: pd.DataFrame, knob: str, xlabel: str) -> None:
    colors = palette(k["method"])
    for method, g in k.groupby("method", sort=True):
        g = g.sort_values(["order", "level"])
        x = g["order"].values if knob == "negatives" else None
        if x is None:
            levels = list(dict.fromkeys(k.sort_values(["order", "level"])["level"]))
            x = np.array([levels.index(v) for v in g["level"]], dtype=float)
            ax.set_xticks(range(len(levels)), levels, rotation=20, ha="right", fontsize=8)
        # the heads are categories: markers, no line between them
        ax.errorbar(x, g["mean"], yerr=yerr(g["mean"], g["ci_lo"], g["ci_hi"]), marker="o", capsize=3,
                    color=colors[method], label=method, linestyle="none" if knob == "heads" else "-")
    if knob == "negatives":
        log_axis(ax)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel("mean accuracy over datasets", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, frameon=False, title="method", title_fontsize=7)


def knob_figure(knobs: pd.DataFrame, which: tuple[str, ...]):
    """One panel per knob of ``which`` that ``knobs.csv`` has (its rows of the mean over datasets)."""
    k = knobs[(knobs["dataset"] == "mean") & knobs["knob"].isin(which)]
    present = [w for w in which if w in set(k["knob"])]
    fig, axes = grid(len(present), cols=2, w=4.6, h=3.6)
    for ax, w in zip(axes.flat, present):
        _knob_panel(ax, k[k["knob"] == w], w, KNOB_TITLES[w])
        ax.set_title(KNOB_PANEL[w], fontsize=9)
    n = int(k["n"].max()) if len(k) else 0
    bars = (f"bars: bootstrap interval over {n} architectures" if n >= 2
            else f"no interval: {n} architecture")
    fig.suptitle(f"Mean accuracy over datasets per run, {bars}", fontsize=10)
    return fig


def knob_numbers(knobs: pd.DataFrame, which: tuple[str, ...]) -> list[str]:
    """Per knob of ``which`` and method: each level's mean accuracy over datasets with its interval, and n."""
    out = []
    k = knobs[(knobs["dataset"] == "mean") & knobs["knob"].isin(which)]
    for (knob, meth), g in k.groupby(["knob", "method"], sort=True):
        parts = [f"{r.level} {ci(r.mean, r.ci_lo, r.ci_hi)}" for r in g.sort_values(["order", "level"]).itertuples()]
        out.append(f"{knob}, {literal(meth)}: {', '.join(parts)} (n = {int(g['n'].max())})")
    return out
