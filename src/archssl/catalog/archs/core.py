"""The operations on one spec: its family, normalisation, the content-derived id, counts, taps, summary.

Everything here is closed-form and torch-free (the counts come from each family's
:meth:`~archssl.catalog.archs.family.Family.trace`).
"""

from __future__ import annotations

from archssl.catalog.archs.family import FAMILIES, Family
from archssl.catalog.archs.named import NAMED, raw_named
from archssl.catalog.archs.spec import ArchSpecError
from archssl.registry import RegistryError


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
    """The normalized spec of a named architecture (see :data:`~archssl.catalog.archs.named.NAMED`)."""
    raw = raw_named(name) if isinstance(name, str) else None
    if raw is None:
        raise ArchSpecError(f"unknown named architecture {name!r}; known: {', '.join(NAMED)}")
    return normalize(raw, source=f"named {name!r}")


def arch_id(spec: dict) -> str:
    """Short, readable, filesystem-safe id derived only from the normalized content of ``spec``."""
    spec = normalize(spec)
    return family_of(spec).arch_id(spec)


def count_params(spec: dict) -> int:
    """Trainable parameters of the backbone (no classifier; BN running stats excluded)."""
    spec = normalize(spec)
    return family_of(spec).count_params(spec)


def count_flops(spec: dict, image_size: int = 224) -> int:
    """FLOPs (2 x MACs of convs and linear layers) of one forward pass of a square ``image_size`` image."""
    spec = normalize(spec)
    return family_of(spec).count_flops(spec, int(image_size))


def out_dim(spec: dict) -> int:
    """Size of the features the built backbone (:func:`archssl.archs.build`) returns."""
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
