"""VGG-BN modules (see :mod:`archssl.catalog.archs.families.vgg`)."""

from __future__ import annotations

from torch import nn

from archssl.archs.nets.backbone import Backbone, init_conv_bn
from archssl.catalog.archs.families.vgg import block_channels


def build_vgg(spec: dict) -> Backbone:
    stages: list[tuple[str, nn.Module]] = []
    inp = 3
    for i, (n, c) in enumerate(zip(spec["depths"], block_channels(spec))):
        layers: list[nn.Module] = [nn.MaxPool2d(2, 2)] if i > 0 else []
        for _ in range(n):
            layers += [nn.Conv2d(inp, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            inp = c
        stages.append((f"block{i + 1}", nn.Sequential(*layers)))
    final = None
    channels = inp
    if spec["fc_dim"]:
        fc = spec["fc_dim"] * spec["widen"]
        p = spec["fc_pool"]
        stages.append(("fc6", nn.Sequential(
            nn.MaxPool2d(2, 2), nn.AdaptiveAvgPool2d(p), nn.Flatten(1),
            nn.Linear(inp * p * p, fc, bias=False), nn.BatchNorm1d(fc), nn.ReLU(inplace=True))))
        final = nn.Sequential(nn.Linear(fc, fc, bias=False), nn.BatchNorm1d(fc), nn.ReLU(inplace=True))
        channels = fc
    model = Backbone(spec, stages, final, channels, spec["rep_dim"])
    init_conv_bn(model)
    for fc_layer in (model.fc6[3], model.final[0]) if spec["fc_dim"] else ():
        nn.init.normal_(fc_layer.weight, 0, 0.01)  # torchvision's VGG init for FC layers
    return model
