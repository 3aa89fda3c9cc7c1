"""``corr_heatmap_<method>``: the dataset x dataset Pearson and Spearman correlation of probe accuracy across
architectures, each cell with its bootstrap interval; cells without a coefficient (fewer than 3
architectures, or a constant accuracy) say so."""

from archssl.catalog.figures.base import FigureKind

KIND = FigureKind("corr_heatmap", "method", tables=("correlations",), min_archs=2, min_datasets=2,
                  draw="archssl.analysis.figures.corr_heatmap:draw",
                  numbers="archssl.analysis.figures.corr_heatmap:numbers", caption="figures/corr_heatmap.rst")
