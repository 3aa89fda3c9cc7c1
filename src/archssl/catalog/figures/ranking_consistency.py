"""``ranking_consistency`` (2 or more ranked methods): Kendall's W of the architecture ranking across methods
and of the method ranking across architectures, per dataset."""

from archssl.catalog.figures.base import FigureKind

KIND = FigureKind("ranking_consistency", "study", tables=("consistency",), needs=("consistency",), min_archs=2,
                  when=lambda facts, method: len(facts.ranked) >= 2,
                  draw="archssl.analysis.figures.ranking_consistency:draw",
                  numbers="archssl.analysis.figures.ranking_consistency:numbers",
                  caption="figures/ranking_consistency.rst")
