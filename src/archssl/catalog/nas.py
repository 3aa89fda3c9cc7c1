"""The ProxylessNAS search space over the MobileNetV2 family, and the search settings: torch-free.

Everything here runs without torch (the planner validates ``nas:`` settings at parse time, before any job):
:func:`validate_settings` checks a settings dict and fills its defaults, :func:`build_space` lays out the
searchable blocks and their candidate ops and computes every op's parameter and FLOP cost in closed form
from the family's own ``trace`` (:mod:`archssl.catalog.archs.families.mobilenetv2`). The search itself (the
supernet and its training, torch) is :mod:`archssl.nas`.

The space (Cai et al. 2019, ProxylessNAS): a MobileNetV2-family network whose stem, first block (MBConv1 3x3
to 16 channels) and last 1x1 conv (1280) are fixed, and whose blocks of stages 2-7 each choose one op from
``ops``: ``KxK_MBConvE`` (inverted residual, kernel K in {3, 5, 7}, expansion E in 1..8; ProxylessNAS uses
{3, 5, 7} x {3, 6}) or ``zero`` (skip the block), the zero op only where the block has stride 1 and equal input
and output channels (every block of a stage but its first). :data:`PROXYLESS_SPACE` is the ProxylessNAS
layout: channels 16 | 24, 40, 80, 96, 192, 320 with 4, 4, 4, 4, 4, 1 blocks and the family's strides
(2, 2, 2, 1, 2, 1 for stages 2-7), first conv 32, last 1280. ``space`` overrides any of its fields except
``blocks`` (searched): ``stem: small|cifar``, ``width_mult`` and ``depths`` scale it down for small images.

Costs are additive over blocks: a block's cost depends only on its own op and on its input map size, and the
map sizes do not depend on the ops (every candidate of a block has the block's stride; padding keeps odd
kernels size-preserving; zero ops sit at stride 1). So with a reference network ``R`` (every block at its
first candidate op) ``size(choices) = size(R) + sum_b [size(R with block b = choice_b) - size(R)]``, and the
per-op costs are those differences, each from one ``trace`` of a full spec. The expected size of the network
sampled from per-block probabilities ``p_b`` is ``size(R) + sum_b p_b . delta_b``.
"""

from __future__ import annotations

import copy
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from archssl.catalog.archs import ArchSpecError, Tracer, family_of, normalize
from archssl.catalog.archs.families.mobilenetv2 import block_plan

#: the ProxylessNAS layout (``search/imagenet_arch_search.py`` of mit-han-lab/proxylessnas)
PROXYLESS_SPACE: dict[str, Any] = {
    "family": "mobilenetv2",
    "channels": [16, 24, 40, 80, 96, 192, 320],
    "depths": [1, 4, 4, 4, 4, 4, 1],
    "last_channel": 1280,
    "width_mult": 1.0,
    "stem": "imagenet",
}
#: ProxylessNAS's conv candidates, in its order, then the zero op
PROXYLESS_OPS: tuple[str, ...] = ("3x3_MBConv3", "3x3_MBConv6", "5x5_MBConv3", "5x5_MBConv6", "7x7_MBConv3",
                                  "7x7_MBConv6", "zero")
ZERO = "zero"
OP_RE = re.compile(r"^([357])x([357])_MBConv([1-8])$")
SIZE_KINDS = ("params", "flops")
PENALTIES = ("mul_log", "add_linear")
PRECISIONS = ("auto", "bf16", "fp32")
OPTIMIZERS = ("sgd", "lars", "adamw")

#: target defaults (ProxylessNAS: ``mul#log`` alpha 0.2, beta 0.3; ``add#linear`` lambda 0.1)
TARGET_DEFAULTS: dict[str, Any] = {"kind": "params", "value": None, "penalty": "mul_log", "alpha": 0.2,
                                   "beta": 0.3, "lambda": 0.1}

