"""The study's figures, drawn with seaborn from the tidy tables of :mod:`archssl.analysis.tables`.

One file per figure and method (``<figure>_<method>.<fmt>``):

``corr_heatmap``        dataset x dataset correlation across architectures (Pearson and Spearman panels)
``vs_reference``        each dataset's accuracy against the reference dataset's, one panel per dataset,
                        with Spearman's rank correlation in the panel title
``acc_vs_params``       accuracy against parameter count (log scale), one panel per dataset
``honesty``             per dataset: the method against the untrained baseline on the same architectures
``pretext_vs_downstream``  the method's own pretext metric against downstream accuracy

and, for a study with variants, ``ablations``: each variant's mean accuracy change from its method, per dataset.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pandas as pd

from archssl.analysis.tables import primary_matrix
from archssl.plan import split_stem
from archssl.utils import atomic_path

log = logging.getLogger("archssl.figures")



def _save(fig, paths: list[Path]) -> None:
    import matplotlib.pyplot as plt

    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix[1:], dpi=110, bbox_inches="tight")
    plt.close(fig)


def _grid(n: int):
    import matplotlib.pyplot as plt

    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.9 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def corr_heatmap(corr: pd.DataFrame, method: str):
    import matplotlib.pyplot as plt
    import seaborn as sns

    kinds = [k for k in ("pearson", "spearman") if k in set(corr["kind"])]
    fig, axes = plt.subplots(1, len(kinds), figsize=(6.2 * len(kinds), 5), squeeze=False)
    for ax, kind in zip(axes.flat, kinds):
        c = corr[(corr["method"] == method) & (corr["kind"] == kind)]
        m = c.pivot(index="dataset_a", columns="dataset_b", values="value")
        for d in m.index:
            m.loc[d, d] = 1.0
        m = m.sort_index().sort_index(axis=1)
        sns.heatmap(m, ax=ax, vmin=-1, vmax=1, cmap="RdBu_r", annot=True, fmt=".2f", square=True,
                    cbar_kws={"shrink": 0.7}, annot_kws={"size": 7})
        ax.set_title(f"{kind.capitalize()} correlation across architectures ({method})")
        ax.set_xlabel("")
        ax.set_ylabel("")
    return fig


def vs_reference(acc: pd.DataFrame, method: str, reference: str):
    from scipy import stats
    import seaborn as sns

    m = primary_matrix(acc, method)
    fam = acc.drop_duplicates("arch").set_index("arch")["family"]
    others = [d for d in m.columns if d != reference]
    fig, axes = _grid(len(others))
    for i, (ax, ds) in enumerate(zip(axes, others)):
        pair = m[[reference, ds]].dropna()
        sns.scatterplot(x=pair[reference], y=pair[ds], hue=fam.reindex(pair.index), ax=ax, s=30, legend=i == 0)
        rho = stats.spearmanr(pair[reference], pair[ds]).statistic if len(pair) >= 3 else float("nan")
        ax.set_title(f"{ds}: Spearman rho = {rho:.2f}", fontsize=9)
        ax.set_xlabel(f"{reference} accuracy", fontsize=8)
        ax.set_ylabel(f"{ds} accuracy", fontsize=8)
    fig.suptitle(f"Downstream accuracy against {reference} across architectures ({method})")
    fig.tight_layout()
    return fig


def acc_vs_params(acc: pd.DataFrame, method: str):
    import seaborn as sns

    d = acc[(acc["method"] == method) & acc["primary"]]
    datasets = sorted(d["dataset"].unique())
    fig, axes = _grid(len(datasets))
    for i, (ax, ds) in enumerate(zip(axes, datasets)):
        sub = d[d["dataset"] == ds]
        sns.scatterplot(data=sub, x="params", y="value", hue="family", ax=ax, s=30, legend=i == 0)
        ax.set_xscale("log")
        ax.set_title(ds, fontsize=9)
        ax.set_xlabel("parameters", fontsize=8)
        ax.set_ylabel("accuracy", fontsize=8)
    fig.suptitle(f"Accuracy against parameter count ({method})")
    fig.tight_layout()
    return fig


def honesty(acc: pd.DataFrame, method: str, baseline: str):
    import matplotlib.pyplot as plt
    import seaborn as sns

    d = acc[acc["method"].isin([method, baseline]) & acc["primary"]]
    fig, ax = plt.subplots(figsize=(1.1 * d["dataset"].nunique() + 2, 3.8))
    sns.boxplot(data=d, x="dataset", y="value", hue="method", hue_order=[baseline, method], ax=ax,
                fliersize=0)
    sns.stripplot(data=d, x="dataset", y="value", hue="method", hue_order=[baseline, method], ax=ax,
                  dodge=True, size=3, palette="dark:k", legend=False)
    ax.set_ylabel("test accuracy (primary metric)")
    ax.set_title(f"{method} against the untrained {baseline} baseline, same architectures")
    ax.tick_params(axis="x", rotation=30)
    return fig


def pretext_vs_downstream(acc: pd.DataFrame, pretext: pd.DataFrame, method: str):
    import seaborn as sns

    p = pretext[pretext["method"] == method].set_index("arch")
    m = primary_matrix(acc, method)
    fig, axes = _grid(len(m.columns))
    for ax, ds in zip(axes, m.columns):
        j = pd.concat([p["pretext_value"], m[ds]], axis=1).dropna()
        sns.scatterplot(x=j["pretext_value"], y=j[ds], ax=ax, s=30)
        ax.set_title(ds, fontsize=9)
        ax.set_xlabel(f"{p['pretext_metric'].iloc[0]}", fontsize=8)
        ax.set_ylabel("downstream accuracy", fontsize=8)
    fig.suptitle(f"Pretext metric against downstream accuracy across architectures ({method})")
    fig.tight_layout()
    return fig


def ablations(abl: pd.DataFrame):
    """Heatmap: variant x dataset, the mean change of the primary metric from the variant's method (or from
    the entry its ``against`` names, shown in the row label)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    against = abl["against"] if "against" in abl else abl["method"]
    label = abl["variant"] + " (" + abl["change"] + ")" + (" vs " + against).where(against != abl["method"], "")
    m = abl.assign(label=label).pivot(index="label", columns="dataset", values="mean_delta")
    m = m.reindex(index=list(dict.fromkeys(label)))  # the study's order of variants
    m["mean over datasets"] = m.mean(axis=1)
    lim = max(float(m.abs().max().max()), 1e-6)
    fig, ax = plt.subplots(figsize=(1.0 * m.shape[1] + 4.5, 0.45 * m.shape[0] + 1.8))
    sns.heatmap(m, ax=ax, cmap="RdBu", vmin=-lim, vmax=lim, center=0, annot=True, fmt="+.3f",
                annot_kws={"size": 7}, cbar_kws={"label": "mean accuracy change"})
    n = int(abl["n"].max())
    ax.set_title(f"Each variant against its method, mean over {n} architecture{'s' if n != 1 else ''}")
    ax.set_xlabel("")
    ax.set_ylabel("")
    return fig


