"""The ``pretext_vs_downstream`` figure (:mod:`archssl.catalog.figures.pretext_vs_downstream`)."""

from __future__ import annotations

import pandas as pd

from archssl.analysis.figures import FigureData
from archssl.analysis.figures.plotting import family_legend, grid, hide_unused, palette, scatter_ci
from archssl.analysis.figures.text import ci, literal, p_value
from archssl.analysis.tables import ci_matrix, families, primary_matrix


def draw(data: FigureData, method: str):
    """The pretext metric against each dataset's accuracy, one point per architecture."""
    acc, pretext, pcorr = data.tables["accuracy"], data.tables["pretext"], data.tables["pretext_correlations"]
    p = pretext[pretext["method"] == method].set_index("arch")
    m = primary_matrix(acc, method)
    lo, hi = ci_matrix(acc, method, "ci_lo"), ci_matrix(acc, method, "ci_hi")
    fam = families(acc)
    colors = palette(fam.values)
    pc = pcorr[(pcorr["method"] == method) & (pcorr["kind"] == "spearman")].set_index("dataset")
    fig, axes = grid(len(m.columns))
    metric = p["pretext_metric"].iloc[0] or "pretext metric"
    for ax, ds in zip(axes.flat, m.columns):
        j = pd.concat([p["pretext_value"], m[ds]], axis=1).dropna()
        scatter_ci(ax, j["pretext_value"], j[ds], [colors[fam[a]] for a in j.index],
                    y_lo=lo[ds].reindex(j.index).values, y_hi=hi[ds].reindex(j.index).values)
        r = pc.loc[ds] if ds in pc.index else None
        ax.set_title(f"{ds}: rho = {ci(r['value'], r['ci_lo'], r['ci_hi'], '.2f')}" if r is not None else ds,
                     fontsize=9)
        ax.set_xlabel(metric, fontsize=8)
        ax.set_ylabel(f"{ds} accuracy", fontsize=8)
        ax.tick_params(labelsize=7)
    hide_unused(axes, len(m.columns))
    family_legend(fig, colors)
    fig.suptitle(f"Pretext metric against downstream accuracy across architectures ({method})", fontsize=10)
    return fig


def numbers(data: FigureData, method: str) -> list[str]:
    """Per dataset: Spearman's rho of the pretext metric with the accuracy, its interval, p-value and n."""
    out = []
    c = data.tables["pretext_correlations"]
    c = c[(c["method"] == method) & (c["kind"] == "spearman")]
    for r in c.sort_values("dataset").itertuples():
        out.append(f"{literal(r.dataset)}: rho = {ci(r.value, r.ci_lo, r.ci_hi, '.2f')}, {p_value(r.p_value)} "
                   f"(n = {int(r.n)})")
    return out
