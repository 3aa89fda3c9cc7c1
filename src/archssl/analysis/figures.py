"""The study's figures, drawn from the tidy tables of :mod:`archssl.analysis.tables`, each with its uncertainty.

One file per figure (and method) in every format asked for (PNG and PDF in the workflow): the list is the
plan's (:func:`archssl.plan.planned_figures`, in the tables' ``study.json``) and is drawn exactly.

Per method (``<figure>_<method>``):

``corr_heatmap``   dataset x dataset Pearson and Spearman correlation across architectures, each cell with its
                   bootstrap interval; cells without a coefficient (fewer than 3 architectures) say so
``vs_reference``   each dataset's accuracy against the reference dataset's, one point per architecture with its
                   per-image interval, family colours, Spearman's rho and its interval in the panel title
``acc_vs_params``  accuracy against parameter count (top rows) and FLOPs (bottom rows), log axes
``honesty``        per dataset, the gain of the method over the untrained baseline on each architecture, the mean
                   gain with its interval, and the Wilcoxon p-value and wins / n
``pretext_vs_downstream``  the method's pretext metric against downstream accuracy, family colours, rho and interval
``topk``           top-k overlap with the reference dataset's ranking, per dataset, with the chance level k / n
``depth``          mean accuracy per tap (shallow to deep) per family, with intervals over architectures
``width``          mean accuracy over datasets per (widening factor, representation size) cell, per family

For the study: ``ablations`` (each variant's mean change from its method), ``ranking_consistency`` (Kendall's
W of the architecture ranking across methods and of the method ranking across architectures), ``negatives``,
``heads`` and ``augment`` (mean accuracy over datasets against the Good-practices knob, per method, with
intervals over architectures), ``tsne`` (a t-SNE of frozen features of a few classes, one panel per run from
weak to strong augmentation, with each panel's 5-NN accuracy and silhouette: :func:`tsne_figure`).

Next to the figures, ``numbers.json`` holds the numbers behind each figure (``{figure: {stem: [line, ...]}}``,
:func:`figure_numbers`): the figure's caption in the report states them (``snakemake.params.numbers``).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from archssl.analysis.tables import ci_matrix, families, primary_matrix
from archssl.plan import split_stem
from archssl.utils import atomic_path

log = logging.getLogger("archssl.figures")

FORMATS = ("png", "pdf")


def _save(fig, paths: list[Path]) -> None:
    import matplotlib.pyplot as plt

    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix[1:], dpi=120, bbox_inches="tight")
    plt.close(fig)


def _grid(n: int, cols: int = 4, w: float = 3.3, h: float = 3.0, rows_extra: int = 0):
    import matplotlib.pyplot as plt

    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols) + rows_extra
    fig, axes = plt.subplots(rows, cols, figsize=(w * cols, h * rows), squeeze=False, layout="constrained")
    return fig, axes


def _hide_unused(axes, used: int) -> None:
    for ax in list(axes.flat)[used:]:
        ax.set_visible(False)


def _palette(names) -> dict:
    import seaborn as sns

    names = sorted(set(names), key=str)
    return dict(zip(names, sns.color_palette("colorblind", max(len(names), 1))))


def _ci_text(value: float, lo: float, hi: float, fmt: str = ".2f") -> str:
    if not np.isfinite(value):
        return "n/a"
    if np.isfinite(lo) and np.isfinite(hi):
        return f"{value:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"
    return f"{value:{fmt}}"


def _family_legend(fig, colors: dict) -> None:
    """One legend for the figure, below the panels (never over a point)."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", linestyle="", color=c, label=f) for f, c in colors.items()]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6), title="family",
               fontsize=8, title_fontsize=8, frameon=False)


def _yerr(values, lo, hi):
    """Asymmetric error bars (NaN intervals as zero-length bars)."""
    v, lo, hi = (np.asarray(x, dtype=float) for x in (values, lo, hi))
    return np.vstack([np.nan_to_num(v - lo, nan=0.0).clip(min=0), np.nan_to_num(hi - v, nan=0.0).clip(min=0)])