#: search settings with their defaults; see :func:`validate_settings` for what each key means
DEFAULTS: dict[str, Any] = {
    "epochs": 160,
    "warmup_epochs": 40,
    "batch_size": 256,
    "image_size": 32,
    "warmup_lr": 0.05,
    "lr": 0.025,
    "optimizer": {"name": "sgd", "momentum": 0.9, "nesterov": True, "weight_decay": 4e-5},
    "arch_lr": 1e-3,
    "arch_init_std": 1e-3,
    "arch_every": 5,
    "holdout": 0.1,
    "seed": 0,
    "space": {},
    "ops": list(PROXYLESS_OPS),
    "target": None,
    "augment": {},
    "precision": "auto",
    "channels_last": True,
    "checkpoint_every": 1,
}

SETTINGS_DOC: dict[str, str] = {
    "epochs": "total epochs of the search, warm-up included (ProxylessNAS: 40 warm-up + 120 joint)",
    "warmup_epochs": "first epochs that train the weights alone (one path sampled per block from softmax(alpha))",
    "batch_size": "images per weight step and per architecture step",
    "image_size": "side of the augmented views (px); the FLOP costs and the fit check use it",
    "warmup_lr": "weight learning rate at the start of the warm-up, cosine to 0 over it (ProxylessNAS 0.05)",
    "lr": "weight learning rate at the start of the joint phase, cosine to 0 over it (ProxylessNAS 0.025)",
    "optimizer": "weight optimiser: {name: sgd|lars|adamw, momentum, nesterov, weight_decay, ...} without lr",
    "arch_lr": "Adam learning rate of the architecture parameters (betas (0, 0.999), as ProxylessNAS)",
    "arch_init_std": "architecture logits start as N(0, arch_init_std^2) (ProxylessNAS 1e-3)",
    "arch_every": "one architecture step after every this many weight steps of the joint phase (ProxylessNAS 5)",
    "holdout": "images held out from the weight steps for the architecture steps: a count (int >= 1) or a "
               "fraction in (0, 1) (ProxylessNAS holds out 50000 ImageNet images)",
    "seed": "seed of the split, the init, the data order, the augmentations and the path sampling",
    "space": "mobilenetv2 spec fields over the ProxylessNAS layout (no 'blocks': they are searched)",
    "ops": "candidate ops per block: KxK_MBConvE names and 'zero' (where the block allows it)",
    "target": "null (no size penalty) or {kind: params|flops, value, penalty: mul_log|add_linear, alpha, beta, "
              "lambda}",
    "augment": "augmentation overrides (archssl.train.augment.AugmentConfig fields), under method_params.augment",
    "precision": "auto|bf16|fp32 autocast, as pretrain.precision (auto: bf16 on CUDA, fp32 on CPU for this "
                 "depthwise family)",
    "channels_last": "run the model in channels_last memory format",
    "checkpoint_every": "write checkpoint.pt, trajectory.csv and metrics.csv every this many epochs",
}


class NASSettingsError(ValueError):
    """An invalid search setting. ``key`` is the full dotted key (``nas.searches.s1.target.value``) and the
    message starts with it."""

    def __init__(self, key: str, problem: str):
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")


# -- ops ----------------------------------------------------------------------------------------------------


def parse_op(name: str) -> dict | None:
    """``'5x5_MBConv6'`` -> ``{kernel: 5, expand: 6, skip: False}``, ``'zero'`` -> ``{..., skip: True}``;
    None for anything else."""
    if name == ZERO:
        return {"kernel": 3, "expand": 6, "skip": True}
    m = OP_RE.match(name) if isinstance(name, str) else None
    if m is None or m.group(1) != m.group(2):
        return None
    return {"kernel": int(m.group(1)), "expand": int(m.group(3)), "skip": False}


def op_name(block: dict) -> str:
    """The op name of a family ``blocks`` entry (``{kernel, expand, skip}``)."""
    if block.get("skip"):
        return ZERO
    return f"{block['kernel']}x{block['kernel']}_MBConv{block['expand']}"


def short_op(name: str) -> str:
    """Compact form of an op name for logs: ``5x5_MBConv6`` -> ``k5e6``, ``zero`` -> ``--``."""
    b = parse_op(name)
    return "--" if b is None or b["skip"] else f"k{b['kernel']}e{b['expand']}"


# -- the space ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """One searchable block: its place (stage 2-7, index within the stage), shape and candidate ops."""

    stage: int  # 1-based stage number (2..7)
    index: int  # 0-based block index within the stage
    inp: int
    out: int
    stride: int
    ops: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"block{self.stage}.{self.index}"


