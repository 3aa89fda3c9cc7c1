"""Named architectures: the torchvision classics (ImageNet stem, identical parameters and outputs to
torchvision's models without the classifier), the Revisiting study's networks and CIFAR-stem variants.

Names are only a way to write a spec: ``named('resnet50')`` returns the normalized spec, and its id is derived
from that content like any other spec's (the same network reached by sampling has the same id).
"""

from __future__ import annotations

_R = {"family": "resnet"}
_RB = {"family": "resnet", "block": "bottleneck"}
_M = {"family": "mobilenetv2"}

_TABLE: dict[str, dict] = {
    # torchvision ResNets (v1, ImageNet stem)
    "resnet18": {**_R, "depths": [2, 2, 2, 2]},
    "resnet34": {**_R, "depths": [3, 4, 6, 3]},
    "resnet50": {**_RB, "depths": [3, 4, 6, 3]},
    "resnet101": {**_RB, "depths": [3, 4, 23, 3]},
    "resnet152": {**_RB, "depths": [3, 8, 36, 3]},
    "resnext50_32x4d": {**_RB, "depths": [3, 4, 6, 3], "groups": 32, "width_per_group": 4},
    "resnext101_32x8d": {**_RB, "depths": [3, 4, 23, 3], "groups": 32, "width_per_group": 8},
    "resnext101_64x4d": {**_RB, "depths": [3, 4, 23, 3], "groups": 64, "width_per_group": 4},
    "wide_resnet50_2": {**_RB, "depths": [3, 4, 6, 3], "width_per_group": 128},
    "wide_resnet101_2": {**_RB, "depths": [3, 4, 23, 3], "width_per_group": 128},
    # torchvision MobileNetV2
    "mobilenet_v2": {**_M},
    "mobilenet_v2_0.5": {**_M, "width_mult": 0.5},
    "mobilenet_v2_0.75": {**_M, "width_mult": 0.75},
    "mobilenet_v2_1.4": {**_M, "width_mult": 1.4},
    # CIFAR-stem variants (3x3 stride-1 stem, no max-pool) for inputs <= 64 px
    "resnet18_cifar": {**_R, "depths": [2, 2, 2, 2], "stem": "cifar"},
    "resnet50_cifar": {**_RB, "depths": [3, 4, 6, 3], "stem": "cifar"},
    "mobilenet_v2_cifar": {**_M, "stem": "cifar"},
    # Revisiting SSL (Kolesnikov et al. 2019); add `widen: k/4` for the wider variants
    "resnet50_v1": {**_RB, "depths": [3, 4, 6, 3]},
    "resnet50_v2": {**_RB, "depths": [3, 4, 6, 3], "version": "v2"},
    "resnet50_v2_minus": {**_RB, "depths": [3, 4, 6, 3], "version": "v2", "final_relu": False},
    "revnet50": {"family": "revnet", "depths": [3, 4, 6, 3]},
    "revnet50_minus": {"family": "revnet", "depths": [3, 4, 6, 3], "final_relu": False},
    "vgg19_bn": {"family": "vgg", "depths": [2, 2, 4, 4, 4]},
}

#: all names accepted by :func:`archssl.catalog.archs.named`
NAMED: list[str] = list(_TABLE)


def raw_named(name: str) -> dict | None:
    """The un-normalized spec of ``name`` (a copy), or ``None`` if unknown."""
    spec = _TABLE.get(name)
    return None if spec is None else {k: (list(v) if isinstance(v, list) else v) for k, v in spec.items()}
