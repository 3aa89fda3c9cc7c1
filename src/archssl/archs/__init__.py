"""Architecture families, the spec format, content-derived ids, counts, named archs, presets and the sampler.

A spec is a plain dict (YAML) such as ``{family: resnet, block: bottleneck, depths: [3, 4, 6, 3]}``;
:func:`normalize` validates it and fills every default, and :func:`arch_id` derives a short readable id from
the normalized content (``resnet-bottleneck-d3463-w64-<sha1[:6]>``). :func:`build` returns a
:class:`~archssl.archs.nets.backbone.Backbone` (imports torch); everything else here is torch-free and fast,
so the Snakefile can import this module at parse time.

A spec may start from a named one: ``{base: resnet50, widen: 2}`` is resnet50 with ``widen`` overridden.

FLOPs are ``2 x multiply-accumulates`` of the convolutions and linear layers for one image (what
``torch.utils.flop_counter.FlopCounterMode`` counts); BN, activations, pooling and additions are excluded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from archssl.archs import families as _families  # noqa: F401  (registers the built-in families)
from archssl.archs.family import FAMILIES, Family, Tracer
from archssl.archs.named import NAMED, raw_named
from archssl.archs.presets import PRESETS, preset
from archssl.archs.sample import sample
from archssl.archs.spec import ArchSpecError, canonical_json
from archssl.registry import RegistryError

if TYPE_CHECKING:  # pragma: no cover
    from archssl.archs.nets.backbone import Backbone

__all__ = [
    "ArchSpecError", "FAMILIES", "Family", "NAMED", "PRESETS", "Tracer", "arch_id", "build", "count_flops",
    "count_params", "describe", "family_of", "load_spec", "named", "normalize", "out_dim", "preset", "resolve",
    "sample", "save_spec", "tap_names",
]

ARCHS_KEYS = ("named", "specs", "preset", "sample")
SAMPLE_KEYS = ("n", "seed", "space", "constraints")


def family_of(spec: dict) -> Family:
    """The registered family of ``spec`` (raises :class:`ArchSpecError` listing the known families)."""
    name = spec.get("family") if isinstance(spec, dict) else None
    if name is None:
        raise ArchSpecError(f"missing; known families: {', '.join(FAMILIES.names())}", field="family")
    try:
        return FAMILIES.get(name)
    except (RegistryError, TypeError):
        raise ArchSpecError(f"unknown family {name!r}; known families: {', '.join(FAMILIES.names())}",
                            field="family") from None


def normalize(spec: dict, source: str | None = None) -> dict:
    """Validate ``spec``, fill defaults and return the canonical plain dict (idempotent).

    ``source`` (e.g. ``'archs.specs[2]'``) is prefixed to error messages. ``base: NAME`` starts from a
    named spec and overrides its fields.
    """
    try:
        if not isinstance(spec, dict):
            raise ArchSpecError(f"expected a mapping with a 'family' key, got {spec!r}")
        if "base" in spec:
            base_name = spec["base"]
            base = raw_named(base_name) if isinstance(base_name, str) else None
            if base is None:
                raise ArchSpecError(f"unknown named architecture {base_name!r}; known: {', '.join(NAMED)}",
                                    field="base")
            if "family" in spec and spec["family"] != base["family"]:
                raise ArchSpecError(f"{spec['family']!r} contradicts base {base_name!r} (family "
                                    f"{base['family']!r})", field="family")
            spec = {**base, **{k: v for k, v in spec.items() if k != "base"}}
        return family_of(spec).normalize(spec)
    except ArchSpecError as e:
        raise (e.at(source) if source else e) from None


def named(name: str) -> dict:
    """The normalized spec of a named architecture (see :data:`NAMED`)."""
    raw = raw_named(name) if isinstance(name, str) else None
    if raw is None:
        raise ArchSpecError(f"unknown named architecture {name!r}; known: {', '.join(NAMED)}")
    return normalize(raw, source=f"named {name!r}")


def arch_id(spec: dict) -> str:
    """Short, readable, filesystem-safe id derived only from the normalized content of ``spec``."""
    spec = normalize(spec)
    return family_of(spec).arch_id(spec)


def build(spec: dict) -> "Backbone":
    """Build the backbone (torch ``nn.Module``); deterministic given ``torch.manual_seed``."""
    spec = normalize(spec)
    return family_of(spec).build(spec)


def count_params(spec: dict) -> int:
    """Trainable parameters of the backbone (no classifier; BN running stats excluded)."""
    spec = normalize(spec)
    return family_of(spec).count_params(spec)


def count_flops(spec: dict, image_size: int = 224) -> int:
    """FLOPs (2 x MACs of convs and linear layers) of one forward pass of a square ``image_size`` image."""
    spec = normalize(spec)
    return family_of(spec).count_flops(spec, int(image_size))


def out_dim(spec: dict) -> int:
    """Size of the features ``build(spec)(x)`` returns."""
    spec = normalize(spec)
    return family_of(spec).out_dim(spec)


def tap_names(spec: dict) -> list[str]:
    """Tap names accepted by ``Backbone.forward_taps`` (shallow to deep, ending with ``prelogits``)."""
    spec = normalize(spec)
    return family_of(spec).tap_names(spec)


def describe(spec: dict, image_size: int = 224) -> dict:
    """A JSON-able summary: id, family, params, flops (at ``image_size``), out_dim, taps, normalized spec."""
    spec = normalize(spec)
    fam = family_of(spec)
    return {
        "id": fam.arch_id(spec),
        "family": fam.name,
        "params": fam.count_params(spec),
        "flops": fam.count_flops(spec, image_size),
        "flops_unit": "2*MACs (conv + linear), one image",
        "image_size": image_size,
        "out_dim": fam.out_dim(spec),
        "taps": fam.tap_names(spec),
        "spec": spec,
    }


def resolve(archs_cfg: dict, where: str = "archs") -> list[dict]:
    """The ``archs:`` config section -> ordered, de-duplicated list of normalized specs.

    Keys (all optional, at least one needed): ``named: [names]``, ``specs: [spec dicts or names]``,
    ``preset: NAME`` (or a list of names), ``sample: {n, seed, space, constraints}``. The result lists named,
    then specs, then presets, then the sample, keeping the first of any duplicates; the sample never redraws
    a spec listed before it, so it always adds ``n`` new architectures. Errors name the config key.
    """
    if not isinstance(archs_cfg, dict):
        raise ArchSpecError(f"expected a mapping with keys {', '.join(ARCHS_KEYS)}, got {archs_cfg!r}",
                            source=where)
    for key in archs_cfg:
        if key not in ARCHS_KEYS:
            raise ArchSpecError(f"unknown key; known keys: {', '.join(ARCHS_KEYS)}", source=f"{where}.{key}")
    out: list[dict] = []
    seen: set[str] = set()

    def add(spec: dict) -> None:
        key = canonical_json(spec)
        if key not in seen:
            seen.add(key)
            out.append(spec)

    def as_list(key: str, kind: type) -> list:
        v = archs_cfg.get(key)
        if v is None:
            return []
        if isinstance(v, kind):
            return [v]
        if not isinstance(v, list):
            raise ArchSpecError(f"expected a list, got {v!r}", source=f"{where}.{key}")
        return v

    for i, name in enumerate(as_list("named", str)):
        try:
            add(named(name))
        except ArchSpecError as e:
            raise e.at(f"{where}.named[{i}]") from None
    for i, spec in enumerate(as_list("specs", dict)):
        src = f"{where}.specs[{i}]"
        if isinstance(spec, str):
            try:
                add(named(spec))
            except ArchSpecError as e:
                raise e.at(src) from None
        else:
            add(normalize(spec, source=src))
    presets = as_list("preset", str)
    for i, name in enumerate(presets):
        src = f"{where}.preset" + (f"[{i}]" if isinstance(archs_cfg["preset"], list) else "")
        try:
            for spec in preset(name):
                add(spec)
        except ArchSpecError as e:
            raise e.at(src) from None
    if archs_cfg.get("sample") is not None:
        cfg = archs_cfg["sample"]
        src = f"{where}.sample"
        if not isinstance(cfg, dict):
            raise ArchSpecError(f"expected a mapping with keys {', '.join(SAMPLE_KEYS)}, got {cfg!r}", source=src)
        for key in cfg:
            if key not in SAMPLE_KEYS:
                raise ArchSpecError(f"unknown key; known keys: {', '.join(SAMPLE_KEYS)}", source=f"{src}.{key}")
        for key in ("n", "space"):
            if key not in cfg:
                raise ArchSpecError("missing", source=f"{src}.{key}")
        for spec in sample(cfg["space"], cfg["n"], cfg.get("seed", 0), cfg.get("constraints"),
                           exclude=out, where=f"{src}.space"):
            add(spec)
    if not out:
        raise ArchSpecError(f"no architectures: give at least one of {', '.join(ARCHS_KEYS)}", source=where)
    ids: dict[str, dict] = {}
    for spec in out:
        i = arch_id(spec)
        if i in ids:  # a 24-bit hash collision between different specs with the same readable prefix
            raise ArchSpecError(f"two different specs share the id {i!r}: {ids[i]} and {spec}", source=where)
        ids[i] = spec
    return out


# -- spec files ------------------------------------------------------------------------------------------


def load_spec(ref: str | os.PathLike) -> dict:
    """A normalized spec from a named architecture, a YAML/JSON file, or an inline YAML/JSON mapping."""
    import yaml

    if isinstance(ref, str) and raw_named(ref) is not None:
        return named(ref)
    path = Path(ref)
    if path.is_file():
        data = yaml.safe_load(path.read_text())
        return normalize(data, source=str(path))
    text = str(ref)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    if isinstance(data, dict):
        return normalize(data, source="inline spec")
    raise ArchSpecError(f"{text!r} is neither a named architecture ({', '.join(NAMED)}), a spec file, "
                        f"nor an inline YAML mapping")


def save_spec(spec: dict, path: str | os.PathLike) -> Path:
    """Write the normalized spec as YAML to ``path`` atomically (temporary file + rename); returns the path."""
    import yaml

    spec = normalize(spec)
    from archssl.utils import atomic_path

    path = Path(path)
    text = f"# archssl architecture {arch_id(spec)}\n" + yaml.safe_dump(spec, sort_keys=False,
                                                                         default_flow_style=None)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path
