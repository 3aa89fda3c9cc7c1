"""``pretext_vs_downstream_<method>`` (trained methods but the baseline): the method's pretext metric against
downstream accuracy across architectures, family colours, Spearman's rho and its interval."""

from archssl.catalog.figures.base import FigureKind

KIND = FigureKind("pretext_vs_downstream", "method", tables=("accuracy", "pretext", "pretext_correlations"),
                  needs=("pretext",), min_archs=2,
                  when=lambda facts, method: method != facts.baseline and method not in facts.untrained,
                  draw="archssl.analysis.figures.pretext_vs_downstream:draw",
                  numbers="archssl.analysis.figures.pretext_vs_downstream:numbers",
                  caption="figures/pretext_vs_downstream.rst")
