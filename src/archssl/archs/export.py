"""``archssl export``: a pretrained backbone as a plain torchvision state_dict.

    archssl export --backbone results/pretrain/M/A/backbone.pt --out FILE.pt [--format torchvision]
                   [--num-classes K]

writes ``FILE.pt``, a ``dict[str, Tensor]`` with torchvision's parameter names (no pickled classes: it loads
with ``torch.load(FILE.pt, weights_only=True)``), and ``FILE.json`` next to it, which says how to build the
matching torchvision model (class, keyword arguments, stem changes), where the weights came from (spec,
arch id, SSL method, epochs, code version) and what was done about the classifier.

Families with a torchvision twin (:func:`to_torchvision` explains what fits):

- ResNet v1 -> ``torchvision.models.resnet.ResNet(block, layers, groups=..., width_per_group=...)``: four
  stages, ``width * widen == 64`` (torchvision's stem and stage planes are fixed at 64-128-256-512),
  ``final_relu: true``, no ``rep_dim``. Key names: ``stem.0/stem.1 -> conv1/bn1``, ``blockN -> layerN``
  (:func:`archssl.archs.nets.resnet.torchvision_key_map`, inverted).
- MobileNetV2 -> ``torchvision.models.MobileNetV2(width_mult=..., inverted_residual_setting=...,
  round_nearest=...)``: ``last_channel: 1280`` (fixed in torchvision), no ``rep_dim``, every block a 3x3
  MBConv. Per-stage ``channels``, ``depths`` and the ``small`` stem are rows of ``inverted_residual_setting``;
  ProxylessNAS blocks whose expansion varies within a stage become one row per block; ``skip`` blocks (the
  zero op, an identity) are left out of the torchvision model, which computes the same function with fewer
  entries in ``features``. Kernels other than 3 are refused: torchvision's ``InvertedResidual`` has a fixed 3x3
  depthwise convolution.

CIFAR stems are exported with the usual adaptation, applied by :meth:`TorchvisionTarget.build` and recorded in
the JSON: ResNet ``conv1 = Conv2d(3, 64, 3, stride=1, padding=1, bias=False)`` and ``maxpool = Identity()``;
MobileNetV2 ``features[0][0].stride = (1, 1)`` (with stage 2's stride 1 in the setting).

Classifier: our backbones have none. By default the state_dict holds no ``fc.*`` / ``classifier.1.*`` keys:
load it with ``strict=False`` (the only missing keys are the classifier's) into a model whose classifier you
then train or replace. ``--num-classes K`` adds a zero-initialised linear classifier with ``K`` outputs (all
logits 0 until trained), so the file loads with ``strict=True`` into ``TorchvisionTarget.build(num_classes=K)``
(for the named ones, e.g. ``torchvision.models.resnet50(num_classes=K)``).

RevNet, VGG, ResNet v2 and other specs torchvision cannot express raise :class:`ExportError` naming the spec
key at fault.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archssl.archs.checkpoint import load_backbone
from archssl.archs.nets.resnet import torchvision_key_map
from archssl.catalog.archs import ArchSpecError, arch_id, normalize
from archssl.catalog.archs.families.mobilenetv2 import block_plan
from archssl.catalog.archs.families.resnet import stage_planes
from archssl.utils import atomic_path, write_json

if TYPE_CHECKING:  # pragma: no cover
    import torch

FORMATS = ("torchvision",)

#: torchvision's named ResNets: name -> (block, layers, groups, width_per_group)
TORCHVISION_RESNETS = {
    "resnet18": ("BasicBlock", [2, 2, 2, 2], 1, 64),
    "resnet34": ("BasicBlock", [3, 4, 6, 3], 1, 64),
    "resnet50": ("Bottleneck", [3, 4, 6, 3], 1, 64),
    "resnet101": ("Bottleneck", [3, 4, 23, 3], 1, 64),
    "resnet152": ("Bottleneck", [3, 8, 36, 3], 1, 64),
    "resnext50_32x4d": ("Bottleneck", [3, 4, 6, 3], 32, 4),
    "resnext101_32x8d": ("Bottleneck", [3, 4, 23, 3], 32, 8),
    "resnext101_64x4d": ("Bottleneck", [3, 4, 23, 3], 64, 4),
    "wide_resnet50_2": ("Bottleneck", [3, 4, 6, 3], 1, 128),
    "wide_resnet101_2": ("Bottleneck", [3, 4, 23, 3], 1, 128),
}

#: torchvision's default MobileNetV2 setting (t, c, n, s)
TORCHVISION_MBV2_SETTING = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1],
                            [6, 160, 3, 2], [6, 320, 1, 1]]


class ExportError(ValueError):
    """A backbone torchvision cannot express; the message names the spec key at fault (when there is one)."""


@dataclass
class TorchvisionTarget:
    """The torchvision model a backbone exports to.

    ``cls``: the dotted class name (``torchvision.models.resnet.ResNet``, ``torchvision.models.MobileNetV2``);
    ``kwargs``: its JSON-able keyword arguments (a ResNet's ``block`` is the class name ``BasicBlock`` or
    ``Bottleneck``); ``stem``: ``"imagenet"`` (unchanged torchvision) or ``"cifar"`` (the adaptation in the
    module docstring); ``name``: the torchvision builder with exactly this architecture (``"resnet50"``,
    ``"mobilenet_v2"``) when there is one, else None. ``build(num_classes)`` returns the model (random init)."""

    cls: str
    kwargs: dict[str, Any]
    stem: str = "imagenet"
    name: str | None = None
    classifier: tuple[str, ...] = ()  # state_dict keys of the classifier

    def build(self, num_classes: int = 1000, device: Any = None) -> "torch.nn.Module":
        """The torchvision model, with the CIFAR stem adaptation applied when ``stem == "cifar"``."""
        import torch
        from torchvision.models import mobilenetv2, resnet

        with torch.device(device) if device is not None else contextlib.nullcontext():
            if self.cls == "torchvision.models.resnet.ResNet":
                kw = dict(self.kwargs)
                kw["block"] = getattr(resnet, kw["block"])
                model = resnet.ResNet(num_classes=num_classes, **kw)
                if self.stem == "cifar":
                    model.conv1 = torch.nn.Conv2d(3, model.bn1.num_features, 3, stride=1, padding=1, bias=False)
                    model.maxpool = torch.nn.Identity()
            elif self.cls == "torchvision.models.MobileNetV2":
                model = mobilenetv2.MobileNetV2(num_classes=num_classes, **self.kwargs)
                if self.stem == "cifar":
                    model.features[0][0].stride = (1, 1)
            else:  # pragma: no cover - only the two classes above are produced
                raise ExportError(f"unknown torchvision class {self.cls!r}")
        return model

    def code(self, num_classes: int = 1000) -> str:
        """Python that builds this model with torchvision alone (``import torch, torchvision`` assumed)."""
        if self.name and self.stem == "imagenet":
            return f"model = torchvision.models.{self.name}(num_classes={num_classes})"
        if "ResNet" in self.cls:
            kw = self.kwargs
            text = (f"model = torchvision.models.resnet.ResNet(torchvision.models.resnet.{kw['block']}, "
                    f"{kw['layers']}, groups={kw['groups']}, width_per_group={kw['width_per_group']}, "
                    f"num_classes={num_classes})")
            if self.stem == "cifar":
                text += ("; model.conv1 = torch.nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)"
                         "; model.maxpool = torch.nn.Identity()")
            return text
        kw = self.kwargs
        text = (f"model = torchvision.models.MobileNetV2(num_classes={num_classes}, width_mult={kw['width_mult']}, "
                f"inverted_residual_setting={kw['inverted_residual_setting']}, "
                f"round_nearest={kw['round_nearest']})")
        if self.stem == "cifar":
            text += "; model.features[0][0].stride = (1, 1)"
        return text

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary (what ``FILE.json`` records under ``torchvision``)."""
        stem = None
        if self.stem == "cifar":
            stem = ({"conv1": "Conv2d(3, 64, 3, stride=1, padding=1, bias=False)", "maxpool": "Identity()"}
                    if "ResNet" in self.cls else {"features[0][0].stride": [1, 1]})
        return {"class": self.cls, "kwargs": self.kwargs, "named_builder": self.name, "stem_changes": stem,
                "classifier_keys": list(self.classifier)}


