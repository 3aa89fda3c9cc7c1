"""Torch-free and matplotlib-free descriptors of the report's figure kinds, and the study's tables they draw from.

A :class:`FigureKind` is one kind of figure: its scope (drawn once per method as ``<kind>_<method>``, or once
for the study as ``<kind>``), the tables it reads, when a study draws it (:meth:`FigureKind.planned`, over the
plan's :class:`StudyFacts`), how it is drawn and the numbers its caption states (``"module:function"`` paths
that :func:`archssl.catalog.load` imports on first use), and its caption in the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

from archssl.catalog.loader import load

#: the study's tables, in the order :func:`archssl.analysis.tables.build_tables` writes them (``<name>.csv``)
#: and the workflow's ``tables`` rule declares them (each captioned by ``workflow/report/<name>.rst``); ``taps``
#: only where several taps are probed and ``ablations`` only in a study with variants
#: (:func:`archssl.plan.figures.planned_tables`)
TABLES = ("accuracy", "correlations", "honesty", "pretext", "ranks", "best", "topk", "consistency",
          "pretext_correlations", "knobs", "taps", "ablations")
#: a figure drawn once per method (``<kind>_<method>``) or once for the study (``<kind>``)
SCOPES = ("method", "study")


@dataclass(frozen=True)
class StudyFacts:
    """What decides which figures a study draws; the plan gathers them
    (:func:`archssl.plan.figures.planned_figures`).

    ``baseline``: the untrained baseline the honesty figures compare with; ``untrained``: the entries of
    ``methods`` that do not train; ``variants``: the variants the ablation table compares; ``ranked``: the
    trained non-variant methods other than the baseline; ``n_datasets`` / ``n_archs``: downstream datasets and
    architectures; ``multi_tap``: several taps probed; ``widths``: a family at several widening factors or
    representation sizes; ``knobs``: per Good-practices knob (negatives, heads, crop, jitter) the runs of each
    method that vary it (:func:`archssl.plan.figures.knob_series`; a knob no method varies is empty)."""

    baseline: str
    untrained: frozenset = frozenset()
    variants: tuple = ()
    ranked: tuple = ()
    n_datasets: int = 2
    n_archs: int = 2
    multi_tap: bool = False
    widths: bool = False
    knobs: Mapping[str, Mapping[str, list]] = field(default_factory=dict)


def _always(facts: StudyFacts, method: str) -> bool:
    return True


@dataclass(frozen=True)
class FigureKind:
    """One kind of figure of the report.

    ``name``: the kind (the figure's stem is ``<name>_<method>`` or ``<name>``); ``scope``: ``"method"`` or
    ``"study"``; ``tables``: the tables of :data:`TABLES` its drawing and numbers read (they get those and no
    others); ``needs``: those of them it cannot be drawn without (an empty table, or one without rows of the
    figure's method, is an error naming the table); ``min_archs`` / ``min_datasets``: the architectures and
    downstream datasets it needs (a correlation or a scatter over architectures needs 2); ``when``: the rest of
    its condition, ``when(facts, method)`` (``method`` is ``""`` for a study figure); ``draw`` /
    ``numbers``: ``"module:function"`` paths of ``draw(data, method) -> matplotlib Figure`` and
    ``numbers(data, method) -> list[str]`` (the caption's lines, RST), ``data`` an
    :class:`archssl.analysis.figures.FigureData`; ``prepare``: an optional ``"module:function"`` path of
    ``prepare(data, out_dir)``, run once before any figure is drawn, whose result the drawing and the numbers
    get as ``data.prepared`` (the t-SNE embedding); ``caption``: its caption file, relative to
    ``workflow/report/`` (a Jinja template that states ``snakemake.params.numbers[name]``)."""

    name: str
    scope: str
    draw: str
    numbers: str
    caption: str
    tables: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    min_archs: int = 1
    min_datasets: int = 1
    when: Callable[[StudyFacts, str], bool] = _always
    prepare: str | None = None

    def __post_init__(self):
        if self.scope not in SCOPES:
            raise ValueError(f"figure kind {self.name!r}: scope must be one of {SCOPES}; got {self.scope!r}")
        unknown = [t for t in self.tables if t not in TABLES]
        if unknown:
            raise ValueError(f"figure kind {self.name!r}: unknown tables {unknown} (tables: {', '.join(TABLES)})")
        if not set(self.needs) <= set(self.tables):
            raise ValueError(f"figure kind {self.name!r}: needs {list(self.needs)} must be among its tables "
                             f"{list(self.tables)}")

    def planned(self, facts: StudyFacts, method: str = "") -> bool:
        """Whether a study with ``facts`` draws this figure (for ``method``, a per-method kind)."""
        return facts.n_archs >= self.min_archs and facts.n_datasets >= self.min_datasets and self.when(facts, method)

    def stem(self, method: str = "") -> str:
        """The figure's file stem: ``<name>_<method>`` per method, ``<name>`` for the study."""
        return f"{self.name}_{method}" if self.scope == "method" else self.name

    def load_draw(self) -> Callable:
        return load(self.draw)

    def load_numbers(self) -> Callable:
        return load(self.numbers)

    def load_prepare(self) -> Callable | None:
        return load(self.prepare) if self.prepare else None
