"""The report's figure kinds (:class:`~archssl.catalog.figures.base.FigureKind`), one module per kind,
registered in :data:`FIGURE_KINDS` in the order a study lists its figures; and :data:`TABLES`, the study's
tables they draw from. The plan decides which figures a study draws (:func:`archssl.plan.figures.planned_figures`),
:mod:`archssl.analysis.figures` draws them, and the workflow's ``figures`` rule puts each in the report with its
kind's caption (``workflow/report/figures/<kind>.rst``).

=======================  =======  ==============================================================
kind                     scope    drawn where
=======================  =======  ==============================================================
corr_heatmap             method   >= 2 architectures, >= 2 datasets
vs_reference             method   >= 2 architectures, >= 2 datasets
acc_vs_params            method   >= 2 architectures
honesty                  method   not the baseline
pretext_vs_downstream    method   >= 2 architectures; trained, not the baseline
topk                     method   >= 3 architectures, >= 2 datasets
depth                    method   several taps probed
width                    method   widths or representation sizes differ; not the baseline
ablations                study    variants
ranking_consistency      study    >= 2 architectures, >= 2 ranked methods
negatives                study    a method's runs vary K
heads                    study    a method's runs vary the projection head
augment                  study    a method's runs vary the crop or the colour jitter
tsne                     study    a method's runs vary the crop or the colour jitter
=======================  =======  ==============================================================

Adding a figure kind is one module here (its ``KIND``), one entry in :data:`BUILTIN` below, its drawing module
in :mod:`archssl.analysis.figures` (``draw`` and ``numbers``) and its caption file.
"""

from __future__ import annotations

from archssl.catalog.figures import (ablations, acc_vs_params, augment, corr_heatmap, depth, heads, honesty,
                                     negatives, pretext_vs_downstream, ranking_consistency, topk, tsne, vs_reference,
                                     width)
from archssl.catalog.figures.base import SCOPES, TABLES, FigureKind, StudyFacts
from archssl.registry import RegistryError

#: the built-in figure kinds' modules, in the order a study lists its figures (per method in this order, then
#: the study's)
BUILTIN = (corr_heatmap, vs_reference, acc_vs_params, honesty, pretext_vs_downstream, topk, depth, width,
           ablations, ranking_consistency, negatives, heads, augment, tsne)

#: name -> figure kind, in the order a study lists its figures
FIGURE_KINDS: dict[str, FigureKind] = {}


def register_figure(kind: FigureKind) -> FigureKind:
    """Add ``kind`` to :data:`FIGURE_KINDS` (after the kinds registered before it)."""
    if kind.name in FIGURE_KINDS and FIGURE_KINDS[kind.name] is not kind:
        raise RegistryError(f"figure kind {kind.name!r} is registered twice")
    FIGURE_KINDS[kind.name] = kind
    return kind


def figure_kind(name: str) -> FigureKind:
    """The registered figure kind ``name``."""
    try:
        return FIGURE_KINDS[name]
    except KeyError:
        raise RegistryError(f"unknown figure kind {name!r}; known: {', '.join(FIGURE_KINDS)}") from None


for _module in BUILTIN:
    register_figure(_module.KIND)

__all__ = ["BUILTIN", "FIGURE_KINDS", "FigureKind", "SCOPES", "StudyFacts", "TABLES", "figure_kind",
           "register_figure"]
