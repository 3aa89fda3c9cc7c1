"""The ``depth`` figure (:mod:`archssl.catalog.figures.depth`)."""

from __future__ import annotations

import numpy as np

from archssl.analysis.figures import FigureData
from archssl.analysis.figures.plotting import family_legend, grid, hide_unused, palette
from archssl.analysis.figures.text import ci, literal


def draw(data: FigureData, method: str):
    """Mean accuracy per tap per family, one panel per dataset."""
    taps = data.tables["taps"]
    t = taps[taps["method"] == method]
    datasets = sorted(t["dataset"].unique())
    colors = palette(t["family"])
    order = t.drop_duplicates("tap").sort_values("depth")["tap"].tolist()
    fig, axes = grid(len(datasets))
    for ax, ds in zip(axes.flat, datasets):
        for fam_name, g in t[t["dataset"] == ds].groupby("family"):
            g = g.sort_values("depth")
            x = [order.index(tp) for tp in g["tap"]]
            ax.plot(x, g["mean"], marker="o", color=colors[fam_name], label=fam_name)
            ok = g["ci_lo"].notna()
            ax.fill_between(np.array(x)[ok.values], g["ci_lo"][ok], g["ci_hi"][ok], color=colors[fam_name], alpha=0.2)
        ax.set_xticks(range(len(order)), order, rotation=30, ha="right", fontsize=7)
        ax.set_title(ds, fontsize=9)
        ax.set_xlabel("tap (shallow to deep)", fontsize=8)
        ax.set_ylabel("mean accuracy", fontsize=8)
        ax.tick_params(labelsize=7)
    hide_unused(axes, len(datasets))
    family_legend(fig, colors)
    fig.suptitle(f"Probe accuracy by depth, mean over each family's architectures ({method}); band: bootstrap "
                 "interval over them (families of 2 or more)", fontsize=10)
    return fig


def numbers(data: FigureData, method: str) -> list[str]:
    """Per dataset and family: each tap's mean accuracy with its interval, shallow to deep."""
    out = []
    k = data.tables["taps"]
    k = k[k["method"] == method]
    for (ds, fam), g in k.groupby(["dataset", "family"], sort=True):
        parts = [f"{r.tap} {ci(r.mean, r.ci_lo, r.ci_hi)}" for r in g.sort_values("depth").itertuples()]
        out.append(f"{literal(ds)}, {fam}: {', '.join(parts)}")
    return out