class _FitTracer(Tracer):
    """A Tracer that also rejects a strided conv given a map smaller than its stride (a 1x1 map downsampled:
    the space downsamples more than the image allows)."""

    def conv(self, cin, cout, k, size, stride=1, padding=None, groups=1, bias=False):
        if stride > 1 and size < stride:
            raise ValueError(f"image too small: a stride-{stride} {k}x{k} conv got a {size}x{size} input")
        return super().conv(cin, cout, k, size, stride, padding, groups, bias)


@dataclass
class SearchSpace:
    """The searchable blocks of ``base`` (a normalized mobilenetv2 spec with ``blocks: null``) and their costs.

    ``constant[kind] + sum_b delta[kind][b][op index]`` is the size of any network of the space
    (``kind``: ``params`` or ``flops`` at ``image_size``; see the module docstring).
    """

    base: dict
    image_size: int
    slots: list[Slot]
    constant: dict[str, int] = field(default_factory=dict)
    delta: dict[str, list[list[int]]] = field(default_factory=dict)

    def spec(self, choices: list[int]) -> dict:
        """The normalized family spec of the network that runs op ``choices[b]`` at block ``b``."""
        if len(choices) != len(self.slots):
            raise ValueError(f"expected {len(self.slots)} choices (one per searchable block), got {len(choices)}")
        blocks = []
        for slot, c in zip(self.slots, choices):
            if not 0 <= int(c) < len(slot.ops):
                raise ValueError(f"{slot.name}: op index {c} out of range for {len(slot.ops)} candidates")
            blocks.append(parse_op(slot.ops[int(c)]))
        return normalize({**self.base, "blocks": blocks})

    def choices(self, spec: dict) -> list[int]:
        """The op indices of a family spec of this space (raises ValueError naming the first mismatch)."""
        spec = normalize(spec)
        other = {k: v for k, v in spec.items() if k != "blocks"}
        mine = {k: v for k, v in self.base.items() if k != "blocks"}
        if other != mine:
            diff = sorted(k for k in set(other) | set(mine) if other.get(k) != mine.get(k))
            raise ValueError(f"the spec is not of this search space: it differs in {', '.join(diff)}")
        plan_blocks = spec["blocks"]
        if plan_blocks is None:  # the family default: MBConv6 3x3 everywhere
            plan_blocks = [{"kernel": 3, "expand": 6, "skip": False}] * len(self.slots)
        out = []
        for slot, b in zip(self.slots, plan_blocks):
            name = op_name(b)
            if name not in slot.ops:
                raise ValueError(f"{slot.name}: op {name!r} is not a candidate here ({', '.join(slot.ops)})")
            out.append(slot.ops.index(name))
        return out

    def size(self, choices: list[int], kind: str = "params") -> int:
        """Closed-form size of the network with ``choices``."""
        return self.constant[kind] + sum(d[int(c)] for d, c in zip(self.delta[kind], choices))

    def expected_size(self, probs: list[list[float]], kind: str = "params") -> float:
        """Expected size of the network sampled with per-block op probabilities ``probs``."""
        return self.constant[kind] + sum(sum(p * d for p, d in zip(pb, db)) for pb, db in zip(probs, self.delta[kind]))

    def bounds(self, kind: str = "params") -> tuple[int, int]:
        """(smallest, largest) size of a network of the space."""
        return (self.constant[kind] + sum(min(d) for d in self.delta[kind]),
                self.constant[kind] + sum(max(d) for d in self.delta[kind]))

    def extreme_choices(self, kind: str = "params", largest: bool = False) -> list[int]:
        """The choices of the smallest (or largest) network (first such op where several tie)."""
        pick = max if largest else min
        return [d.index(pick(d)) for d in self.delta[kind]]

    def describe(self, choices: list[int]) -> str:
        """Compact architecture string: per stage ``|``-separated, per block ``k5e6`` or ``--`` (zero)."""
        stages: dict[int, list[str]] = {}
        for slot, c in zip(self.slots, choices):
            stages.setdefault(slot.stage, []).append(short_op(slot.ops[int(c)]))
        return " | ".join(" ".join(v) for _, v in sorted(stages.items()))


