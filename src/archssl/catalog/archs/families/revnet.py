"""RevNet: reversible residual networks (Gomez et al. 2017) in the form used by the Revisiting study.

A stage with ``C`` channels holds ``depths[i]`` reversible units. A unit splits its input into halves
``(x1, x2)`` and returns ``(x2, x1 + F(x2))``, with ``F`` a pre-activation bottleneck on ``C/2`` channels
(BN-ReLU-1x1 to ``C/8``-BN-ReLU-3x3-BN-ReLU-1x1 back to ``C/2``, no shortcut). Two consecutive units equal one
reversible block of Gomez et al. (``y1 = x1 + F(x2)``, ``y2 = x2 + G(y1)``). Between stages, a 2x2 stride-2
average pool (ceil mode) and zero-padding of the channels (``C -> 2C``, half on each side). The stem is a
conv without BN (a fixed random projection in the Revisiting code) to ``C = 4 * width * widen`` channels
(ImageNet: 7x7 stride 2 and a 3x3 stride-2 max-pool; CIFAR: 3x3 stride 1), and the network ends with BN and,
if ``final_relu``, ReLU before global pooling (``final_relu: false`` is the "(-)" variant).

RevNet-50 = ``depths [3, 4, 6, 3]``: 2048 * widen pre-logits. Gradients use ordinary autograd (activations are
stored); the memory-saving reversible backward pass is not implemented.
"""

from __future__ import annotations

from archssl.catalog.archs.family import FAMILIES, Family, Tracer
from archssl.catalog.archs.spec import Field, boolean, fmt_list, int_list, one_of, optional, pos_int


def stage_channels(spec: dict) -> list[int]:
    c0 = 4 * spec["width"] * spec["widen"]
    return [c0 * 2**i for i in range(len(spec["depths"]))]


class RevNetFamily(Family):
    name = "revnet"
    builder = "archssl.archs.nets.revnet:build_revnet"
    description = "RevNet (reversible residual units, Revisiting-study variant); RevNet-50 = depths [3, 4, 6, 3]"
    fields = {
        "depths": Field([3, 4, 6, 3], int_list(), "reversible units per stage", per_stage=True),
        "width": Field(64, pos_int, "stage 1 has 4 * width channels (as a ResNet50 bottleneck output)"),
        "widen": Field(1, pos_int, "multiplies every channel count (Revisiting filters factor = 4 * widen)"),
        "stem": Field("imagenet", one_of("imagenet", "cifar"), "imagenet: 7x7/2 conv + max-pool; cifar: 3x3/1"),
        "final_relu": Field(True, boolean, "ReLU right before global pooling (false = Revisiting '(-)')"),
        "rep_dim": Field(None, optional(pos_int), "extra linear layer setting the representation size"),
    }

    def id_parts(self, spec: dict) -> list[str]:
        parts = ["revnet", "d" + fmt_list(spec["depths"]), f"w{spec['width']}"]
        if spec["widen"] != 1:
            parts.append(f"k{spec['widen']}")
        if spec["stem"] != "imagenet":
            parts.append(spec["stem"])
        if not spec["final_relu"]:
            parts.append("norelu")
        if spec["rep_dim"]:
            parts.append(f"r{spec['rep_dim']}")
        return parts

    def tap_names(self, spec: dict) -> list[str]:
        return ["stem"] + [f"block{i + 1}" for i in range(len(spec["depths"]))] + ["prelogits"]

    def trace(self, spec: dict, t: Tracer) -> None:
        chans = stage_channels(spec)
        if spec["stem"] == "imagenet":
            size = t.conv(3, chans[0], 7, t.image_size, stride=2, padding=3)
            size = t.pool(size, 3, 2, 1)
        else:
            size = t.conv(3, chans[0], 3, t.image_size)
        for i, (n, c) in enumerate(zip(spec["depths"], chans)):
            if i > 0:
                size = t.pool(size, 2, 2, ceil_mode=True)
            half = c // 2
            q = half // 4
            for _ in range(n):
                t.bn(half)
                t.conv(half, q, 1, size)
                t.bn(q)
                t.conv(q, q, 3, size)
                t.bn(q)
                t.conv(q, half, 1, size)
        t.bn(chans[-1])
        t.out_dim = chans[-1]
        if spec["rep_dim"]:
            t.linear(chans[-1], spec["rep_dim"])
            t.out_dim = spec["rep_dim"]


FAMILIES.add("revnet", RevNetFamily())
