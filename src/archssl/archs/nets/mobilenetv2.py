"""MobileNetV2 modules with torchvision's layout (``ConvBNReLU`` = Sequential(conv, bn, relu6); inverted
residuals hold a ``conv`` Sequential), so torchvision weights map by renaming ``features.0 -> stem``,
``features.k -> block<stage>.<index>`` and ``features.18 -> final``."""

from __future__ import annotations

import torch
from torch import nn

from archssl.archs.nets.backbone import Backbone, init_conv_bn
from archssl.catalog.archs.families.mobilenetv2 import block_plan, stage_channels


class ConvBNReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """MBConv: [1x1 expand] -> kxk depthwise (stride) -> 1x1 project (linear), residual when shapes match."""

    def __init__(self, inp: int, out: int, stride: int, expand: int, kernel: int = 3):
        super().__init__()
        hidden = int(round(inp * expand))
        self.use_res_connect = stride == 1 and inp == out
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvBNReLU(inp, hidden, kernel=1))
        layers += [
            ConvBNReLU(hidden, hidden, kernel=kernel, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out, 1, bias=False),
            nn.BatchNorm2d(out),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


def build_mobilenetv2(spec: dict) -> Backbone:
    first, _, last = stage_channels(spec)
    stages: list[tuple[str, nn.Module]] = [
        ("stem", ConvBNReLU(3, first, stride=1 if spec["stem"] == "cifar" else 2))]
    inp = first
    for si, stage in enumerate(block_plan(spec)):
        blocks: list[nn.Module] = []
        for blk in stage:
            if blk["skip"]:
                blocks.append(nn.Identity())
            else:
                blocks.append(InvertedResidual(blk["inp"], blk["out"], blk["stride"], blk["expand"], blk["kernel"]))
            inp = blk["out"]
        stages.append((f"block{si + 1}", nn.Sequential(*blocks)))
    final = ConvBNReLU(inp, last, kernel=1)
    model = Backbone(spec, stages, final, last, spec["rep_dim"])
    init_conv_bn(model)
    return model


def torchvision_key_map(spec: dict):
    """A function mapping torchvision ``mobilenet_v2`` state-dict keys to ours (``None`` for the classifier)."""
    index = {0: "stem"}
    k = 1
    for si, n in enumerate(spec["depths"]):
        for j in range(n):
            index[k] = f"block{si + 1}.{j}"
            k += 1
    index[k] = "final"

    def mapping(key: str) -> str | None:
        if key.startswith("classifier."):
            return None
        head, num, rest = key.split(".", 2)
        if head != "features" or int(num) not in index:
            raise KeyError(f"unexpected torchvision MobileNetV2 key {key!r}")
        return f"{index[int(num)]}.{rest}"

    return mapping
