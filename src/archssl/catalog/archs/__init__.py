"""Architecture families at the spec level: the spec format, content-derived ids, counts, named archs,
presets and the sampler; torch-free and fast, so that the planner (and the Snakefile through it) uses them at
parse time.

A spec is a plain dict (YAML) such as ``{family: resnet, block: bottleneck, depths: [3, 4, 6, 3]}``;
:func:`normalize` validates it and fills every default, and :func:`arch_id` derives a short readable id from
the normalized content (``resnet-bottleneck-d3463-w64-<sha1[:6]>``). Each family names its net builder as an
implementation path (:attr:`Family.builder <archssl.catalog.archs.family.Family.builder>`); building the
network is :func:`archssl.archs.build` (torch), which nothing here imports.

A spec may start from a named one: ``{base: resnet50, widen: 2}`` is resnet50 with ``widen`` overridden.

FLOPs are ``2 x multiply-accumulates`` of the convolutions and linear layers for one image (what
``torch.utils.flop_counter.FlopCounterMode`` counts); BN, activations, pooling and additions are excluded.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from archssl.catalog.archs import families as _families  # noqa: F401  (registers the built-in families)
from archssl.catalog.archs.core import (arch_id, count_flops, count_params, describe, family_of, named, normalize,
                                        out_dim, tap_names)
from archssl.catalog.archs.family import FAMILIES, Family, Tracer
from archssl.catalog.archs.named import NAMED, raw_named
from archssl.catalog.archs.presets import PRESETS, preset
from archssl.catalog.archs.sample import sample
from archssl.catalog.archs.spec import ArchSpecError, canonical_json
from archssl.utils import atomic_path

__all__ = [
    "ArchSpecError", "FAMILIES", "Family", "NAMED", "PRESETS", "Tracer", "arch_id", "count_flops",
    "count_params", "describe", "family_of", "load_spec", "named", "normalize", "out_dim", "preset", "resolve",
    "sample", "save_spec", "tap_names",
]

ARCHS_KEYS = ("named", "specs", "preset", "sample")
SAMPLE_KEYS = ("n", "seed", "space", "constraints")


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
    spec = normalize(spec)
    path = Path(path)
    text = f"# archssl architecture {arch_id(spec)}\n" + yaml.safe_dump(spec, sort_keys=False,
                                                                         default_flow_style=None)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path
