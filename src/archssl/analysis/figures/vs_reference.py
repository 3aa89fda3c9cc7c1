"""The ``vs_reference`` figure (:mod:`archssl.catalog.figures.vs_reference`)."""

from __future__ import annotations

import numpy as np

from archssl.analysis.figures import FigureData
from archssl.analysis.figures.plotting import corr_lookup, family_legend, grid, hide_unused, palette, scatter_ci
from archssl.analysis.figures.text import ci, literal, p_value
from archssl.analysis.tables import ci_matrix, families, primary_matrix


def draw(data: FigureData, method: str):
    """Each dataset's accuracy against the reference dataset's, one panel per dataset."""
    acc, corr, reference = data.tables["accuracy"], data.tables["correlations"], data.meta["reference"]
    m = primary_matrix(acc, method)
    lo, hi = ci_matrix(acc, method, "ci_lo"), ci_matrix(acc, method, "ci_hi")
    fam = families(acc)
    colors = palette(fam.values)
    others = [d for d in m.columns if d != reference]
    c = corr_lookup(corr, method, "spearman")
    fig, axes = grid(len(others))
    for ax, ds in zip(axes.flat, others):
        pair = m[[reference, ds]].dropna()
        idx = pair.index
        scatter_ci(ax, pair[reference], pair[ds], [colors[fam[a]] for a in idx],
                    lo[reference].reindex(idx).values, hi[reference].reindex(idx).values,
                    lo[ds].reindex(idx).values, hi[ds].reindex(idx).values)
        if (reference, ds) in c.index:
            r = c.loc[(reference, ds)]
            title = (f"{ds}: rho = {ci(r['value'], r['ci_lo'], r['ci_hi'], '.2f')}" if np.isfinite(r["value"])
                     else f"{ds}: rho undefined (n = {int(r['n'])} architectures)")
        else:
            title = f"{ds}: rho n/a"
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(f"{reference} accuracy", fontsize=8)
        ax.set_ylabel(f"{ds} accuracy", fontsize=8)
        ax.tick_params(labelsize=7)
    hide_unused(axes, len(others))
    family_legend(fig, colors)
    fig.suptitle(f"Downstream accuracy against {reference} across architectures ({method}); "
                 "bars: 95% bootstrap intervals over test images", fontsize=10)
    return fig


def numbers(data: FigureData, method: str) -> list[str]:
    """Per dataset: Spearman's rho with the reference dataset, its interval, p-value and n."""
    out = []
    c = data.tables["correlations"]
    c = c[(c["method"] == method) & (c["family"] == "all") & (c["kind"] == "spearman")]
    ref = data.meta["reference"]
    c = c[c["dataset_a"] == ref].rename(columns={"dataset_b": "dataset"})
    for r in c.sort_values("dataset").itertuples():
        out.append(f"{literal(r.dataset)}: rho = {ci(r.value, r.ci_lo, r.ci_hi, '.2f')}, {p_value(r.p_value)} "
                   f"(n = {int(r.n)})")
    return out
