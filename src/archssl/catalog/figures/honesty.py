"""``honesty_<method>`` (every method but the baseline): per dataset, the gain of the method over the
untrained baseline on each architecture, the mean gain with its interval, and the Wilcoxon p-value and
wins / n. Drawn with one architecture too."""

from archssl.catalog.figures.base import FigureKind

KIND = FigureKind("honesty", "method", tables=("accuracy", "honesty"),
                  when=lambda facts, method: method != facts.baseline,
                  draw="archssl.analysis.figures.honesty:draw", numbers="archssl.analysis.figures.honesty:numbers",
                  caption="figures/honesty.rst")