def _scatter_ci(ax, x, y, colors, x_lo=None, x_hi=None, y_lo=None, y_hi=None) -> None:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    for i in range(len(x)):
        ax.errorbar(x[i], y[i], yerr=None if y_lo is None else _yerr([y[i]], [y_lo[i]], [y_hi[i]]),
                    xerr=None if x_lo is None else _yerr([x[i]], [x_lo[i]], [x_hi[i]]), fmt="o", ms=4.5,
                    color=colors[i], ecolor=colors[i], elinewidth=0.8, alpha=0.9, capsize=1.5)


def _corr_lookup(corr: pd.DataFrame, method: str, kind: str, family: str = "all") -> pd.DataFrame:
    c = corr[(corr["method"] == method) & (corr["kind"] == kind) & (corr["family"] == family)]
    return c.set_index(["dataset_a", "dataset_b"])


# --------------------------------------------------------------------------------------------- per method


def corr_heatmap(corr: pd.DataFrame, method: str):
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize

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
        c = _corr_lookup(corr, method, kind)
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
                    txt += f"\n[{row['ci_lo']:.2f},\n{row['ci_hi']:.2f}]" if k > 5 else f"\n[{row['ci_lo']:.2f}, {row['ci_hi']:.2f}]"
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


def vs_reference(acc: pd.DataFrame, corr: pd.DataFrame, method: str, reference: str):
    m = primary_matrix(acc, method)
    lo, hi = ci_matrix(acc, method, "ci_lo"), ci_matrix(acc, method, "ci_hi")
    fam = families(acc)
    colors = _palette(fam.values)
    others = [d for d in m.columns if d != reference]
    c = _corr_lookup(corr, method, "spearman")
    fig, axes = _grid(len(others))
    for ax, ds in zip(axes.flat, others):
        pair = m[[reference, ds]].dropna()
        idx = pair.index
        _scatter_ci(ax, pair[reference], pair[ds], [colors[fam[a]] for a in idx],
                    lo[reference].reindex(idx).values, hi[reference].reindex(idx).values,
                    lo[ds].reindex(idx).values, hi[ds].reindex(idx).values)
        if (reference, ds) in c.index:
            r = c.loc[(reference, ds)]
            title = (f"{ds}: rho = {_ci_text(r['value'], r['ci_lo'], r['ci_hi'])}" if np.isfinite(r["value"])
                     else f"{ds}: rho undefined (n = {int(r['n'])} architectures)")
        else:
            title = f"{ds}: rho n/a"
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(f"{reference} accuracy", fontsize=8)
        ax.set_ylabel(f"{ds} accuracy", fontsize=8)
        ax.tick_params(labelsize=7)
    _hide_unused(axes, len(others))
    _family_legend(fig, colors)
    fig.suptitle(f"Downstream accuracy against {reference} across architectures ({method}); "
                 "bars: 95% bootstrap intervals over test images", fontsize=10)
    return fig


def _log_axis(ax) -> None:
    from matplotlib.ticker import EngFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=8))
    ax.xaxis.set_major_formatter(EngFormatter(places=0, sep=""))
    ax.xaxis.set_minor_formatter(NullFormatter())


def acc_vs_params(acc: pd.DataFrame, method: str):
    d = acc[(acc["method"] == method) & acc["primary"]].drop_duplicates(["arch", "dataset", "tap"])
    d = d.groupby(["arch", "dataset"], sort=True).tail(1)
    datasets = sorted(d["dataset"].unique())
    colors = _palette(acc["family"])
    cols = min(4, len(datasets))
    block = math.ceil(len(datasets) / cols)
    fig, axes = _grid(len(datasets), cols=cols, h=2.8, rows_extra=block)
    flat = list(axes.flat)
    for part, (x, label) in enumerate((("params", "parameters"), ("flops", "FLOPs per image"))):
        for i, ds in enumerate(datasets):
            ax = flat[part * block * cols + i]
            sub = d[d["dataset"] == ds]
            _scatter_ci(ax, sub[x], sub["value"], [colors[f] for f in sub["family"]],
                        y_lo=sub["ci_lo"].values, y_hi=sub["ci_hi"].values)
            _log_axis(ax)
            ax.set_title(f"{ds} vs {label}", fontsize=9)
            ax.set_xlabel(label, fontsize=8)
            ax.set_ylabel("accuracy", fontsize=8)
            ax.tick_params(labelsize=7)
        for ax in flat[part * block * cols + len(datasets):(part + 1) * block * cols]:
            ax.set_visible(False)
    _family_legend(fig, colors)
    fig.suptitle(f"Accuracy against parameter count (upper rows) and FLOPs (lower rows) ({method})", fontsize=10)
    return fig


