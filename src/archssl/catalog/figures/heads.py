"""``heads`` (a method's runs vary the projection head): mean accuracy over datasets per head, per method,
with the interval over architectures."""

from archssl.catalog.figures.base import FigureKind

KIND = FigureKind("heads", "study", tables=("knobs",), needs=("knobs",),
                  when=lambda facts, method: bool(facts.knobs.get("heads")),
                  draw="archssl.analysis.figures.heads:draw", numbers="archssl.analysis.figures.heads:numbers",
                  caption="figures/heads.rst")
