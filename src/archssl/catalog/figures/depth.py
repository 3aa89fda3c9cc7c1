"""``depth_<method>`` (several taps probed): mean accuracy per tap, shallow to deep, per family, with the
interval over the family's architectures."""

from archssl.catalog.figures.base import FigureKind

KIND = FigureKind("depth", "method", tables=("taps",), needs=("taps",), when=lambda facts, method: facts.multi_tap,
                  draw="archssl.analysis.figures.depth:draw", numbers="archssl.analysis.figures.depth:numbers",
                  caption="figures/depth.rst")