def honesty(acc: pd.DataFrame, hon: pd.DataFrame, method: str, baseline: str):
    import matplotlib.pyplot as plt

    m, b = primary_matrix(acc, method), primary_matrix(acc, baseline)
    h = hon[hon["method"] == method].set_index("dataset")
    datasets = [ds for ds in m.columns if ds in h.index]
    fam = families(acc)
    colors = _palette(fam.values)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.25 * len(datasets) + 2.2), 4.4), layout="constrained")
    rng = np.random.default_rng(0)
    for i, ds in enumerate(datasets):
        gain = (m[ds] - b[ds]).dropna()
        jitter = rng.uniform(-0.12, 0.12, len(gain))
        ax.scatter(i + jitter, gain.values, s=14, c=[colors[fam[a]] for a in gain.index], alpha=0.8, zorder=2)
        r = h.loc[ds]
        ax.errorbar(i + 0.28, r["mean_gain"], yerr=_yerr([r["mean_gain"]], [r["ci_lo"]], [r["ci_hi"]]), fmt="D",
                    color="black", ms=5, capsize=3, zorder=3)
        p = r.get("wilcoxon_p", float("nan"))
        ax.annotate(f"{int(r['wins'])}/{int(r['n'])}\np={p:.2g}" if np.isfinite(p) else f"{int(r['wins'])}/{int(r['n'])}",
                    (i, 1.0), xycoords=("data", "axes fraction"), ha="center", va="bottom", fontsize=7)
    ax.axhline(0, color="grey", lw=0.8, ls="--")
    ax.set_xticks(range(len(datasets)), datasets, rotation=30, ha="right", fontsize=8)
    ax.set_xlim(-0.6, len(datasets) - 0.4)
    ax.set_ylabel(f"accuracy gain over {baseline} (same architecture)", fontsize=8)
    ax.set_title(f"{method} against the untrained {baseline} baseline\n(dots: architectures; diamond: mean gain with "
                 f"bootstrap interval; top: wins/n, Wilcoxon p)", fontsize=9, pad=26)
    _family_legend(fig, colors)
    return fig


def pretext_vs_downstream(acc: pd.DataFrame, pretext: pd.DataFrame, pcorr: pd.DataFrame, method: str):
    p = pretext[pretext["method"] == method].set_index("arch")
    m = primary_matrix(acc, method)
    lo, hi = ci_matrix(acc, method, "ci_lo"), ci_matrix(acc, method, "ci_hi")
    fam = families(acc)
    colors = _palette(fam.values)
    pc = pcorr[(pcorr["method"] == method) & (pcorr["kind"] == "spearman")].set_index("dataset")
    fig, axes = _grid(len(m.columns))
    metric = p["pretext_metric"].iloc[0] or "pretext metric"
    for ax, ds in zip(axes.flat, m.columns):
        j = pd.concat([p["pretext_value"], m[ds]], axis=1).dropna()
        _scatter_ci(ax, j["pretext_value"], j[ds], [colors[fam[a]] for a in j.index],
                    y_lo=lo[ds].reindex(j.index).values, y_hi=hi[ds].reindex(j.index).values)
        r = pc.loc[ds] if ds in pc.index else None
        ax.set_title(f"{ds}: rho = {_ci_text(r['value'], r['ci_lo'], r['ci_hi'])}" if r is not None else ds,
                     fontsize=9)
        ax.set_xlabel(metric, fontsize=8)
        ax.set_ylabel(f"{ds} accuracy", fontsize=8)
        ax.tick_params(labelsize=7)
    _hide_unused(axes, len(m.columns))
    _family_legend(fig, colors)
    fig.suptitle(f"Pretext metric against downstream accuracy across architectures ({method})", fontsize=10)
    return fig


