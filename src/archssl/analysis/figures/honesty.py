"""The ``honesty`` figure (:mod:`archssl.catalog.figures.honesty`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from archssl.analysis.figures import FigureData
from archssl.analysis.figures.plotting import family_legend, palette, yerr
from archssl.analysis.figures.text import ci, literal, p_value
from archssl.analysis.tables import families, primary_matrix


def draw(data: FigureData, method: str):
    """Per dataset, ``method``'s gain over the baseline on each architecture and the mean gain."""
    acc, hon, baseline = data.tables["accuracy"], data.tables["honesty"], data.meta["baseline"]
    m, b = primary_matrix(acc, method), primary_matrix(acc, baseline)
    h = hon[hon["method"] == method].set_index("dataset")
    datasets = [ds for ds in m.columns if ds in h.index]
    fam = families(acc)
    colors = palette(fam.values)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.25 * len(datasets) + 2.2), 4.4), layout="constrained")
    rng = np.random.default_rng(0)
    for i, ds in enumerate(datasets):
        gain = (m[ds] - b[ds]).dropna()
        jitter = rng.uniform(-0.12, 0.12, len(gain))
        ax.scatter(i + jitter, gain.values, s=14, c=[colors[fam[a]] for a in gain.index], alpha=0.8, zorder=2)
        r = h.loc[ds]
        ax.errorbar(i + 0.28, r["mean_gain"], yerr=yerr([r["mean_gain"]], [r["ci_lo"]], [r["ci_hi"]]), fmt="D",
                    color="black", ms=5, capsize=3, zorder=3)
        p = r.get("wilcoxon_p", float("nan"))
        wins = f"{int(r['wins'])}/{int(r['n'])}"
        ax.annotate(f"{wins}\np={p:.2g}" if np.isfinite(p) else wins,
                    (i, 1.0), xycoords=("data", "axes fraction"), ha="center", va="bottom", fontsize=7)
    ax.axhline(0, color="grey", lw=0.8, ls="--")
    ax.set_xticks(range(len(datasets)), datasets, rotation=30, ha="right", fontsize=8)
    ax.set_xlim(-0.6, len(datasets) - 0.4)
    ax.set_ylabel(f"accuracy gain over {baseline} (same architecture)", fontsize=8)
    ax.set_title(f"{method} against the untrained {baseline} baseline\n(dots: architectures; diamond: mean gain with "
                 f"bootstrap interval; top: wins/n, Wilcoxon p)", fontsize=9, pad=26)
    family_legend(fig, colors)
    return fig


def numbers(data: FigureData, method: str) -> list[str]:
    """Per dataset: the mean gain with its interval, wins / n and the Wilcoxon p-value."""
    out = []
    h = data.tables["honesty"]
    for r in h[h["method"] == method].sort_values("dataset").itertuples():
        out.append(f"{literal(r.dataset)}: gain {ci(r.mean_gain, r.ci_lo, r.ci_hi, '+.3f')}, wins "
                   f"{int(r.wins)}/{int(r.n)}, Wilcoxon {p_value(r.wilcoxon_p)}")
    return out
