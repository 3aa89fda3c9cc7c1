"""``topk_<method>``: the top-k overlap of each dataset's architecture ranking with the reference dataset's,
with the chance level k / n."""

from archssl.catalog.figures.base import FigureKind

KIND = FigureKind("topk", "method", tables=("topk",), needs=("topk",), min_archs=3, min_datasets=2,
                  draw="archssl.analysis.figures.topk:draw", numbers="archssl.analysis.figures.topk:numbers",
                  caption="figures/topk.rst")