def _trace(spec: dict, image_size: int) -> Tracer:
    t = _FitTracer(image_size)
    family_of(spec).trace(spec, t)
    return t


#: build_space's results by (space, ops, image size): planning a study builds each search's space several
#: times (settings check, plan, two searches of one space), each build traces ~500 networks
_SPACES: dict[str, SearchSpace] = {}


def build_space(space: dict | None = None, ops: list[str] | tuple[str, ...] = PROXYLESS_OPS, image_size: int = 32,
                where: str = "nas") -> SearchSpace:
    """The search space: :data:`PROXYLESS_SPACE` overridden by ``space``, candidate ``ops`` per block, costs
    at ``image_size``. Errors are :class:`NASSettingsError` naming ``where.space`` / ``where.ops``. Built once
    per (space, ops, image size) and process; each call returns its own copy."""
    try:
        key = json.dumps([space, list(ops) if isinstance(ops, (list, tuple)) else ops, image_size], sort_keys=True)
    except (TypeError, ValueError):
        key = None
    if key is not None and key in _SPACES:
        return copy.deepcopy(_SPACES[key])
    sp = _build_space(space, ops, image_size, where)
    if key is not None:
        _SPACES[key] = copy.deepcopy(sp)
    return sp


def _build_space(space, ops, image_size, where) -> SearchSpace:
    space = {} if space is None else space
    if not isinstance(space, dict):
        raise NASSettingsError(f"{where}.space", f"expected a mapping of mobilenetv2 spec fields, got {space!r}")
    if "blocks" in space:
        raise NASSettingsError(f"{where}.space.blocks", "the blocks are what the search chooses; remove this key")
    if space.get("family", "mobilenetv2") != "mobilenetv2":
        raise NASSettingsError(f"{where}.space.family", f"the ProxylessNAS space is a mobilenetv2 space, got "
                                                        f"{space['family']!r}")
    try:
        base = normalize({**PROXYLESS_SPACE, **space, "blocks": None})
    except ArchSpecError as e:
        raise NASSettingsError(f"{where}.space" + (f".{e.field}" if e.field else ""), e.problem) from None
    ops = _check_ops(ops, f"{where}.ops")
    slots = []
    for si, stage in enumerate(block_plan(base)):
        if si == 0:
            continue
        for j, blk in enumerate(stage):
            zero_ok = blk["stride"] == 1 and blk["inp"] == blk["out"]
            cands = tuple(o for o in ops if o != ZERO or zero_ok)
            if not cands:
                raise NASSettingsError(f"{where}.ops", f"block{si + 1}.{j} (stride {blk['stride']}, {blk['inp']} -> "
                                                       f"{blk['out']} channels) cannot take the zero op and no MBConv "
                                                       f"op is listed; add at least one KxK_MBConvE op")
            slots.append(Slot(si + 1, j, blk["inp"], blk["out"], blk["stride"], cands))
    ref = [0] * len(slots)

    def spec_of(choices):
        return normalize({**base, "blocks": [parse_op(s.ops[c]) for s, c in zip(slots, choices)]})

    try:
        t_ref = _trace(spec_of(ref), image_size)
    except ValueError as e:
        raise NASSettingsError(f"{where}.space", f"the space does not fit {image_size}x{image_size} images ({e}); "
                                                 f"use a stem that downsamples less (space.stem: small or cifar), "
                                                 f"fewer stride-2 stages or larger images") from None
    sp = SearchSpace(base=base, image_size=int(image_size), slots=slots,
                     constant={"params": t_ref.params, "flops": t_ref.flops},
                     delta={"params": [], "flops": []})
    for b, slot in enumerate(slots):
        dp, df = [], []
        for k in range(len(slot.ops)):
            if k == 0:
                dp.append(0)
                df.append(0)
                continue
            ch = list(ref)
            ch[b] = k
            t = _trace(spec_of(ch), image_size)
            dp.append(t.params - t_ref.params)
            df.append(t.flops - t_ref.flops)
        sp.delta["params"].append(dp)
        sp.delta["flops"].append(df)
    return sp


