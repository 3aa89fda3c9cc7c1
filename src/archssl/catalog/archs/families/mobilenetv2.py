"""MobileNetV2 family (torchvision layout) with per-stage depths, width multiplier and ProxylessNAS blocks.

Seven stages of inverted residual blocks with expansion t = [1, 6, 6, 6, 6, 6, 6], base channels
``channels`` = [16, 24, 32, 64, 96, 160, 320] and strides s = [1, 2, 2, 2, 1, 2, 1], after a 3x3 stride-2 conv
with 32 channels and before a 1x1 conv to ``last_channel`` (1280). Channel counts are scaled by ``width_mult``
and rounded with torchvision's ``_make_divisible(c * width_mult, round_nearest)``; the last conv has
``_make_divisible(last_channel * max(1, width_mult), round_nearest)`` channels. ReLU6 activations.

- ``depths``: blocks per stage (7 entries; torchvision [1, 2, 3, 4, 3, 3, 1]).
- ``stem: small`` (cheaper for 32-64 px inputs): the first conv keeps stride 2 but stage 2's stride 2 becomes 1,
  total downsampling 16 (the mini study uses it: depthwise convolutions at 32 x 32 are slow on a CPU).
- ``stem: cifar`` (for inputs <= 64 px): the first conv has stride 1 and stage 2's stride 2 becomes 1, the
  common CIFAR adaptation (total downsampling 8 instead of 32).
- ``channels``: base channels per stage; ProxylessNAS uses [16, 24, 40, 80, 96, 192, 320] with the same strides.
- ``blocks``: ``null`` (every block of stages 2-7 is a 3x3 MBConv with expansion 6), or one entry per block of
  stages 2-7 (``sum(depths[1:])`` entries, in order) ``{kernel: 3|5|7, expand: int, skip: bool}`` as in
  ProxylessNAS (MBConv k x e, or the zero op ``skip``). ``skip`` is allowed only where the block has stride 1
  and equal input and output channels. Stage 1 is always MBConv1 3x3 (as ProxylessNAS's first block).
  A list equal to the default normalizes to ``null``.
- ``rep_dim``: optional linear layer after pooling.
"""

from __future__ import annotations

from typing import Any

from archssl.catalog.archs.family import FAMILIES, Family, Tracer, make_divisible
from archssl.catalog.archs.spec import (ArchSpecError, Field, _Invalid, _is_int, fmt_list, fmt_num, int_list,
                                        one_of, optional, pos_float, pos_int)

EXPANSION = [1, 6, 6, 6, 6, 6, 6]
STRIDES = [1, 2, 2, 2, 1, 2, 1]
STRIDES_CIFAR = [1, 1, 2, 2, 1, 2, 1]
FIRST_CHANNELS = 32
DEFAULT_BLOCK = {"kernel": 3, "expand": 6, "skip": False}
KERNELS = (3, 5, 7)


def _blocks(v: Any) -> list[dict] | None:
    if v is None:
        return None
    if not isinstance(v, (list, tuple)):
        raise _Invalid(f"expected null or a list of {{kernel, expand, skip}} mappings, got {v!r}")
    out = []
    for i, b in enumerate(v):
        if not isinstance(b, dict):
            raise ArchSpecError(f"expected a mapping {{kernel, expand, skip}}, got {b!r}", field=f"blocks[{i}]")
        unknown = [k for k in b if k not in DEFAULT_BLOCK]
        if unknown:
            raise ArchSpecError("unknown key; known keys: kernel, expand, skip", field=f"blocks[{i}].{unknown[0]}")
        kernel, expand, skip = (b.get(k, DEFAULT_BLOCK[k]) for k in ("kernel", "expand", "skip"))
        if not _is_int(kernel) or kernel not in KERNELS:
            raise ArchSpecError(f"expected one of {list(KERNELS)}, got {kernel!r}", field=f"blocks[{i}].kernel")
        if not _is_int(expand) or not 1 <= expand <= 8:
            raise ArchSpecError(f"expected an int in 1..8 (ProxylessNAS uses 3 or 6), got {expand!r}",
                                field=f"blocks[{i}].expand")
        if not isinstance(skip, bool):
            raise ArchSpecError(f"expected true or false, got {skip!r}", field=f"blocks[{i}].skip")
        out.append({"kernel": int(kernel), "expand": int(expand), "skip": skip})
    return out


def stage_channels(spec: dict) -> tuple[int, list[int], int]:
    """(first conv channels, output channels per stage, last conv channels) after width scaling."""
    wm, rn = spec["width_mult"], spec["round_nearest"]
    first = make_divisible(FIRST_CHANNELS * wm, rn)
    chans = [make_divisible(c * wm, rn) for c in spec["channels"]]
    last = make_divisible(spec["last_channel"] * max(1.0, wm), rn)
    return first, chans, last