def _refuse(spec: dict, key: str | None, problem: str) -> ExportError:
    where = f"spec key {key!r}: " if key else ""
    return ExportError(f"cannot export {arch_id(spec)} to torchvision: {where}{problem}")


# ----------------------------------------------------------------------------------------------- ResNet


def resnet_target(spec: dict) -> TorchvisionTarget:
    """The torchvision ResNet of a ResNet spec, or :class:`ExportError` naming the field torchvision lacks."""
    if spec["version"] != "v1":
        raise _refuse(spec, "version", f"{spec['version']!r} (pre-activation) has no torchvision twin; only v1")
    if not spec["final_relu"]:
        raise _refuse(spec, "final_relu", "false drops the last ReLU; torchvision's blocks always end with one")
    if spec["rep_dim"]:
        raise _refuse(spec, "rep_dim", f"{spec['rep_dim']}: torchvision has no linear layer between pooling and fc")
    if len(spec["depths"]) != 4:
        raise _refuse(spec, "depths", f"{spec['depths']} has {len(spec['depths'])} stages; torchvision's ResNet "
                                      "has exactly 4")
    w0 = stage_planes(spec)[0]
    if w0 != 64:
        key = "widen" if spec["width"] == 64 else "width"
        raise _refuse(spec, key, f"width * widen = {w0}; torchvision's ResNet has a 64-channel stem and stage "
                                 "planes 64-128-256-512 (width_per_group only widens the bottleneck's 3x3 conv)")
    block = "BasicBlock" if spec["block"] == "basic" else "Bottleneck"
    kwargs = {"block": block, "layers": list(spec["depths"]), "groups": spec["groups"],
              "width_per_group": spec["width_per_group"]}
    name = None
    if spec["stem"] == "imagenet":
        for tv_name, (b, layers, g, wpg) in TORCHVISION_RESNETS.items():
            if (b, layers, g, wpg) == (block, kwargs["layers"], kwargs["groups"], kwargs["width_per_group"]):
                name = tv_name
    return TorchvisionTarget("torchvision.models.resnet.ResNet", kwargs, spec["stem"], name,
                             ("fc.weight", "fc.bias"))


