"""``acc_vs_params_<method>``: accuracy against parameter count (top rows) and FLOPs (bottom rows), log axes,
one point per architecture."""

from archssl.catalog.figures.base import FigureKind

KIND = FigureKind("acc_vs_params", "method", tables=("accuracy",), min_archs=2,
                  draw="archssl.analysis.figures.acc_vs_params:draw",
                  numbers="archssl.analysis.figures.acc_vs_params:numbers", caption="figures/acc_vs_params.rst")
