"""``vs_reference_<method>``: each dataset's accuracy against the reference dataset's, one point per
architecture with its per-image interval, family colours, Spearman's rho and its interval in the panel
title."""

from archssl.catalog.figures.base import FigureKind

KIND = FigureKind("vs_reference", "method", tables=("accuracy", "correlations"), min_archs=2, min_datasets=2,
                  draw="archssl.analysis.figures.vs_reference:draw",
                  numbers="archssl.analysis.figures.vs_reference:numbers", caption="figures/vs_reference.rst")
