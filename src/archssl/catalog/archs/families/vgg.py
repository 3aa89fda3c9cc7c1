"""VGG with batch norm, as in the Revisiting study's VGG19-BN (Kolesnikov et al. 2019).

Conv blocks of 3x3 conv-BN-ReLU (no conv bias) with ``depths`` convs per block (cfg E = [2, 2, 4, 4, 4]) and
``width * widen * min(2**i, 8)`` channels, a 2x2 max-pool between blocks; then, with ``fc_dim > 0``, a last
max-pool, adaptive average pooling to ``fc_pool x fc_pool`` and two fully connected layers fc6, fc7 of
``fc_dim * widen`` units, each Linear (no bias)-BN-ReLU (BN instead of dropout, as the Revisiting code). The
pre-logits are fc7's output. ``fc_pool: 7`` is VGG's 7x7 (the Revisiting code's fc6 is a conv over the whole
7x7 map at 224 px); use ``fc_pool: 1`` for small inputs. ``fc_dim: 0`` drops the FC layers and the last
max-pool: the pre-logits are then the pooled block-5 features.

Taps: ``block1`` ... ``blockN`` (before each max-pool, as the Revisiting end points), ``fc6``, ``prelogits``.
``widen`` scales every layer (the Revisiting filters factor is ``8 * widen``).

Differences from torchvision's ``vgg19_bn``: no conv biases, BN+ReLU instead of ReLU+dropout in the FC layers,
and no classifier, so the weights do not map one-to-one.
"""

from __future__ import annotations

from archssl.catalog.archs.family import FAMILIES, Family, Tracer
from archssl.catalog.archs.spec import Field, fmt_list, int_list, nonneg_int, optional, pos_int


def block_channels(spec: dict) -> list[int]:
    w = spec["width"] * spec["widen"]
    return [w * min(2**i, 8) for i in range(len(spec["depths"]))]


class VGGFamily(Family):
    name = "vgg"
    builder = "archssl.archs.nets.vgg:build_vgg"
    description = "VGG with batch norm (VGG19-BN = depths [2, 2, 4, 4, 4]) as in the Revisiting study"
    fields = {
        "depths": Field([2, 2, 4, 4, 4], int_list(), "3x3 convs per block", per_stage=True),
        "width": Field(64, pos_int, "channels of block 1; block i has width * min(2**i, 8)"),
        "widen": Field(1, pos_int, "multiplies every channel count and the FC width"),
        "fc_dim": Field(4096, nonneg_int, "units of fc6/fc7 before widening (0 = no FC layers)"),
        "fc_pool": Field(7, pos_int, "adaptive average pool size before fc6"),
        "rep_dim": Field(None, optional(pos_int), "extra linear layer setting the representation size"),
    }

    def id_parts(self, spec: dict) -> list[str]:
        parts = ["vgg", "d" + fmt_list(spec["depths"]), f"w{spec['width']}"]
        if spec["widen"] != 1:
            parts.append(f"k{spec['widen']}")
        if spec["fc_dim"] != 4096:
            parts.append(f"fc{spec['fc_dim']}")
        if spec["fc_pool"] != 7:
            parts.append(f"p{spec['fc_pool']}")
        if spec["rep_dim"]:
            parts.append(f"r{spec['rep_dim']}")
        return parts

    def tap_names(self, spec: dict) -> list[str]:
        names = [f"block{i + 1}" for i in range(len(spec["depths"]))]
        return names + (["fc6"] if spec["fc_dim"] else []) + ["prelogits"]

    def trace(self, spec: dict, t: Tracer) -> None:
        size, inp = t.image_size, 3
        for i, (n, c) in enumerate(zip(spec["depths"], block_channels(spec))):
            if i > 0:
                size = t.pool(size, 2, 2)
            for _ in range(n):
                size = t.conv(inp, c, 3, size)
                t.bn(c)
                inp = c
        t.out_dim = inp
        if spec["fc_dim"]:
            t.pool(size, 2, 2)
            fc = spec["fc_dim"] * spec["widen"]
            t.linear(inp * spec["fc_pool"] ** 2, fc, bias=False)
            t.bn(fc)
            t.linear(fc, fc, bias=False)
            t.bn(fc)
            t.out_dim = fc
        if spec["rep_dim"]:
            t.linear(t.out_dim, spec["rep_dim"])
            t.out_dim = spec["rep_dim"]


FAMILIES.add("vgg", VGGFamily())