def topk(tk: pd.DataFrame, method: str):
    import matplotlib.pyplot as plt

    t = tk[tk["method"] == method]
    datasets = sorted(t["dataset"].unique())
    ks = sorted(t["k"].unique())
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(datasets) * max(1, len(ks)) ** 0.5 + 2.5), 4.0),
                           layout="constrained")
    width = 0.8 / max(1, len(ks))
    for j, k in enumerate(ks):
        s = t[t["k"] == k].set_index("dataset").reindex(datasets)
        x = np.arange(len(datasets)) + (j - (len(ks) - 1) / 2) * width
        ax.bar(x, s["overlap"], width * 0.95, label=f"top-{k}")
        ax.scatter(x, k / s["n"], marker="_", s=120, color="black", zorder=3,
                   label="chance (k / n)" if j == 0 else None)
    ax.set_xticks(range(len(datasets)), datasets, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share of the reference's top-k also in the top-k", fontsize=8)
    ref = t["reference"].iloc[0] if len(t) else ""
    n = int(t["n"].max()) if len(t) else 0
    ax.set_title(f"Top-k overlap with the {ref} ranking of {n} architectures ({method})", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return fig


def depth(taps: pd.DataFrame, method: str):
    t = taps[taps["method"] == method]
    datasets = sorted(t["dataset"].unique())
    colors = _palette(t["family"])
    order = t.drop_duplicates("tap").sort_values("depth")["tap"].tolist()
    fig, axes = _grid(len(datasets))
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
    _hide_unused(axes, len(datasets))
    _family_legend(fig, colors)
    fig.suptitle(f"Probe accuracy by depth, mean over each family's architectures ({method}); band: bootstrap "
                 "interval over them (families of 2 or more)", fontsize=10)
    return fig


def width(acc: pd.DataFrame, method: str):
    import matplotlib.pyplot as plt

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


# ----------------------------------------------------------------------------------------------- the study


def ablations(abl: pd.DataFrame):
    """Heatmap: variant x dataset, the mean change of the primary metric from the variant's method (or from
    the entry its ``against`` names, shown in the row label); a star marks a Wilcoxon p < 0.05."""
    import matplotlib.pyplot as plt
    import seaborn as sns

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


def ranking_consistency(cons: pd.DataFrame):
    import matplotlib.pyplot as plt

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


def _knob_panel(ax, k: pd.DataFrame, knob: str, xlabel: str) -> None:
    colors = _palette(k["method"])
    for method, g in k.groupby("method", sort=True):
        g = g.sort_values(["order", "level"])
        x = g["order"].values if knob == "negatives" else None
        if x is None:
            levels = list(dict.fromkeys(k.sort_values(["order", "level"])["level"]))
            x = np.array([levels.index(v) for v in g["level"]], dtype=float)
            ax.set_xticks(range(len(levels)), levels, rotation=20, ha="right", fontsize=8)
        # the heads are categories: markers, no line between them
        ax.errorbar(x, g["mean"], yerr=_yerr(g["mean"], g["ci_lo"], g["ci_hi"]), marker="o", capsize=3,
                    color=colors[method], label=method, linestyle="none" if knob == "heads" else "-")
    if knob == "negatives":
        _log_axis(ax)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel("mean accuracy over datasets", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, frameon=False, title="method", title_fontsize=7)


def knob_figure(knobs: pd.DataFrame, which: tuple[str, ...], titles: dict):
    k = knobs[(knobs["dataset"] == "mean") & knobs["knob"].isin(which)]
    present = [w for w in which if w in set(k["knob"])]
    fig, axes = _grid(len(present), cols=2, w=4.6, h=3.6)
    for ax, w in zip(axes.flat, present):
        _knob_panel(ax, k[k["knob"] == w], w, titles[w])
        ax.set_title(KNOB_PANEL[w], fontsize=9)
    n = int(k["n"].max()) if len(k) else 0
    bars = (f"bars: bootstrap interval over {n} architectures" if n >= 2
            else f"no interval: {n} architecture")
    fig.suptitle(f"Mean accuracy over datasets per run, {bars}", fontsize=10)
    return fig


KNOB_TITLES = {"negatives": "negatives per query K (log scale)", "heads": "projection head",
               "crop": "crop area min-max, fraction of the image (smaller: stronger)",
               "jitter": "colour-jitter strength (larger: stronger)"}
KNOB_PANEL = {"negatives": "Number of negatives", "heads": "Projection head", "crop": "Crop", "jitter": "Colour jitter"}


# ------------------------------------------------------------------------------------------------ t-SNE

TSNE_K = 5  # neighbours of the kNN scores


def _knn_loo(X: np.ndarray, y: np.ndarray, k: int = TSNE_K, metric: str = "euclidean") -> float:
    """Leave-one-out k-nearest-neighbour accuracy (majority vote, ties to the smallest label)."""
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(X) - 1)
    nn = NearestNeighbors(n_neighbors=k + 1, metric=metric).fit(X)
    _, idx = nn.kneighbors(X)
    votes = []
    for i, row in enumerate(idx):
        row = [j for j in row if j != i][:k]
        votes.append(np.bincount(y[row], minlength=int(y.max()) + 1).argmax())
    return float(np.mean(np.array(votes) == y))


def _tsne_labels(y: np.ndarray) -> np.ndarray:
    """Class per image: the label, or for multi-hot labels the single positive class (-1: none or several)."""
    if y.ndim == 1:
        return y.astype(np.int64)
    single = y.sum(axis=1) == 1
    return np.where(single, y.argmax(axis=1), -1).astype(np.int64)


def tsne_embed(spec: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The t-SNE of every run of ``spec`` (:meth:`archssl.plan.Plan.tsne`): the same test images for every run
    (the ``classes`` most frequent classes of the first run's test split, ``per_class`` images of each drawn
    with the spec's seed), features standardised, reduced by PCA to at most 50 dimensions, then scikit-learn's
    TSNE (PCA init, seeded). Returns the points (run, index, label, x, y) and per run the scores: 5-NN
    leave-one-out accuracy in the 2-D embedding (``knn_2d``), the silhouette of the classes in it
    (``silhouette_2d``) and the 5-NN accuracy in the feature space itself (cosine, ``knn_features``)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from sklearn.metrics import silhouette_score

    from archssl.evaluate.featurestore import read_features

    files, seed = spec["files"], int(spec["seed"])
    names = list(files)
    first = read_features(files[names[0]], spec.get("tap"), splits=("test",))["test"]
    labels = _tsne_labels(first.y)
    counts = pd.Series(labels[labels >= 0]).value_counts()
    counts = counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
    chosen = sorted(int(c) for c in counts.index[: int(spec["classes"])])
    rng = np.random.default_rng(seed)
    keep = []
    for c in chosen:
        members = first.indices[labels == c]
        take = min(int(spec["per_class"]), len(members))
        keep.extend(sorted(rng.choice(members, size=take, replace=False).tolist()))
    keep = np.array(sorted(keep), dtype=np.int64)
    points, scores = [], []
    for name in names:
        split = read_features(files[name], spec.get("tap"), splits=("test",))["test"]
        pos = pd.Series(np.arange(len(split.indices)), index=split.indices)
        rows = pos.reindex(keep)
        if rows.isna().any():
            raise ValueError(f"{files[name]}: test images {keep[rows.isna().values][:5].tolist()} of "
                             f"{files[names[0]]} are missing")
        X = split.X[rows.values.astype(np.int64)].astype(np.float64)
        y = _tsne_labels(split.y)[rows.values.astype(np.int64)]
        std = X.std(axis=0)
        Z = (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)
        Z = PCA(n_components=min(50, Z.shape[1], len(Z)), random_state=seed).fit_transform(Z)
        emb = TSNE(n_components=2, perplexity=min(30.0, (len(Z) - 1) / 3.0), init="pca", learning_rate="auto",
                   random_state=seed).fit_transform(Z)
        Xn = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        scores.append({"run": name, "n": len(y), "classes": len(chosen), "knn_2d": _knn_loo(emb, y),
                       "silhouette_2d": float(silhouette_score(emb, y)),
                       "knn_features": _knn_loo(Xn, y, metric="cosine")})
        points.append(pd.DataFrame({"run": name, "index": keep, "label": y, "x": emb[:, 0], "y": emb[:, 1]}))
    return pd.concat(points, ignore_index=True), pd.DataFrame(scores)


def tsne_figure(points: pd.DataFrame, scores: pd.DataFrame, spec: dict):
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    rows = spec["rows"]
    cols = max(len(r["runs"]) for r in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(3.0 * cols, 3.1 * len(rows) + 0.9), squeeze=False,
                             layout="constrained")
    colors = _palette(points["label"])
    sc = scores.set_index("run")
    for i, r in enumerate(rows):
        for j in range(cols):
            ax = axes[i, j]
            if j >= len(r["runs"]):
                ax.set_visible(False)
                continue
            name, level = r["runs"][j], r["levels"][j]
            p = points[points["run"] == name]
            ax.scatter(p["x"], p["y"], s=7, c=[colors[v] for v in p["label"]], alpha=0.85, linewidths=0)
            s_ = sc.loc[name]
            ax.set_title(f"{name}\n{level}", fontsize=8)
            ax.text(0.02, 0.02, f"5-NN {s_['knn_2d']:.2f}, silhouette {s_['silhouette_2d']:.2f}",
                    transform=ax.transAxes, fontsize=7, va="bottom",
                    bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1.5})
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel("t-SNE 1", fontsize=7)
            ax.set_ylabel(f"{r['method']}, {r['knob']}: t-SNE 2" if j == 0 else "t-SNE 2", fontsize=7)
    handles = [Line2D([], [], marker="o", linestyle="", color=c, label=f"class {k}") for k, c in colors.items()]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 8), fontsize=8, frameon=False)
    n = int(scores["n"].max())
    fig.suptitle(f"t-SNE of frozen features of {spec['arch']} on {spec['dataset']} ({n} test images, "
                 f"{int(scores['classes'].max())} classes)\naugmentation from weak (left) to strong (right); "
                 "5-NN: leave-one-out accuracy in the 2-D embedding", fontsize=9)
    return fig


