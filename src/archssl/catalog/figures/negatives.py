"""``negatives`` (a method's runs vary the negatives per query K): mean accuracy over datasets against K, per
method, with the interval over architectures."""

from archssl.catalog.figures.base import FigureKind

KIND = FigureKind("negatives", "study", tables=("knobs",), needs=("knobs",),
                  when=lambda facts, method: bool(facts.knobs.get("negatives")),
                  draw="archssl.analysis.figures.negatives:draw", numbers="archssl.analysis.figures.negatives:numbers",
                  caption="figures/negatives.rst")