def _check_ops(ops: Any, key: str) -> tuple[str, ...]:
    if not isinstance(ops, (list, tuple)) or not ops:
        raise NASSettingsError(key, f"expected a non-empty list of op names, got {ops!r}")
    for i, o in enumerate(ops):
        if parse_op(o) is None:
            raise NASSettingsError(f"{key}[{i}]", f"unknown op {o!r}; known: KxK_MBConvE with K in 3, 5, 7 and E in "
                                                  f"1..8 (ProxylessNAS: {', '.join(PROXYLESS_OPS)}), and 'zero'")
    dup = [o for i, o in enumerate(ops) if o in ops[:i]]
    if dup:
        raise NASSettingsError(key, f"op {dup[0]!r} is listed twice")
    return tuple(ops)


# -- settings -----------------------------------------------------------------------------------------------


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def validate_settings(settings: dict | None, where: str = "nas", dataset_size: int | None = None) -> dict:
    """Check search ``settings`` and return them complete (defaults filled, ``target`` completed or None).

    Keys and defaults: :data:`DEFAULTS` (meanings in :data:`SETTINGS_DOC`); ``target`` keys and defaults:
    :data:`TARGET_DEFAULTS` (``value`` required). Checks, each error a :class:`NASSettingsError` naming the
    key under ``where`` (e.g. ``nas.searches.s1.target.value``): unknown keys, types and ranges, unknown ops,
    a space that does not fit ``image_size`` (the family's trace, plus no strided conv on a map smaller than
    its stride), ``warmup_epochs < epochs``, and a target outside the sizes the space can reach (the smallest
    and largest networks, in closed form). With ``dataset_size`` also the split: the held-out part and the rest
    must each hold at least ``batch_size`` images. Torch-free.
    """
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        raise NASSettingsError(where, f"expected a mapping of search settings, got {settings!r}")
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise NASSettingsError(f"{where}.{unknown[0]}", f"unknown key; known: {', '.join(DEFAULTS)}")
    s = copy.deepcopy(DEFAULTS)
    s.update(copy.deepcopy(settings))

    def key(k: str) -> str:
        return f"{where}.{k}"

    def pos_int(k: str, minimum: int = 1) -> None:
        if not _is_int(s[k]) or s[k] < minimum:
            raise NASSettingsError(key(k), f"expected an int >= {minimum}, got {s[k]!r}")

    def pos_num(k: str, allow_zero: bool = False) -> None:
        if not _is_num(s[k]) or s[k] < 0 or (s[k] == 0 and not allow_zero):
            raise NASSettingsError(key(k), f"expected a {'non-negative' if allow_zero else 'positive'} number, "
                                           f"got {s[k]!r}")

    pos_int("epochs")
    pos_int("warmup_epochs", 0)
    if s["warmup_epochs"] >= s["epochs"]:
        raise NASSettingsError(key("warmup_epochs"), f"{s['warmup_epochs']} leaves no epoch for the architecture "
                                                     f"steps; it must be smaller than epochs ({s['epochs']})")
    pos_int("batch_size", 2)
    pos_int("image_size")
    pos_num("warmup_lr")
    pos_num("lr")
    pos_num("arch_lr")
    pos_num("arch_init_std", allow_zero=True)
    pos_int("arch_every")
    pos_int("checkpoint_every")
    if not _is_int(s["seed"]):
        raise NASSettingsError(key("seed"), f"expected an int, got {s['seed']!r}")
    h = s["holdout"]
    if not ((_is_int(h) and h >= 1) or (isinstance(h, float) and 0 < h < 1)):
        raise NASSettingsError(key("holdout"), f"expected a count (int >= 1) or a fraction in (0, 1), got {h!r}")
    opt = s["optimizer"]
    if not isinstance(opt, dict):
        raise NASSettingsError(key("optimizer"), f"expected a mapping {{name, ...}}, got {opt!r}")
    if opt.get("name", "sgd") not in OPTIMIZERS:
        raise NASSettingsError(key("optimizer.name"), f"unknown optimizer {opt.get('name')!r}; known: "
                                                      f"{', '.join(OPTIMIZERS)}")
    if "lr" in opt:
        raise NASSettingsError(key("optimizer.lr"), "set the weight learning rates with lr and warmup_lr")
    if not isinstance(s["augment"], dict):
        raise NASSettingsError(key("augment"), f"expected a mapping, got {s['augment']!r}")
    if s["precision"] not in PRECISIONS:
        raise NASSettingsError(key("precision"), f"expected one of {', '.join(PRECISIONS)}, got {s['precision']!r}")
    if not isinstance(s["channels_last"], bool):
        raise NASSettingsError(key("channels_last"), f"expected true or false, got {s['channels_last']!r}")
    s["ops"] = list(_check_ops(s["ops"], key("ops")))
    space = build_space(s["space"], s["ops"], s["image_size"], where)
    s["target"] = _check_target(s["target"], space, key("target"))
    if dataset_size is not None:
        holdout_split(dataset_size, s, where)
    return s


