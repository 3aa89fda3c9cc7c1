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

``bn: false`` drops the BatchNorm of ``mlp`` / ``fixed_random`` / ``narrow`` (MoCo v2's head is
Linear-ReLU-Linear); ``deep`` has none either way, as the Good-practices study describes it.

A head is configured by a dict ``{kind, hidden, out, bn}`` (method_params ``head``); missing keys take the
method's defaults (:func:`head_from_cfg`).
"""

from __future__ import annotations

from typing import Any

from torch import nn

HEADS = ("none", "linear", "mlp", "fixed_random", "deep", "narrow")
HEAD_KEYS = ("kind", "hidden", "out", "bn")


def build_head(kind: str, in_dim: int, hidden: int = 2048, out_dim: int = 128, bn: bool = True
               ) -> tuple[nn.Module, int]:
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


def check_head_cfg(cfg: dict[str, Any] | None, where: str = "head") -> dict[str, Any]:
    """Check a ``{kind, hidden, out, bn}`` dict (all keys optional); errors name ``where`` and the key.
    Used by :func:`head_from_cfg` and, before any job runs, by the config validation."""
    if cfg is not None and not isinstance(cfg, dict):
        raise ValueError(f"{where}: expected a mapping {{kind, hidden, out, bn}}, got {cfg!r}")
    cfg = dict(cfg or {})
    unknown = sorted(set(cfg) - set(HEAD_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r}; known: {', '.join(HEAD_KEYS)}")
    if "kind" in cfg and cfg["kind"] not in HEADS:
        raise ValueError(f"{where}.kind: unknown projection head {cfg['kind']!r}; known: {', '.join(HEADS)}")
    for k in ("hidden", "out"):
        if k in cfg and (isinstance(cfg[k], bool) or not isinstance(cfg[k], int) or cfg[k] < 1):
            raise ValueError(f"{where}.{k}: expected a positive integer, got {cfg[k]!r}")
    if "bn" in cfg and not isinstance(cfg["bn"], bool):
        raise ValueError(f"{where}.bn: expected true or false, got {cfg['bn']!r}")
    return cfg


def head_from_cfg(cfg: dict[str, Any] | None, in_dim: int, defaults: dict[str, Any], where: str = "head"
                  ) -> tuple[nn.Module, int]:
    """Build a head from a ``{kind, hidden, out, bn}`` dict over ``defaults``."""
    cfg = check_head_cfg(cfg, where)
    c = {"kind": "mlp", "hidden": 2048, "out": 128, "bn": True, **defaults, **cfg}
    return build_head(str(c["kind"]), in_dim, int(c["hidden"]), int(c["out"]), bool(c["bn"]))
