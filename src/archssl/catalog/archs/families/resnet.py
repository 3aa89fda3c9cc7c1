"""ResNet family: torchvision's ResNet/ResNeXt/Wide-ResNet (v1), the pre-activation v2 and the knobs of the
Revisiting study (Kolesnikov et al. 2019).

Fields (defaults give torchvision's resnet18):

- ``block``: ``basic`` (two 3x3 convs) or ``bottleneck`` (1x1-3x3-1x1, expansion 4, stride on the 3x3 as
  torchvision's "v1.5").
- ``depths``: blocks per stage, any number of stages >= 1. Stage 1 has stride 1, later stages stride 2.
- ``width``: planes of stage 1 (stage i has ``width * 2**i`` planes; the stem has ``width`` channels).
- ``groups`` / ``width_per_group``: ResNeXt semantics as torchvision, bottleneck only: the 3x3 conv of a stage
  with ``planes`` has ``int(planes * width_per_group / 64) * groups`` channels and ``groups`` groups.
- ``stem``: ``imagenet`` (7x7 stride-2 conv, 3x3 stride-2 max-pool) or ``cifar`` (3x3 stride-1 conv, no pool).
- ``version``: ``v1`` (post-activation, torchvision) or ``v2`` (pre-activation, He et al. 2016 as in the
  Revisiting code: BN-ReLU before each block; the projection shortcut reads the pre-activated input and has no
  BN; the stem conv has no BN/ReLU; a final BN(-ReLU) precedes the pooling).
- ``final_relu``: ``false`` is the Revisiting "(-)" variant: no ReLU right before global pooling (v2: final BN
  only; v1: the ReLU after the last residual addition is dropped, which the ``blockN`` tap then shares).
- ``widen``: Kolesnikov's widening: multiplies every channel count including the stem. The paper's filters
  factor ``k`` (first conv has ``16*k`` channels; k in {4, 8, 12, 16}) is ``4 * widen``, so ``widen`` 1..4
  gives ResNet50 pre-logits of 2048..8192.
- ``rep_dim``: optional linear layer (with bias) after pooling that sets the representation size.
"""

from __future__ import annotations

from archssl.catalog.archs.family import FAMILIES, Family, Tracer
from archssl.catalog.archs.spec import ArchSpecError, Field, boolean, fmt_list, int_list, one_of, optional, pos_int


def stage_planes(spec: dict) -> list[int]:
    w0 = spec["width"] * spec["widen"]
    return [w0 * 2**i for i in range(len(spec["depths"]))]


def inner_width(spec: dict, planes: int) -> int:
    """Channels of a bottleneck's 3x3 conv (torchvision's ResNeXt rule)."""
    return int(planes * (spec["width_per_group"] / 64.0)) * spec["groups"]


class ResNetFamily(Family):
    name = "resnet"
    builder = "archssl.archs.nets.resnet:build_resnet"
    description = "ResNet / ResNeXt / Wide-ResNet, v1 (torchvision) and v2 (pre-activation)"
    fields = {
        "block": Field("basic", one_of("basic", "bottleneck"), "residual block type"),
        "depths": Field([2, 2, 2, 2], int_list(), "blocks per stage (any number of stages)", per_stage=True),
        "width": Field(64, pos_int, "planes of stage 1; stage i has width * 2**i"),
        "groups": Field(1, pos_int, "groups of the bottleneck 3x3 conv (ResNeXt)"),
        "width_per_group": Field(64, pos_int, "ResNeXt width per group (torchvision semantics)"),
        "stem": Field("imagenet", one_of("imagenet", "cifar"), "imagenet: 7x7/2 conv + max-pool; cifar: 3x3/1"),
        "version": Field("v1", one_of("v1", "v2"), "v1 post-activation, v2 pre-activation"),
        "final_relu": Field(True, boolean, "ReLU right before global pooling (false = Revisiting '(-)')"),
        "widen": Field(1, pos_int, "multiplies every channel count incl. the stem (Kolesnikov k = 4*widen)"),
        "rep_dim": Field(None, optional(pos_int), "extra linear layer setting the representation size"),
    }

    def check(self, spec: dict) -> None:
        if spec["block"] == "basic":
            for key, default in (("groups", 1), ("width_per_group", 64)):
                if spec[key] != default:
                    raise ArchSpecError(
                        f"basic blocks support only groups=1 and width_per_group=64 (as torchvision), "
                        f"got {key}={spec[key]}; use block: bottleneck", field=key)
        else:
            w = inner_width(spec, stage_planes(spec)[0])
            if w < 1:
                raise ArchSpecError(
                    f"bottleneck inner width int(planes*width_per_group/64)*groups is 0 for stage 1 "
                    f"(planes {stage_planes(spec)[0]}, width_per_group {spec['width_per_group']})",
                    field="width_per_group")

    def id_parts(self, spec: dict) -> list[str]:
        parts = ["resnet", spec["block"], "d" + fmt_list(spec["depths"]), f"w{spec['width']}"]
        if (spec["groups"], spec["width_per_group"]) != (1, 64):
            parts.append(f"g{spec['groups']}x{spec['width_per_group']}")
        if spec["version"] != "v1":
            parts.append(spec["version"])
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
        v1 = spec["version"] == "v1"
        basic = spec["block"] == "basic"
        expansion = 1 if basic else 4
        planes_list = stage_planes(spec)
        w0 = planes_list[0]
        size = t.image_size
        if spec["stem"] == "imagenet":
            size = t.conv(3, w0, 7, size, stride=2, padding=3)
            if v1:
                t.bn(w0)
            size = t.pool(size, 3, 2, 1)
        else:
            size = t.conv(3, w0, 3, size)
            if v1:
                t.bn(w0)
        inp = w0
        for i, (n, planes) in enumerate(zip(spec["depths"], planes_list)):
            out = planes * expansion
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                if not v1:
                    t.bn(inp)  # pre-activation
                if basic:
                    new = t.conv(inp, planes, 3, size, stride=stride)
                    t.bn(planes)
                    t.conv(planes, planes, 3, new)
                else:
                    width = inner_width(spec, planes)
                    t.conv(inp, width, 1, size)
                    t.bn(width)
                    new = t.conv(width, width, 3, size, stride=stride, groups=spec["groups"])
                    t.bn(width)
                    t.conv(width, out, 1, new)
                if v1:
                    t.bn(out)
                if stride != 1 or inp != out:
                    t.conv(inp, out, 1, size, stride=stride, padding=0)
                    if v1:
                        t.bn(out)
                size, inp = new, out
        if not v1:
            t.bn(inp)
        t.out_dim = inp
        if spec["rep_dim"]:
            t.linear(inp, spec["rep_dim"])
            t.out_dim = spec["rep_dim"]


FAMILIES.add("resnet", ResNetFamily())
