"""ResNet modules. v1 blocks use torchvision's attribute names (``conv1``, ``bn1``, ..., ``downsample``) so
torchvision weights map by renaming ``conv1/bn1 -> stem.0/stem.1`` and ``layerN -> blockN``."""

from __future__ import annotations

import torch
from torch import nn

from archssl.archs.nets.backbone import Backbone, init_conv_bn
from archssl.catalog.archs.families.resnet import inner_width, stage_planes


def conv3x3(cin: int, cout: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, groups=groups, bias=False)


def conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """v1 basic block (torchvision). ``relu_out=False`` drops the ReLU after the residual addition."""

    def __init__(self, inp: int, planes: int, stride: int = 1, relu_out: bool = True):
        super().__init__()
        self.conv1 = conv3x3(inp, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = (nn.Sequential(conv1x1(inp, planes, stride), nn.BatchNorm2d(planes))
                           if stride != 1 or inp != planes else None)
        self.relu_out = relu_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + identity
        return self.relu(out) if self.relu_out else out


class Bottleneck(nn.Module):
    """v1 bottleneck (torchvision, stride on the 3x3 conv, ResNeXt grouping)."""

    expansion = 4

    def __init__(self, inp: int, planes: int, width: int, stride: int = 1, groups: int = 1,
                 relu_out: bool = True):
        super().__init__()
        out = planes * self.expansion
        self.conv1 = conv1x1(inp, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, out)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (nn.Sequential(conv1x1(inp, out, stride), nn.BatchNorm2d(out))
                           if stride != 1 or inp != out else None)
        self.relu_out = relu_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out = out + identity
        return self.relu(out) if self.relu_out else out


class PreActBasicBlock(nn.Module):
    """v2 basic block: BN-ReLU-conv3x3-BN-ReLU-conv3x3 plus shortcut (projection from the pre-activation)."""

    def __init__(self, inp: int, planes: int, stride: int = 1):
        super().__init__()
        self.bn0 = nn.BatchNorm2d(inp)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = conv3x3(inp, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.downsample = conv1x1(inp, planes, stride) if stride != 1 or inp != planes else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.relu(self.bn0(x))
        identity = x if self.downsample is None else self.downsample(pre)
        out = self.conv1(pre)
        out = self.conv2(self.relu(self.bn1(out)))
        return out + identity


class PreActBottleneck(nn.Module):
    """v2 bottleneck: BN-ReLU-conv1x1-BN-ReLU-conv3x3(stride, groups)-BN-ReLU-conv1x1 plus shortcut."""

    expansion = 4

    def __init__(self, inp: int, planes: int, width: int, stride: int = 1, groups: int = 1):
        super().__init__()
        out = planes * self.expansion
        self.bn0 = nn.BatchNorm2d(inp)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = conv1x1(inp, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, out)
        self.downsample = conv1x1(inp, out, stride) if stride != 1 or inp != out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.relu(self.bn0(x))
        identity = x if self.downsample is None else self.downsample(pre)
        out = self.conv1(pre)
        out = self.conv2(self.relu(self.bn1(out)))
        out = self.conv3(self.relu(self.bn2(out)))
        return out + identity


def build_resnet(spec: dict) -> Backbone:
    v1 = spec["version"] == "v1"
    basic = spec["block"] == "basic"
    planes_list = stage_planes(spec)
    w0 = planes_list[0]

    if spec["stem"] == "imagenet":
        stem_layers: list[nn.Module] = [nn.Conv2d(3, w0, 7, stride=2, padding=3, bias=False)]
    else:
        stem_layers = [conv3x3(3, w0)]
    if v1:
        stem_layers += [nn.BatchNorm2d(w0), nn.ReLU(inplace=True)]
    if spec["stem"] == "imagenet":
        stem_layers.append(nn.MaxPool2d(3, stride=2, padding=1))
    stages: list[tuple[str, nn.Module]] = [("stem", nn.Sequential(*stem_layers))]

    inp = w0
    n_stages = len(spec["depths"])
    for i, (n, planes) in enumerate(zip(spec["depths"], planes_list)):
        blocks: list[nn.Module] = []
        for j in range(n):
            stride = 2 if (i > 0 and j == 0) else 1
            last = i == n_stages - 1 and j == n - 1
            relu_out = spec["final_relu"] or not last
            if basic:
                block = BasicBlock(inp, planes, stride, relu_out) if v1 else PreActBasicBlock(inp, planes, stride)
                inp = planes
            else:
                width = inner_width(spec, planes)
                block = (Bottleneck(inp, planes, width, stride, spec["groups"], relu_out) if v1
                         else PreActBottleneck(inp, planes, width, stride, spec["groups"]))
                inp = planes * 4
            blocks.append(block)
        stages.append((f"block{i + 1}", nn.Sequential(*blocks)))

    final = None
    if not v1:
        final = nn.Sequential(nn.BatchNorm2d(inp), nn.ReLU(inplace=True)) if spec["final_relu"] \
            else nn.Sequential(nn.BatchNorm2d(inp))
    model = Backbone(spec, stages, final, inp, spec["rep_dim"])
    init_conv_bn(model)
    return model


def torchvision_key_map(key: str) -> str | None:
    """Map a torchvision ResNet state-dict key to ours (``None`` for the classifier ``fc``)."""
    if key.startswith("fc."):
        return None
    if key.startswith("conv1."):
        return "stem.0." + key[len("conv1."):]
    if key.startswith("bn1."):
        return "stem.1." + key[len("bn1."):]
    if key.startswith("layer"):
        return "block" + key[len("layer"):]
    raise KeyError(f"unexpected torchvision ResNet key {key!r}")
