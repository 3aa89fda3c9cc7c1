"""How figures and captions write numbers: accuracies and gains to 3 decimals, coefficients to 2, p-values to 2
significant digits, intervals as ``value [lo, hi]``, names as RST literals (``numbers.json`` is RST)."""

from __future__ import annotations

import numpy as np


def num(v, fmt: str = ".3f") -> str:
    """``v`` in ``fmt``; ``n/a`` for None or a non-finite value."""
    return f"{v:{fmt}}" if v is not None and np.isfinite(v) else "n/a"


def ci(v, lo, hi, fmt: str = ".3f") -> str:
    """``v [lo, hi]`` in ``fmt`` (``v`` alone where the interval is undefined; ``n/a`` for a non-finite ``v``)."""
    if not np.isfinite(v):
        return "n/a"
    return f"{v:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]" if np.isfinite(lo) and np.isfinite(hi) else f"{v:{fmt}}"


def p_value(p) -> str:
    return f"p = {p:.2g}" if p is not None and np.isfinite(p) else "p n/a"


def literal(s) -> str:
    """A name as an RST literal."""
    return f"``{s}``"


def rst_text(s) -> str:
    """Free text (a variant's note) escaped for RST."""
    s = str(s).replace("\\", "\\\\")
    for ch in "*`|_[]":
        s = s.replace(ch, "\\" + ch)
    return s