def make_figures(tables_dir: Path, out_dir: Path, formats=("png",)) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    tables_dir, out_dir = Path(tables_dir), Path(out_dir)
    acc = pd.read_csv(tables_dir / "accuracy.csv")
    corr = pd.read_csv(tables_dir / "correlations.csv")
    pretext = pd.read_csv(tables_dir / "pretext.csv") if (tables_dir / "pretext.csv").stat().st_size > 1 else pd.DataFrame()
    meta = json.loads((tables_dir / "study.json").read_text())
    baseline = meta["baseline"]
    reference = meta["reference"]
    drawers = {
        "corr_heatmap": lambda m: corr_heatmap(corr, m),
        "vs_reference": lambda m: vs_reference(acc, m, reference),
        "acc_vs_params": lambda m: acc_vs_params(acc, m),
        "honesty": lambda m: honesty(acc, m, baseline),
        "pretext_vs_downstream": lambda m: pretext_vs_downstream(acc, pretext, m),
        "ablations": lambda m: ablations(pd.read_csv(tables_dir / "ablations.csv")),
    }
    written = []
    for stem in meta["figures"]:  # the plan's list (archssl.plan.planned_figures): drawn exactly
        name, method = split_stem(stem)
        if method and method not in set(acc["method"]):
            raise ValueError(f"{tables_dir / 'accuracy.csv'}: no results of method {method!r} for figure {stem}")
        if name == "pretext_vs_downstream" and (pretext.empty or method not in set(pretext["method"])):
            raise ValueError(f"{tables_dir / 'pretext.csv'}: no pretraining metrics for method {method!r}")
        paths = [out_dir / f"{stem}.{fmt}" for fmt in formats]
        _save(drawers[name](method), paths)
        written.extend(paths)
    log.info("figures: %d files -> %s", len(written), out_dir)
    return written