def block_plan(spec: dict) -> list[list[dict]]:
    """Per stage, per block: ``{inp, out, stride, kernel, expand, skip}`` (the single source for build/trace)."""
    first, chans, _ = stage_channels(spec)
    strides = STRIDES if spec["stem"] == "imagenet" else STRIDES_CIFAR
    blocks = spec["blocks"]
    inp, b = first, 0
    plan = []
    for si, (n, out) in enumerate(zip(spec["depths"], chans)):
        stage = []
        for j in range(n):
            stride = strides[si] if j == 0 else 1
            if si == 0:
                choice = {"kernel": 3, "expand": EXPANSION[0], "skip": False}
            else:
                choice = blocks[b] if blocks is not None else {**DEFAULT_BLOCK, "expand": EXPANSION[si]}
                b += 1
            stage.append({"inp": inp, "out": out, "stride": stride, **choice})
            inp = out
        plan.append(stage)
    return plan


class MobileNetV2Family(Family):
    name = "mobilenetv2"
    builder = "archssl.archs.nets.mobilenetv2:build_mobilenetv2"
    description = "MobileNetV2 (torchvision) with per-stage depths, width multiplier and ProxylessNAS MBConv blocks"
    fields = {
        "depths": Field([1, 2, 3, 4, 3, 3, 1], int_list(length=7), "blocks per stage (7 stages)", per_stage=True),
        "width_mult": Field(1.0, pos_float, "channel multiplier"),
        "round_nearest": Field(8, pos_int, "channels are rounded to multiples of this"),
        "last_channel": Field(1280, pos_int, "channels of the last 1x1 conv (scaled by max(1, width_mult))"),
        "channels": Field([16, 24, 32, 64, 96, 160, 320], int_list(length=7), "base output channels per stage"),
        "stem": Field("imagenet", one_of("imagenet", "cifar", "small"),
                      "cifar: first conv and stage 2 with stride 1; small: stage 2 with stride 1"),
        "blocks": Field(None, _blocks, "null or per-block {kernel, expand, skip} for stages 2-7 (ProxylessNAS)"),
        "rep_dim": Field(None, optional(pos_int), "extra linear layer setting the representation size"),
    }

    def check(self, spec: dict) -> None:
        blocks = spec["blocks"]
        if blocks is None:
            return
        expected = sum(spec["depths"][1:])
        if len(blocks) != expected:
            raise ArchSpecError(f"expected {expected} entries (one per block of stages 2-7, sum(depths[1:])), "
                                f"got {len(blocks)}", field="blocks")
        b = 0
        for si, stage in enumerate(block_plan(spec)):
            for j, blk in enumerate(stage):
                if si == 0:
                    continue
                if blk["skip"] and (blk["stride"] != 1 or blk["inp"] != blk["out"]):
                    raise ArchSpecError(
                        f"block {b} (stage {si + 1}, block {j + 1}) has stride {blk['stride']} and "
                        f"{blk['inp']} -> {blk['out']} channels; skip is allowed only where the stride is 1 and "
                        f"input and output channels are equal", field=f"blocks[{b}].skip")
                b += 1
        defaults = [{**DEFAULT_BLOCK, "expand": EXPANSION[si]}
                    for si, n in enumerate(spec["depths"]) if si > 0 for _ in range(n)]
        if blocks == defaults:
            spec["blocks"] = None

    def id_parts(self, spec: dict) -> list[str]:
        parts = ["mbv2", "x" + fmt_num(spec["width_mult"]), "d" + fmt_list(spec["depths"])]
        if spec["channels"] != self.fields["channels"].default:
            parts.append("c" + fmt_list(spec["channels"]))
        if spec["last_channel"] != 1280:
            parts.append(f"l{spec['last_channel']}")
        if spec["blocks"] is not None:
            parts.append("nas")
        if spec["stem"] != "imagenet":
            parts.append(spec["stem"])
        if spec["rep_dim"]:
            parts.append(f"r{spec['rep_dim']}")
        return parts

    def tap_names(self, spec: dict) -> list[str]:
        return ["stem"] + [f"block{i + 1}" for i in range(7)] + ["prelogits"]

    def trace(self, spec: dict, t: Tracer) -> None:
        first, _, last = stage_channels(spec)
        size = t.conv(3, first, 3, t.image_size, stride=1 if spec["stem"] == "cifar" else 2)
        t.bn(first)
        inp = first
        for stage in block_plan(spec):
            for blk in stage:
                if blk["skip"]:
                    continue
                hidden = int(round(blk["inp"] * blk["expand"]))
                if blk["expand"] != 1:
                    t.conv(blk["inp"], hidden, 1, size)
                    t.bn(hidden)
                new = t.conv(hidden, hidden, blk["kernel"], size, stride=blk["stride"], groups=hidden)
                t.bn(hidden)
                t.conv(hidden, blk["out"], 1, new)
                t.bn(blk["out"])
                size, inp = new, blk["out"]
        t.conv(inp, last, 1, size)
        t.bn(last)
        t.out_dim = last
        if spec["rep_dim"]:
            t.linear(last, spec["rep_dim"])
            t.out_dim = spec["rep_dim"]


FAMILIES.add("mobilenetv2", MobileNetV2Family())
