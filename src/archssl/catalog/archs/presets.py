"""Architecture presets: named, reproducible lists of specs used by the study presets.

- ``girish``: the 116 ResNet and MobileNetV2 variants of "Moving beyond handcrafted architectures in SSL",
  drawn by seeded stratified sampling (:data:`GIRISH_SAMPLE`) from the authors' pools (paper-facts A):
  ResNet stage depths {2,3,4}^4 with Basic and with Bottleneck blocks, Bottleneck {5,6}^2 x {2,3,4}^2,
  Bottleneck width_per_group {32,64,128,256} x groups {1,2,4,8} probes (the plain 64 x 1 net excluded from
  the probe strata), all with < 30M backbone parameters; MobileNetV2 with n2 in {2,3}, n3 in {3,4},
  n4 in {4,5}, n5, n6 in {3,4,5,6,8,10,14,20} and width_mult in 1.0..3.0 (steps of 0.25), < 10M parameters.
  ImageNet stem throughout. The stratum shares (ResNets 58, MobileNetV2 58) are our choice: the paper does not
  give them.
- ``girish_references``: the handcrafted baselines of the NAS comparison: ResNet18, ResNet50, MobileNetV2.
- ``revisiting``: the Revisiting study's architecture comparison: ResNet50 v1, v2, v2 (-), RevNet50,
  RevNet50 (-), VGG19-BN, at widening factor ``widen`` (default 1; the paper's k = 4 * widen).
- ``revisiting_widths``: ResNet50 v1, ResNet50 v2 and RevNet50 at widen 1, 2, 3, 4 (k = 4, 8, 12, 16;
  pre-logits 2048 .. 8192).
"""

from __future__ import annotations

import copy
import functools
from typing import Callable

from archssl.catalog.archs.core import named, normalize
from archssl.catalog.archs.sample import sample
from archssl.catalog.archs.spec import ArchSpecError

_D234 = [[2, 3, 4]] * 4
_MBV2_N56 = [3, 4, 5, 6, 8, 10, 14, 20]
_RESNET_MAX = {"max_params": 30_000_000}
_MBV2_MAX = {"max_params": 10_000_000}

#: the Girish preset as an ordinary ``archs.sample`` section
GIRISH_SAMPLE: dict = {
    "n": 116,
    "seed": 0,
    "space": [
        {"family": "resnet", "weight": 16, "fixed": {"block": "basic"},
         "per_stage": {"depths": _D234}, "constraints": _RESNET_MAX},
        {"family": "resnet", "weight": 16, "fixed": {"block": "bottleneck"},
         "per_stage": {"depths": _D234}, "constraints": _RESNET_MAX},
        {"family": "resnet", "weight": 12, "fixed": {"block": "bottleneck"},
         "per_stage": {"depths": [[5, 6], [5, 6], [2, 3, 4], [2, 3, 4]]}, "constraints": _RESNET_MAX},
        {"family": "resnet", "weight": 10, "fixed": {"block": "bottleneck"},
         "choices": {"width_per_group": [32, 128, 256], "groups": [1, 2, 4, 8]},
         "per_stage": {"depths": _D234}, "constraints": _RESNET_MAX},
        {"family": "resnet", "weight": 4, "fixed": {"block": "bottleneck", "width_per_group": 64},
         "choices": {"groups": [2, 4, 8]},
         "per_stage": {"depths": _D234}, "constraints": _RESNET_MAX},
        {"family": "mobilenetv2", "weight": 58,
         "choices": {"width_mult": [1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0]},
         "per_stage": {"depths": [[1], [2, 3], [3, 4], [4, 5], _MBV2_N56, _MBV2_N56, [1]]},
         "constraints": _MBV2_MAX},
    ],
}


def _girish() -> list[dict]:
    return sample(GIRISH_SAMPLE["space"], GIRISH_SAMPLE["n"], GIRISH_SAMPLE["seed"],
                  where="preset girish: space")


def _girish_references() -> list[dict]:
    return [named(n) for n in ("resnet18", "resnet50", "mobilenet_v2")]


def _revisiting(widen: int = 1) -> list[dict]:
    names = ("resnet50_v1", "resnet50_v2", "resnet50_v2_minus", "revnet50", "revnet50_minus", "vgg19_bn")
    return [normalize({"base": n, "widen": widen}) for n in names]


def _revisiting_widths() -> list[dict]:
    return [normalize({"base": n, "widen": k}) for k in (1, 2, 3, 4)
            for n in ("resnet50_v1", "resnet50_v2", "revnet50")]


_PRESETS: dict[str, Callable[[], list[dict]]] = {
    "girish": _girish,
    "girish_references": _girish_references,
    "revisiting": _revisiting,
    "revisiting_widths": _revisiting_widths,
}

#: names accepted by :func:`preset`
PRESETS: list[str] = list(_PRESETS)


@functools.lru_cache(maxsize=None)
def _cached(name: str) -> tuple[dict, ...]:
    return tuple(_PRESETS[name]())


def preset(name: str) -> list[dict]:
    """The normalized specs of preset ``name`` (a fresh copy; computed once per process)."""
    if name not in _PRESETS:
        raise ArchSpecError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
    return copy.deepcopy(list(_cached(name)))
