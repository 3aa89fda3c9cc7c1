"""Projection heads, with the variants the Good-practices study ablates.

=============  ============================================================================
kind           layers (d = backbone width, h = hidden, o = output)
=============  ============================================================================
none           identity (the loss sees the backbone features)
linear         Linear(d, o)
mlp            Linear(d, h) - BN - ReLU - Linear(h, o)        (SimCLR)
fixed_random   the mlp, randomly initialised and frozen
deep           Linear(d, h) - ReLU - Linear(h, h) - ReLU - Linear(h, o)
narrow         Linear(d, o) - BN - ReLU - Linear(o, o)        (narrow hidden layer)
=============  ============================================================================

``bn: false`` drops the BatchNorm of ``mlp`` / ``fixed_random`` / ``narrow`` (MoCo v2's head is
Linear-ReLU-Linear); ``deep`` has none either way, as the Good-practices study describes it.

A head is configured by a dict ``{kind, hidden, out, bn}`` (method_params ``head``); missing keys take the
method's defaults (:func:`head_from_cfg`; the descriptors in :mod:`archssl.catalog.methods` write them and
validate the dict).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from archssl.catalog.methods import HEAD_DEFAULTS, HEADS


def build_head(kind: str, in_dim: int, hidden: int, out_dim: int, bn: bool) -> tuple[nn.Module, int]:
    """Return (head, output dimension)."""
    norm = (lambda n: nn.BatchNorm1d(n)) if bn else (lambda n: nn.Identity())
    if kind == "none":
        return nn.Identity(), in_dim
    if kind == "linear":
        return nn.Linear(in_dim, out_dim), out_dim
    if kind in ("mlp", "fixed_random"):
        head = nn.Sequential(nn.Linear(in_dim, hidden), norm(hidden), nn.ReLU(inplace=True),
                             nn.Linear(hidden, out_dim))
        if kind == "fixed_random":
            for p in head.parameters():
                p.requires_grad_(False)
        return head, out_dim
    if kind == "deep":
        return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, hidden),
                             nn.ReLU(inplace=True), nn.Linear(hidden, out_dim)), out_dim
    if kind == "narrow":
        return nn.Sequential(nn.Linear(in_dim, out_dim), norm(out_dim), nn.ReLU(inplace=True),
                             nn.Linear(out_dim, out_dim)), out_dim
    raise ValueError(f"head.kind: unknown projection head {kind!r}; known: {', '.join(HEADS)}")


def head_from_cfg(cfg: dict[str, Any] | None, in_dim: int, defaults: dict[str, Any], where: str = "head"
                  ) -> tuple[nn.Module, int]:
    """Build a head from a ``{kind, hidden, out, bn}`` dict (validated by the method's descriptor) over
    ``defaults`` over :data:`~archssl.catalog.methods.base.HEAD_DEFAULTS`; ``where`` names it in errors."""
    c = {**HEAD_DEFAULTS, **defaults, **(cfg or {})}
    return build_head(str(c["kind"]), in_dim, int(c["hidden"]), int(c["out"]), bool(c["bn"]))
