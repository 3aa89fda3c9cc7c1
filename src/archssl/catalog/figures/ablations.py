"""``ablations`` (a study with variants): each variant's mean change from its method (or from the entry its
``against`` names) per dataset, a star where the Wilcoxon p < 0.05."""

from archssl.catalog.figures.base import FigureKind

KIND = FigureKind("ablations", "study", tables=("ablations",), needs=("ablations",),
                  when=lambda facts, method: bool(facts.variants),
                  draw="archssl.analysis.figures.ablations:draw", numbers="archssl.analysis.figures.ablations:numbers",
                  caption="figures/ablations.rst")
