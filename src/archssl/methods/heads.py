"""Projection heads, with the variants the Good-practices study ablates.

=============  ============================================================================
kind           layers (d = backbone width, h = hidden, o = output)
=============  ============================================================================
none           identity (the loss sees the backbone features)
linear         Linear(d, o)
mlp            Linear(d, h) - BN - ReLU - Linear(h, o)        (SimCLR; h = 2048, o = 128)
fixed_random   the mlp, randomly initialised and frozen
deep           Linear(d, h) - ReLU - Linear(h, h) - ReLU - Linear(h, o)
narrow         Linear(d, o) - BN - ReLU - Linear(o, o)        (narrow hidden layer)
=============  ============================================================================
"""

from __future__ import annotations

from torch import nn

HEADS = ("none", "linear", "mlp", "fixed_random", "deep", "narrow")


def build_head(kind: str, in_dim: int, hidden: int = 2048, out_dim: int = 128) -> tuple[nn.Module, int]:
    """Return (head, output dimension)."""
    if kind == "none":
        return nn.Identity(), in_dim
    if kind == "linear":
        return nn.Linear(in_dim, out_dim), out_dim
    if kind in ("mlp", "fixed_random"):
        head = nn.Sequential(nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                             nn.Linear(hidden, out_dim))
        if kind == "fixed_random":
            for p in head.parameters():
                p.requires_grad_(False)
        return head, out_dim
    if kind == "deep":
        return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, hidden),
                             nn.ReLU(inplace=True), nn.Linear(hidden, out_dim)), out_dim
    if kind == "narrow":
        return nn.Sequential(nn.Linear(in_dim, out_dim), nn.BatchNorm1d(out_dim), nn.ReLU(inplace=True),
                             nn.Linear(out_dim, out_dim)), out_dim
    raise ValueError(f"head.kind: unknown projection head {kind!r}; known: {', '.join(HEADS)}")
