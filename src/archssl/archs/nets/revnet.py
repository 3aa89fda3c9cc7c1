"""RevNet modules (see :mod:`archssl.catalog.archs.families.revnet`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from archssl.archs.nets.backbone import Backbone, init_conv_bn
from archssl.catalog.archs.families.revnet import stage_channels


class RevUnit(nn.Module):
    """``(x1, x2) -> (x2, x1 + F(x2))`` with ``F`` a pre-activation bottleneck on half the channels."""

    def __init__(self, channels: int):
        super().__init__()
        half = channels // 2
        q = half // 4
        self.f = nn.Sequential(
            nn.BatchNorm2d(half), nn.ReLU(inplace=True), nn.Conv2d(half, q, 1, bias=False),
            nn.BatchNorm2d(q), nn.ReLU(inplace=True), nn.Conv2d(q, q, 3, padding=1, bias=False),
            nn.BatchNorm2d(q), nn.ReLU(inplace=True), nn.Conv2d(q, half, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x.chunk(2, dim=1)
        return torch.cat([x2, x1 + self.f(x2)], dim=1)


class PoolAndDoubleChannels(nn.Module):
    """2x2 stride-2 average pool (ceil mode: the border windows average only real pixels), then zero-pad the
    channels from C to 2C (C/2 zero channels before and after)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(x, 2, 2, ceil_mode=True)
        c = x.shape[1]
        return F.pad(x, (0, 0, 0, 0, c // 2, c - c // 2))


def build_revnet(spec: dict) -> Backbone:
    chans = stage_channels(spec)
    if spec["stem"] == "imagenet":
        stem = nn.Sequential(nn.Conv2d(3, chans[0], 7, 2, 3, bias=False), nn.MaxPool2d(3, 2, 1))
    else:
        stem = nn.Sequential(nn.Conv2d(3, chans[0], 3, 1, 1, bias=False))
    stages: list[tuple[str, nn.Module]] = [("stem", stem)]
    for i, (n, c) in enumerate(zip(spec["depths"], chans)):
        layers: list[nn.Module] = [PoolAndDoubleChannels()] if i > 0 else []
        layers += [RevUnit(c) for _ in range(n)]
        stages.append((f"block{i + 1}", nn.Sequential(*layers)))
    final = nn.Sequential(nn.BatchNorm2d(chans[-1]), nn.ReLU(inplace=True)) if spec["final_relu"] \
        else nn.Sequential(nn.BatchNorm2d(chans[-1]))
    model = Backbone(spec, stages, final, chans[-1], spec["rep_dim"])
    init_conv_bn(model)
    return model
