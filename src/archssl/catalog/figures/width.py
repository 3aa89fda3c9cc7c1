"""``width_<method>`` (the architectures differ in width or representation size; not the baseline): mean
accuracy over datasets per (widening factor, representation size) cell, per family."""

from archssl.catalog.figures.base import FigureKind

KIND = FigureKind("width", "method", tables=("accuracy",),
                  when=lambda facts, method: facts.widths and method != facts.baseline,
                  draw="archssl.analysis.figures.width:draw", numbers="archssl.analysis.figures.width:numbers",
                  caption="figures/width.rst")
