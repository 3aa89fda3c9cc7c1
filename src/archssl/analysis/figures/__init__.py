"""The study's figures, drawn from the tidy tables of :mod:`archssl.analysis.tables`, each with its uncertainty.

One file per figure (and method) in every format asked for (PNG and PDF in the workflow): the list is the
plan's (:func:`archssl.plan.planned_figures`, in the tables' ``study.json``) and is drawn exactly. Each figure
kind is a record of :mod:`archssl.catalog.figures` (what it shows, when a study draws it, the tables it reads)
and a module here, named by the record: ``draw(data, method)`` returns the matplotlib figure and
``numbers(data, method)`` the lines its caption states; ``data`` is a :class:`FigureData` holding the tables the
record names and no others.

Per method (``<figure>_<method>``): ``corr_heatmap``, ``vs_reference``, ``acc_vs_params``, ``honesty``,
``pretext_vs_downstream``, ``topk``, ``depth``, ``width``; for the study: ``ablations``,
``ranking_consistency``, ``negatives``, ``heads``, ``augment``, ``tsne`` (each described in its record).

Next to the figures, ``numbers.json`` holds the numbers behind each figure (``{figure: {stem: [line, ...]}}``):
the figure's caption in the report states them (``snakemake.params.numbers``); the t-SNE figure also writes
``tsne.csv`` (the points of every panel).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from archssl.catalog.figures import FIGURE_KINDS
from archssl.plan import split_stem
from archssl.utils import atomic_path

log = logging.getLogger("archssl.figures")

FORMATS = ("png", "pdf")


@dataclass(frozen=True)
class FigureData:
    """What one figure kind's ``draw`` and ``numbers`` read: ``tables``, the tables its record names (name ->
    DataFrame; empty where the study has none); ``meta``, the tables' ``study.json`` (reference, baseline,
    runs, ...); ``tsne``, the t-SNE spec (:meth:`archssl.plan.Plan.tsne`; None where none was given);
    ``prepared``, what its record's ``prepare`` returned (None without one)."""

    tables: Mapping[str, pd.DataFrame]
    meta: dict
    tsne: dict | None = None
    prepared: Any = None


def save(fig, paths: list[Path]) -> None:
    """Write ``fig`` to each of ``paths`` (format from the suffix) and close it."""
    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix[1:], dpi=120, bbox_inches="tight")
    plt.close(fig)


def _read(tables_dir: Path, name: str) -> pd.DataFrame:
    path = tables_dir / f"{name}.csv"
    if not path.exists() or path.stat().st_size <= 1:
        return pd.DataFrame()
    return pd.read_csv(path)


def make_figures(tables_dir: Path, out_dir: Path, formats=FORMATS, tsne: dict | None = None) -> list[Path]:
    """Draw the figures the tables' ``study.json`` plans, in every format, and ``numbers.json`` (the numbers
    of each figure's caption); ``tsne`` is :meth:`archssl.plan.Plan.tsne` (the t-SNE figure's feature files),
    and with it ``tsne.csv`` (the points of every panel). Returns the figure files."""
    matplotlib.use("Agg")
    sns.set_theme(style="whitegrid", context="paper")
    tables_dir, out_dir = Path(tables_dir), Path(out_dir)
    acc = pd.read_csv(tables_dir / "accuracy.csv")
    meta = json.loads((tables_dir / "study.json").read_text())
    tsne = tsne or None
    planned = dict.fromkeys(split_stem(stem)[0] for stem in meta["figures"])
    kinds = [kind for name, kind in FIGURE_KINDS.items() if name in planned]
    read = {"accuracy": acc}
    for kind in kinds:
        for name in kind.tables:
            if name not in read:
                read[name] = _read(tables_dir, name)

    def data(kind, prepared=None) -> FigureData:
        return FigureData({n: read[n] for n in kind.tables}, meta, tsne, prepared)

    # what a kind computes once before its figures (the t-SNE embedding, which also writes tsne.csv)
    prepared = {kind.name: kind.load_prepare()(data(kind), out_dir) for kind in kinds if kind.prepare}
    numbers: dict[str, dict[str, list[str]]] = {}
    written = []
    for stem in meta["figures"]:  # the plan's list (archssl.plan.planned_figures): drawn exactly
        name, method = split_stem(stem)
        kind = FIGURE_KINDS[name]
        if method and method not in set(acc["method"]):
            raise ValueError(f"{tables_dir / 'accuracy.csv'}: no results of method {method!r} for figure {stem}")
        for table in kind.needs:
            t = read[table]
            if t.empty or (method and "method" in t and method not in set(t["method"])):
                raise ValueError(f"{tables_dir / (table + '.csv')}: nothing for figure {stem}")
        d = data(kind, prepared.get(name))
        paths = [out_dir / f"{stem}.{fmt}" for fmt in formats]
        save(kind.load_draw()(d, method), paths)
        written.extend(paths)
        numbers.setdefault(name, {})[stem] = kind.load_numbers()(d, method)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "numbers.json") as tmp:
        tmp.write_text(json.dumps(numbers, indent=1))
    log.info("figures: %d files -> %s", len(written), out_dir)
    return written