# ------------------------------------------------------------------------------------------ MobileNetV2


def mobilenetv2_target(spec: dict) -> tuple[TorchvisionTarget, dict[int, str]]:
    """The torchvision MobileNetV2 of a spec plus the map ``features`` index -> our module name, or
    :class:`ExportError` naming the field torchvision lacks."""
    if spec["rep_dim"]:
        raise _refuse(spec, "rep_dim", f"{spec['rep_dim']}: torchvision has no linear layer between pooling and "
                                       "the classifier")
    if spec["last_channel"] != 1280:
        raise _refuse(spec, "last_channel", f"{spec['last_channel']}; torchvision's MobileNetV2 fixes it at 1280 "
                                            "(scaled by max(1, width_mult))")
    rows: list[list[int]] = []  # [t, c, n, s, stage]
    index = {0: "stem"}
    k, b = 1, 0  # k: torchvision features index; b: index into spec['blocks'] (stages 2-7)
    for si, stage in enumerate(block_plan(spec)):
        for j, blk in enumerate(stage):
            key = None if si == 0 else f"blocks[{b}]"
            b += si > 0
            if blk["kernel"] != 3:
                raise _refuse(spec, key, f"kernel {blk['kernel']} (stage {si + 1}, block {j + 1}); torchvision's "
                                         "InvertedResidual has a fixed 3x3 depthwise convolution")
            if blk["skip"]:
                continue  # the zero op: an identity, left out of torchvision's sequence
            last = rows[-1] if rows else None
            if last is not None and last[4] == si and last[0] == blk["expand"] and blk["stride"] == 1:
                last[2] += 1  # one more block of the same row (torchvision gives later blocks stride 1)
            else:
                rows.append([blk["expand"], spec["channels"][si], 1, blk["stride"], si])
            index[k] = f"block{si + 1}.{j}"
            k += 1
    index[k] = "final"
    setting = [r[:4] for r in rows]
    kwargs = {"width_mult": spec["width_mult"], "inverted_residual_setting": setting,
              "round_nearest": spec["round_nearest"]}
    name = "mobilenet_v2" if spec["stem"] == "imagenet" and setting == TORCHVISION_MBV2_SETTING else None
    stem = "cifar" if spec["stem"] == "cifar" else "imagenet"  # 'small' only changes stage 2's stride: a setting row
    return (TorchvisionTarget("torchvision.models.MobileNetV2", kwargs, stem, name,
                              ("classifier.1.weight", "classifier.1.bias")), index)


