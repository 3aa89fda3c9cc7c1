"""The module every family builds: a stack of named stages, a final block, global average pooling and an
optional linear layer fixing the representation size.

Taps are the stage names (``stem``, ``block1`` ... ``blockN``, family-specific extras such as VGG's ``fc6``)
followed by ``prelogits`` (the output of :meth:`Backbone.forward`). Every tap is returned globally average
pooled to ``(N, C)`` and as float32 (the mean is accumulated in float32, also under bf16 autocast).
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from archssl.catalog.archs import arch_id


def global_pool(x: torch.Tensor) -> torch.Tensor:
    """``(N, C, H, W) -> (N, C)`` by averaging (accumulated in float32); ``(N, C)`` passes through as float32."""
    if x.dim() == 4:
        return x.mean(dim=(2, 3), dtype=torch.float32)
    if x.dim() == 2:
        return x.float()
    raise ValueError(f"cannot pool a tensor of shape {tuple(x.shape)}")


class Backbone(nn.Module):
    """A feature extractor: ``backbone(x)`` returns ``(N, out_dim)`` float32 features before any head.

    Attributes: ``spec`` (the normalized spec), ``arch_id``, ``out_dim``, ``tap_names``.
    Submodules are named after the taps (``stem``, ``block1``, ...), then ``final`` (what sits between the last
    stage and the pooling: v2's BN-ReLU, MobileNetV2's last 1x1 conv, VGG's fc7) and ``rep`` (optional
    representation layer).
    """

    def __init__(self, spec: dict, stages: Iterable[tuple[str, nn.Module]], final: nn.Module | None,
                 channels: int, rep_dim: int | None = None):
        super().__init__()
        self.spec = dict(spec)
        self.arch_id = arch_id(spec)
        names = []
        for name, module in stages:
            if name in ("final", "rep", "prelogits"):
                raise ValueError(f"stage name {name!r} is reserved")
            self.add_module(name, module)
            names.append(name)
        self.stage_names: list[str] = names
        self.final = final if final is not None else nn.Identity()
        self.rep = nn.Linear(channels, rep_dim) if rep_dim else None
        self.out_dim: int = int(rep_dim or channels)
        self.tap_names: list[str] = names + ["prelogits"]

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """Last stage's output -> pre-logits features ``(N, out_dim)``."""
        x = global_pool(self.final(x))
        if self.rep is not None:
            x = self.rep(x).float()
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.stage_names:
            x = self._modules[name](x)
        return self.head(x)

    def forward_taps(self, x: torch.Tensor, taps: Iterable[str]) -> dict[str, torch.Tensor]:
        """Return ``{tap: (N, C) pooled features}`` for the requested taps in one pass, stopping after the
        deepest one. Order of the dict follows ``taps``."""
        taps = list(taps)
        unknown = [t for t in taps if t not in self.tap_names]
        if unknown:
            raise ValueError(f"unknown tap {unknown[0]!r} for {self.arch_id}; known taps: {', '.join(self.tap_names)}")
        if not taps:
            return {}
        wanted = set(taps)
        deepest = max(self.tap_names.index(t) for t in taps)
        out: dict[str, torch.Tensor] = {}
        for i, name in enumerate(self.stage_names):
            if i > deepest:
                break
            x = self._modules[name](x)
            if name in wanted:
                out[name] = global_pool(x)
        if "prelogits" in wanted:
            out["prelogits"] = self.head(x)
        return {t: out[t] for t in taps}

    def extra_repr(self) -> str:
        return f"arch_id={self.arch_id!r}, out_dim={self.out_dim}"


def init_conv_bn(model: nn.Module) -> None:
    """torchvision's initialisation: Kaiming-normal (fan_out, ReLU) convs with zero bias, BN weight 1 / bias 0.
    Linear layers keep PyTorch's default (families with FC layers initialise those themselves)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