def _check_target(t: Any, space: SearchSpace, key: str) -> dict | None:
    if t is None:
        return None
    if not isinstance(t, dict):
        raise NASSettingsError(key, f"expected null or a mapping {{{', '.join(TARGET_DEFAULTS)}}}, got {t!r}")
    unknown = sorted(set(t) - set(TARGET_DEFAULTS))
    if unknown:
        raise NASSettingsError(f"{key}.{unknown[0]}", f"unknown key; known: {', '.join(TARGET_DEFAULTS)}")
    t = {**TARGET_DEFAULTS, **t}
    if t["kind"] not in SIZE_KINDS:
        raise NASSettingsError(f"{key}.kind", f"expected one of {', '.join(SIZE_KINDS)}, got {t['kind']!r}")
    if t["penalty"] not in PENALTIES:
        raise NASSettingsError(f"{key}.penalty", f"expected one of {', '.join(PENALTIES)}, got {t['penalty']!r}")
    for k in ("alpha", "beta", "lambda"):
        if not _is_num(t[k]) or t[k] <= 0:
            raise NASSettingsError(f"{key}.{k}", f"expected a positive number, got {t[k]!r}")
    v = t["value"]
    if v is None:
        raise NASSettingsError(f"{key}.value", f"missing: the target {t['kind']} (a number)")
    if not _is_num(v) or v <= 1:
        raise NASSettingsError(f"{key}.value", f"expected a number > 1, got {v!r}")
    lo, hi = space.bounds(t["kind"])
    unit = "parameters" if t["kind"] == "params" else f"FLOPs at {space.image_size} px"
    if v < lo:
        raise NASSettingsError(f"{key}.value", f"{v:g} is below the smallest network of the space ({lo} {unit}: "
                                               f"every block at its cheapest op); no architecture can meet it")
    if v > hi:
        raise NASSettingsError(f"{key}.value", f"{v:g} is above the largest network of the space ({hi} {unit}: "
                                               f"every block at its costliest op); the target would not bind")
    t["value"] = float(v)
    return t


def holdout_split(n: int, settings: dict, where: str = "nas") -> tuple[int, int]:
    """(held-out images, weight-training images) of an ``n``-image pretraining set under ``settings``
    (validated), or :class:`NASSettingsError` naming ``where.holdout`` when either part is under one batch."""
    h = settings["holdout"]
    held = h if _is_int(h) else int(round(h * n))
    bs = settings["batch_size"]
    if held < bs:
        raise NASSettingsError(f"{where}.holdout", f"holds out {held} of {n} images, fewer than one batch "
                                                   f"(batch_size {bs}) for the architecture steps")
    if n - held < bs:
        raise NASSettingsError(f"{where}.holdout", f"leaves {n - held} of {n} images for the weight steps, fewer "
                                                   f"than one batch (batch_size {bs})")
    return held, n - held


def space_of(settings: dict, where: str = "nas") -> SearchSpace:
    """The :class:`SearchSpace` of validated ``settings``."""
    return build_space(settings["space"], settings["ops"], settings["image_size"], where)


__all__ = ["DEFAULTS", "NASSettingsError", "PROXYLESS_OPS", "PROXYLESS_SPACE", "SETTINGS_DOC", "SearchSpace", "Slot",
           "TARGET_DEFAULTS", "build_space", "holdout_split", "op_name", "parse_op", "short_op", "space_of",
           "validate_settings"]