# ----------------------------------------------------------------------------------------------- export


def target_for(spec: dict) -> tuple[TorchvisionTarget, Any]:
    """``(target, key_map)`` for a normalized spec: ``key_map(torchvision_key) -> our key`` (None for the
    classifier). Raises :class:`ExportError` for families and specs without a torchvision twin."""
    spec = normalize(spec)
    family = spec["family"]
    if family == "resnet":
        return resnet_target(spec), torchvision_key_map
    if family == "mobilenetv2":
        target, index = mobilenetv2_target(spec)

        def key_map(key: str) -> str | None:
            if key.startswith("classifier."):
                return None
            head, num, rest = key.split(".", 2)
            return f"{index[int(num)]}.{rest}"

        return target, key_map
    raise _refuse(spec, "family", f"{family!r} has no torchvision twin; exportable families: resnet (v1), "
                                  "mobilenetv2")


def to_torchvision(backbone_or_state: Any, spec: dict | None = None, num_classes: int | None = None
                   ) -> tuple[TorchvisionTarget, dict[str, "torch.Tensor"]]:
    """Our backbone -> ``(target, state_dict)`` in torchvision's names.

    ``backbone_or_state``: a :class:`~archssl.archs.nets.backbone.Backbone` (its ``spec`` is used when
    ``spec`` is None), its ``state_dict()``, or the dict :func:`archssl.train.loop.pretrain` saves as
    ``backbone.pt`` (``{"spec", "state_dict", ...}``). ``target.build(num_classes)`` returns the torchvision
    model. The state_dict holds contiguous CPU tensors for every parameter and buffer of that model except
    the classifier, which is absent (``num_classes=None``) or a zero-initialised linear layer with
    ``num_classes`` outputs. Every tensor is checked against the torchvision model's shape, and every one of
    ours must be used (BN ``num_batches_tracked`` included), so a mismatch fails here, not at load time.
    """
    import torch

    if isinstance(backbone_or_state, torch.nn.Module):
        state = backbone_or_state.state_dict()
        spec = spec if spec is not None else getattr(backbone_or_state, "spec", None)
    elif isinstance(backbone_or_state, dict) and "state_dict" in backbone_or_state and "spec" in backbone_or_state:
        state = backbone_or_state["state_dict"]
        spec = spec if spec is not None else backbone_or_state["spec"]
    elif isinstance(backbone_or_state, dict):
        state = backbone_or_state
    else:
        raise TypeError(f"expected a Backbone, a state_dict or a backbone.pt dict, got "
                        f"{type(backbone_or_state).__name__}")
    if spec is None:
        raise ValueError("to_torchvision needs the architecture spec of a bare state_dict")
    if num_classes is not None and int(num_classes) < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    target, key_map = target_for(spec)
    tv = target.build(num_classes=num_classes or 1000, device="meta")
    out: dict[str, torch.Tensor] = {}
    used = set()
    for key, ref in tv.state_dict().items():
        ours = key_map(key)
        if ours is None:
            if num_classes is not None:
                out[key] = torch.zeros(ref.shape, dtype=ref.dtype)
            continue
        if ours not in state:
            raise ExportError(f"backbone state has no {ours!r} for torchvision's {key!r} (spec mismatch?)")
        value = state[ours].detach().to("cpu")
        if tuple(value.shape) != tuple(ref.shape):
            raise ExportError(f"{ours!r} has shape {tuple(value.shape)}, torchvision's {key!r} expects "
                              f"{tuple(ref.shape)}")
        out[key] = value.contiguous().clone()
        used.add(ours)
    unused = sorted(set(state) - used)
    if unused:
        raise ExportError(f"backbone tensors with no torchvision counterpart: {', '.join(unused[:5])}"
                          + (" ..." if len(unused) > 5 else ""))
    return target, out


