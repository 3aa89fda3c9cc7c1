"""The ``ablations`` figure (:mod:`archssl.catalog.figures.ablations`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import seaborn as sns

from archssl.analysis.figures import FigureData
from archssl.analysis.figures.text import literal, num, rst_text


def draw(data: FigureData, method: str):
    """Heatmap: variant x dataset, the mean change of the primary metric from the variant's method (or from
    the entry its ``against`` names, shown in the row label); a star marks a Wilcoxon p < 0.05."""
    abl = data.tables["ablations"]
    against = abl["against"] if "against" in abl else abl["method"]
    label = abl["variant"] + " (" + abl["change"] + ")" + (" vs " + against).where(against != abl["method"], "")
    a = abl.assign(label=label)
    m = a.pivot(index="label", columns="dataset", values="mean_delta")
    order = list(dict.fromkeys(label))
    m = m.reindex(index=order)  # the study's order of variants
    star = a.pivot(index="label", columns="dataset", values="wilcoxon_p").reindex(index=order) < 0.05 \
        if "wilcoxon_p" in a else m.isna() & False
    m["mean over datasets"] = m.mean(axis=1)
    star["mean over datasets"] = False
    annot = m.map(lambda v: f"{v:+.3f}") + star.reindex(columns=m.columns).fillna(False).map(lambda s: "*" if s else "")
    lim = max(float(m.abs().max().max()), 1e-6)
    fig, ax = plt.subplots(figsize=(1.0 * m.shape[1] + 5.5, 0.45 * m.shape[0] + 2.0), layout="constrained")
    sns.heatmap(m, ax=ax, cmap="RdBu", vmin=-lim, vmax=lim, center=0, annot=annot, fmt="",
                annot_kws={"size": 7}, cbar_kws={"label": "mean accuracy change", "pad": 0.03})
    n = int(abl["n"].max())
    ax.set_title(f"Each variant against its method, mean over {n} architecture{'s' if n != 1 else ''} "
                 "(* Wilcoxon p < 0.05)", fontsize=10)
    ax.tick_params(axis="x", rotation=30, labelsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlabel("")
    ax.set_ylabel("")
    return fig


def numbers(data: FigureData, method: str) -> list[str]:
    """Per variant: its change, the mean change over datasets, wins / losses and the significant datasets."""
    out = []
    a = data.tables["ablations"]
    for v in dict.fromkeys(a["variant"]):
        g = a[a["variant"] == v]
        sig = int((g["wilcoxon_p"] < 0.05).sum()) if "wilcoxon_p" in g else 0
        out.append(f"{literal(v)} ({rst_text(g['change'].iloc[0])}): mean change "
                   f"{num(g['mean_delta'].mean(), '+.3f')} over "
                   f"{len(g)} datasets, wins/losses {int(g['wins'].sum())}/{int(g['losses'].sum())} of "
                   f"{int(g['n'].sum())}, Wilcoxon p < 0.05 on {sig}")
    return out
