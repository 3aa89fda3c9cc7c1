"""Drawing helpers the figure kinds share: panel grids, the family palette and legend, error bars, log axes."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.ticker import EngFormatter, LogLocator, NullFormatter


def grid(n: int, cols: int = 4, w: float = 3.3, h: float = 3.0, rows_extra: int = 0):
    """A figure of ``n`` panels, ``cols`` per row (and ``rows_extra`` more rows); returns (figure, axes)."""
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols) + rows_extra
    fig, axes = plt.subplots(rows, cols, figsize=(w * cols, h * rows), squeeze=False, layout="constrained")
    return fig, axes


def hide_unused(axes, used: int) -> None:
    for ax in list(axes.flat)[used:]:
        ax.set_visible(False)


def palette(names) -> dict:
    """name -> colour (seaborn's colorblind palette, names sorted)."""
    names = sorted(set(names), key=str)
    return dict(zip(names, sns.color_palette("colorblind", max(len(names), 1))))


def family_legend(fig, colors: dict) -> None:
    """One legend for the figure, below the panels (never over a point)."""
    handles = [Line2D([], [], marker="o", linestyle="", color=c, label=f) for f, c in colors.items()]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6), title="family",
               fontsize=8, title_fontsize=8, frameon=False)


def yerr(values, lo, hi):
    """Asymmetric error bars (NaN intervals as zero-length bars)."""
    v, lo, hi = (np.asarray(x, dtype=float) for x in (values, lo, hi))
    return np.vstack([np.nan_to_num(v - lo, nan=0.0).clip(min=0), np.nan_to_num(hi - v, nan=0.0).clip(min=0)])


def scatter_ci(ax, x, y, colors, x_lo=None, x_hi=None, y_lo=None, y_hi=None) -> None:
    """One point per (x, y) in its colour, with its intervals as error bars where given."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    for i in range(len(x)):
        ax.errorbar(x[i], y[i], yerr=None if y_lo is None else yerr([y[i]], [y_lo[i]], [y_hi[i]]),
                    xerr=None if x_lo is None else yerr([x[i]], [x_lo[i]], [x_hi[i]]), fmt="o", ms=4.5,
                    color=colors[i], ecolor=colors[i], elinewidth=0.8, alpha=0.9, capsize=1.5)


def corr_lookup(corr: pd.DataFrame, method: str, kind: str, family: str = "all") -> pd.DataFrame:
    """The rows of ``correlations.csv`` of one method, kind and family, indexed by (dataset_a, dataset_b)."""
    c = corr[(corr["method"] == method) & (corr["kind"] == kind) & (corr["family"] == family)]
    return c.set_index(["dataset_a", "dataset_b"])


def log_axis(ax) -> None:
    """A log x axis with engineering-notation ticks at 1, 2 and 5 per decade."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=8))
    ax.xaxis.set_major_formatter(EngFormatter(places=0, sep=""))
    ax.xaxis.set_minor_formatter(NullFormatter())
