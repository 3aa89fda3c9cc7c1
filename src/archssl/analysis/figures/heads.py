"""The ``heads`` figure (:mod:`archssl.catalog.figures.heads`)."""

from __future__ import annotations

from archssl.analysis.figures import FigureData
from archssl.analysis.figures.knobs import knob_figure, knob_numbers


#: the knobs of ``knobs.csv`` the figure draws
KNOBS = ('heads',)


def draw(data: FigureData, method: str):
    """Mean accuracy over datasets against the projection head, per method."""
    return knob_figure(data.tables["knobs"], KNOBS)


def numbers(data: FigureData, method: str) -> list[str]:
    return knob_numbers(data.tables["knobs"], KNOBS)