# ---------------------------------------------------------------------------------- numbers of the captions


def _f(v, fmt=".3f") -> str:
    return f"{v:{fmt}}" if v is not None and np.isfinite(v) else "n/a"


def _ci(v, lo, hi, fmt=".3f") -> str:
    if not np.isfinite(v):
        return "n/a"
    return f"{v:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]" if np.isfinite(lo) and np.isfinite(hi) else f"{v:{fmt}}"


def _p(p) -> str:
    return f"p = {p:.2g}" if p is not None and np.isfinite(p) else "p n/a"


def _name(s) -> str:
    return f"``{s}``"


def _text(s) -> str:
    """Free text (a variant's note) escaped for RST."""
    s = str(s).replace("\\", "\\\\")
    for ch in "*`|_[]":
        s = s.replace(ch, "\\" + ch)
    return s


def figure_numbers(name: str, method: str, acc: pd.DataFrame, t: dict, tsne_scores: pd.DataFrame | None = None,
                   spec: dict | None = None) -> list[str]:
    """The numbers behind one figure, one short line each, as its caption states them (RST: names literal).
    Accuracies and gains to 3 decimals, coefficients to 2 (as the figures print them), p-values to 2
    significant digits."""
    out = []
    if name == "corr_heatmap":
        c = t["correlations"]
        c = c[(c["method"] == method) & (c["family"] == "all")]
        for (a, b), g in c.groupby(["dataset_a", "dataset_b"], sort=True):
            if a >= b:
                continue
            g = g.set_index("kind")
            parts = [f"{k} {_ci(g.loc[k, 'value'], g.loc[k, 'ci_lo'], g.loc[k, 'ci_hi'], '.2f')}"
                     for k in ("pearson", "spearman") if k in g.index]
            out.append(f"{_name(a)} / {_name(b)}: {', '.join(parts)} (n = {int(g['n'].max())})")
    elif name in ("vs_reference", "pretext_vs_downstream"):
        if name == "vs_reference":
            c = t["correlations"]
            c = c[(c["method"] == method) & (c["family"] == "all") & (c["kind"] == "spearman")]
            ref = spec["reference"]
            c = c[c["dataset_a"] == ref].rename(columns={"dataset_b": "dataset"})
        else:
            c = t["pretext_correlations"]
            c = c[(c["method"] == method) & (c["kind"] == "spearman")]
        for r in c.sort_values("dataset").itertuples():
            out.append(f"{_name(r.dataset)}: rho = {_ci(r.value, r.ci_lo, r.ci_hi, '.2f')}, {_p(r.p_value)} "
                       f"(n = {int(r.n)})")
    elif name == "acc_vs_params":
        from scipy.stats import spearmanr

        d = acc[(acc["method"] == method) & acc["primary"]].drop_duplicates(["arch", "dataset", "tap"])
        d = d.groupby(["arch", "dataset"], sort=True).tail(1)
        for ds, g in d.groupby("dataset", sort=True):
            line = f"{_name(ds)}: accuracy {_f(g['value'].min())}-{_f(g['value'].max())} over {len(g)} architectures"
            if len(g) >= 3 and g["value"].nunique() > 1 and g["params"].nunique() > 1:
                rho, p = spearmanr(g["params"], g["value"])
                line += f", Spearman rho with parameters {_f(rho, '.2f')} ({_p(p)})"
            out.append(line)
    elif name == "honesty":
        h = t["honesty"]
        for r in h[h["method"] == method].sort_values("dataset").itertuples():
            out.append(f"{_name(r.dataset)}: gain {_ci(r.mean_gain, r.ci_lo, r.ci_hi, '+.3f')}, wins "
                       f"{int(r.wins)}/{int(r.n)}, Wilcoxon {_p(r.wilcoxon_p)}")
    elif name == "topk":
        k = t["topk"]
        for ds, g in k[k["method"] == method].groupby("dataset", sort=True):
            parts = [f"top-{int(r.k)} {_f(r.overlap, '.2f')} (chance {_f(r.k / r.n, '.2f')})"
                     for r in g.sort_values("k").itertuples()]
            out.append(f"{_name(ds)}: {', '.join(parts)}")
    elif name == "depth":
        k = t["taps"]
        k = k[k["method"] == method]
        for (ds, fam), g in k.groupby(["dataset", "family"], sort=True):
            parts = [f"{r.tap} {_ci(r.mean, r.ci_lo, r.ci_hi)}" for r in g.sort_values("depth").itertuples()]
            out.append(f"{_name(ds)}, {fam}: {', '.join(parts)}")
    elif name == "width":
        m = primary_matrix(acc, method).dropna()
        info = acc.drop_duplicates("arch").set_index("arch")
        per_arch = pd.DataFrame({"mean": m.mean(axis=1)}).join(info[["family", "widen", "rep_size"]])
        cell = per_arch.groupby(["family", "widen", "rep_size"])["mean"].agg(["mean", "count"]).reset_index()
        drawn = [f for f, g in cell.groupby("family") if len(g) >= 2] or list(cell["family"].unique())
        for r in cell[cell["family"].isin(drawn)].itertuples():
            out.append(f"{r.family} widen {r.widen:g}, representation {int(r.rep_size)}: {_f(r.mean)} "
                       f"(n = {int(r.count)})")
    elif name == "ablations":
        a = t["ablations"]
        for v in dict.fromkeys(a["variant"]):
            g = a[a["variant"] == v]
            sig = int((g["wilcoxon_p"] < 0.05).sum()) if "wilcoxon_p" in g else 0
            out.append(f"{_name(v)} ({_text(g['change'].iloc[0])}): mean change {_f(g['mean_delta'].mean(), '+.3f')} over "
                       f"{len(g)} datasets, wins/losses {int(g['wins'].sum())}/{int(g['losses'].sum())} of "
                       f"{int(g['n'].sum())}, Wilcoxon p < 0.05 on {sig}")
    elif name == "ranking_consistency":
        c = t["consistency"]
        for r in c.itertuples():
            out.append(f"{r.ranking}, {_name(r.dataset)}: W = {_f(r.w, '.2f')}, {_p(r.p_value)} "
                       f"(m = {int(r.m)}, n = {int(r.n)})")
    elif name in ("negatives", "heads", "augment"):
        which = {"negatives": ("negatives",), "heads": ("heads",), "augment": ("crop", "jitter")}[name]
        k = t["knobs"]
        k = k[(k["dataset"] == "mean") & k["knob"].isin(which)]
        for (knob, meth), g in k.groupby(["knob", "method"], sort=True):
            parts = [f"{r.level} {_ci(r.mean, r.ci_lo, r.ci_hi)}" for r in g.sort_values(["order", "level"]).itertuples()]
            out.append(f"{knob}, {_name(meth)}: {', '.join(parts)} (n = {int(g['n'].max())})")
    elif name == "tsne" and tsne_scores is not None:
        sc = tsne_scores.set_index("run")
        for r in spec["rows"]:
            for run, level in zip(r["runs"], r["levels"]):
                s_ = sc.loc[run]
                out.append(f"{_name(run)} ({level}): 5-NN {_f(s_['knn_2d'], '.2f')} and silhouette "
                           f"{_f(s_['silhouette_2d'], '.2f')} in 2-D, 5-NN {_f(s_['knn_features'], '.2f')} in the "
                           f"feature space")
    return out