def export_backbone(backbone_path: str | Path, out: str | Path, fmt: str = "torchvision",
                    num_classes: int | None = None) -> tuple[Path, Path]:
    """Read ``backbone.pt``, write ``out`` (the state_dict, atomically) and ``out`` with suffix ``.json``
    (how to build and load it, provenance). Returns both paths."""
    import torch

    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    net, saved = load_backbone(Path(backbone_path))
    target, state = to_torchvision(net, saved["spec"], num_classes)
    out = Path(out)
    if out.suffix == ".json":
        raise ExportError(f"--out {out}: the state_dict file must not end in .json (the metadata goes there)")
    with atomic_path(out) as tmp:
        torch.save(state, tmp)
    strict = num_classes is not None
    meta = {
        "format": fmt,
        "weights": out.name,
        "torchvision": target.describe(),
        "classifier": (f"zero-initialised, {num_classes} outputs" if strict else
                       f"absent: load with strict=False (missing keys: {', '.join(target.classifier)}), then "
                       "train or replace the classifier"),
        "load": f"{target.code(num_classes or 1000)}; "
                f"model.load_state_dict(torch.load({out.name!r}, weights_only=True), strict={strict})",
        "source": str(backbone_path),
        "arch_id": net.arch_id,
        "spec": saved["spec"],
        **{k: saved[k] for k in ("method", "epochs", "code_version", "fingerprint") if k in saved},
    }
    meta_path = out.with_suffix(".json")
    write_json(meta_path, meta)
    return out, meta_path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="archssl export", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--backbone", type=Path, required=True, help="a backbone.pt written by archssl pretrain")
    p.add_argument("--out", type=Path, required=True, help="the state_dict file to write (FILE.json next to it)")
    p.add_argument("--format", choices=FORMATS, default="torchvision")
    p.add_argument("--num-classes", type=int, default=None,
                   help="add a zero-initialised classifier with this many outputs (default: none)")
    return p


def main(argv: list[str] | None = None) -> int:
    """CLI entry: returns 0 on success, 2 (message on stderr) when the backbone cannot be exported."""
    args = _parser().parse_args(argv)
    try:
        out, meta = export_backbone(args.backbone, args.out, args.format, args.num_classes)
    except (ExportError, ArchSpecError, RuntimeError, ValueError) as e:
        print(f"archssl export: error: {e}", file=sys.stderr)
        return 2
    info = json.loads(meta.read_text())
    print(f"wrote {out} ({info['torchvision']['named_builder'] or info['torchvision']['class']}; "
          f"classifier {info['classifier'].split(':')[0]}) and {meta}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