# ------------------------------------------------------------------------------------------------- driver


def _read(tables_dir: Path, name: str) -> pd.DataFrame:
    path = tables_dir / f"{name}.csv"
    if not path.exists() or path.stat().st_size <= 1:
        return pd.DataFrame()
    return pd.read_csv(path)


def make_figures(tables_dir: Path, out_dir: Path, formats=FORMATS, tsne: dict | None = None) -> list[Path]:
    """Draw the figures the tables' ``study.json`` plans, in every format, and ``numbers.json`` (the numbers
    of each figure's caption); ``tsne`` is :meth:`archssl.plan.Plan.tsne` (the t-SNE figure's feature files),
    and with it ``tsne.csv`` (the points of every panel). Returns the figure files."""
    import matplotlib

    matplotlib.use("Agg")
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    tables_dir, out_dir = Path(tables_dir), Path(out_dir)
    acc = pd.read_csv(tables_dir / "accuracy.csv")
    t = {n: _read(tables_dir, n) for n in ("correlations", "pretext", "honesty", "topk", "taps", "consistency",
                                           "pretext_correlations", "knobs", "ablations")}
    meta = json.loads((tables_dir / "study.json").read_text())
    baseline, reference = meta["baseline"], meta["reference"]
    drawers = {
        "corr_heatmap": lambda m: corr_heatmap(t["correlations"], m),
        "vs_reference": lambda m: vs_reference(acc, t["correlations"], m, reference),
        "acc_vs_params": lambda m: acc_vs_params(acc, m),
        "honesty": lambda m: honesty(acc, t["honesty"], m, baseline),
        "pretext_vs_downstream": lambda m: pretext_vs_downstream(acc, t["pretext"], t["pretext_correlations"], m),
        "topk": lambda m: topk(t["topk"], m),
        "depth": lambda m: depth(t["taps"], m),
        "width": lambda m: width(acc, m),
        "ablations": lambda m: ablations(t["ablations"]),
        "ranking_consistency": lambda m: ranking_consistency(t["consistency"]),
        "negatives": lambda m: knob_figure(t["knobs"], ("negatives",), KNOB_TITLES),
        "heads": lambda m: knob_figure(t["knobs"], ("heads",), KNOB_TITLES),
        "augment": lambda m: knob_figure(t["knobs"], ("crop", "jitter"), KNOB_TITLES),
        "tsne": lambda m: tsne_figure(tsne_points, tsne_scores, tsne),
    }
    tsne = tsne or None
    tsne_points = tsne_scores = None
    if "tsne" in meta["figures"]:
        if not tsne:
            raise ValueError("the plan draws the t-SNE figure, but no t-SNE spec (--tsne) was given")
        tsne_points, tsne_scores = tsne_embed(tsne)
        out_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(out_dir / "tsne.csv") as tmp:
            tsne_points.to_csv(tmp, index=False)
    numbers: dict[str, dict[str, list[str]]] = {}
    needs = {"pretext_vs_downstream": "pretext", "topk": "topk", "depth": "taps", "ranking_consistency": "consistency",
             "negatives": "knobs", "heads": "knobs", "augment": "knobs", "ablations": "ablations"}
    written = []
    for stem in meta["figures"]:  # the plan's list (archssl.plan.planned_figures): drawn exactly
        name, method = split_stem(stem)
        if method and method not in set(acc["method"]):
            raise ValueError(f"{tables_dir / 'accuracy.csv'}: no results of method {method!r} for figure {stem}")
        table = needs.get(name)
        if table and (t[table].empty or (method and "method" in t[table] and method not in set(t[table]["method"]))):
            raise ValueError(f"{tables_dir / (table + '.csv')}: nothing for figure {stem}")
        paths = [out_dir / f"{stem}.{fmt}" for fmt in formats]
        _save(drawers[name](method), paths)
        written.extend(paths)
        numbers.setdefault(name, {})[stem] = figure_numbers(name, method, acc, t, tsne_scores,
                                                            {**meta, **(tsne or {})})
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "numbers.json") as tmp:
        tmp.write_text(json.dumps(numbers, indent=1))
    log.info("figures: %d files -> %s", len(written), out_dir)
    return written
