"""Seeded, stratified sampling of architecture specs from a search space.

A space is a list of entries (YAML under ``archs.sample.space``)::

    - family: resnet
      weight: 1.0                 # relative share of the n draws (stratified: quotas by largest remainder)
      fixed: {stem: cifar, block: basic}
      choices: {width: [8, 16]}   # candidate values per field
      per_stage: {depths: [[1, 2], [1, 2], [1, 2], [1, 2]]}   # independent candidates per stage
      constraints: {max_params: 30e6}   # optional, per entry; overrides the global constraints key by key

Each entry's candidates are the cartesian product of its ``choices`` and ``per_stage`` lists. Entry ``i``
draws its quota by walking a seeded random permutation of its candidates (so uniformly, without
replacement), skipping candidates that violate the constraints or duplicate an earlier draw (after
normalization). Entries draw in order; the result lists entry 0's draws first, each entry in draw order.
For a fixed seed and space, the draws of an entry with a quota q are a prefix of its draws with a quota > q.

Constraints: ``min_params``, ``max_params`` (backbone parameters), ``min_flops``, ``max_flops`` (2 x MACs at
``image_size``, default 224), all inclusive. Numbers may be written ``30e6`` or ``'30M'``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Iterator

from archssl.catalog.archs.family import FAMILIES, Family
from archssl.catalog.archs.spec import ArchSpecError, _Invalid, _is_int, canonical_json, check_field, parse_number
from archssl.registry import RegistryError

ENTRY_KEYS = ("family", "weight", "fixed", "choices", "per_stage", "constraints")
CONSTRAINT_KEYS = ("min_params", "max_params", "min_flops", "max_flops", "image_size")
#: give up on an entry after examining this many candidates per requested spec (and at least MIN_SCAN)
SCAN_PER_SPEC = 2000
MIN_SCAN = 200_000


def parse_constraints(c: Any, where: str) -> dict:
    """Validate a constraints mapping; returns ``{key: number}`` (image_size as int)."""
    if c is None:
        return {}
    if not isinstance(c, dict):
        raise ArchSpecError(f"expected a mapping with keys {', '.join(CONSTRAINT_KEYS)}, got {c!r}", source=where)
    out: dict[str, Any] = {}
    for key, value in c.items():
        if key not in CONSTRAINT_KEYS:
            raise ArchSpecError(f"unknown constraint; known: {', '.join(CONSTRAINT_KEYS)}", source=f"{where}.{key}")
        if key == "image_size":
            if not _is_int(value) or value < 1:
                raise ArchSpecError(f"expected a positive int, got {value!r}", source=f"{where}.{key}")
            out[key] = int(value)
        else:
            try:
                out[key] = parse_number(value, key)
            except _Invalid as e:
                raise ArchSpecError(str(e), source=f"{where}.{key}") from None
    for lo, hi in (("min_params", "max_params"), ("min_flops", "max_flops")):
        if lo in out and hi in out and out[lo] > out[hi]:
            raise ArchSpecError(f"{lo} {out[lo]:g} > {hi} {out[hi]:g}", source=where)
    return out


def satisfies(family: Family, spec: dict, constraints: dict) -> bool:
    if "min_params" in constraints or "max_params" in constraints:
        p = family.count_params(spec)
        if p < constraints.get("min_params", 0) or p > constraints.get("max_params", float("inf")):
            return False
    if "min_flops" in constraints or "max_flops" in constraints:
        f = family.count_flops(spec, constraints.get("image_size", 224))
        if f < constraints.get("min_flops", 0) or f > constraints.get("max_flops", float("inf")):
            return False
    return True


@dataclass
class Entry:
    """One parsed space entry: candidates are the cartesian product of ``axes``."""

    index: int
    where: str
    family: Family
    weight: float
    fixed: dict
    constraints: dict
    #: (field, stage index or None, candidate values)
    axes: list[tuple[str, int | None, list]] = field(default_factory=list)
    per_stage_len: dict[str, int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        n = 1
        for _, _, values in self.axes:
            n *= len(values)
        return n

    def candidate(self, index: int) -> dict:
        """The raw spec of candidate ``index`` (mixed radix over the axes, last axis fastest)."""
        spec = {"family": self.family.name, **self.fixed}
        stage_lists = {f: [None] * n for f, n in self.per_stage_len.items()}
        for name, stage, values in reversed(self.axes):
            index, k = divmod(index, len(values))
            if stage is None:
                spec[name] = values[k]
            else:
                stage_lists[name][stage] = values[k]
        spec.update(stage_lists)
        return spec


def parse_entry(raw: Any, i: int, where: str, global_constraints: dict) -> Entry:
    at = f"{where}[{i}]"
    if not isinstance(raw, dict):
        raise ArchSpecError(f"expected a mapping with keys {', '.join(ENTRY_KEYS)}, got {raw!r}", source=at)
    for key in raw:
        if key not in ENTRY_KEYS:
            raise ArchSpecError(f"unknown key; known keys: {', '.join(ENTRY_KEYS)}", source=f"{at}.{key}")
    if "family" not in raw:
        raise ArchSpecError(f"missing; known families: {', '.join(FAMILIES.names())}", source=f"{at}.family")
    try:
        family = FAMILIES.get(raw["family"])
    except (RegistryError, TypeError):
        raise ArchSpecError(f"unknown family {raw['family']!r}; known families: {', '.join(FAMILIES.names())}",
                            source=f"{at}.family") from None
    weight = raw.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight >= 0:
        raise ArchSpecError(f"expected a number >= 0, got {weight!r}", source=f"{at}.weight")

    def mapping(key: str) -> dict:
        v = raw.get(key) or {}
        if not isinstance(v, dict):
            raise ArchSpecError(f"expected a mapping of field -> value(s), got {v!r}", source=f"{at}.{key}")
        for name in v:
            if name not in family.fields:
                raise ArchSpecError(f"unknown field for family {family.name!r}; known fields: "
                                    f"{', '.join(family.fields)}", source=f"{at}.{key}.{name}")
        return v

    fixed, choices, per_stage = mapping("fixed"), mapping("choices"), mapping("per_stage")
    seen: dict[str, str] = {}
    for key, block in (("fixed", fixed), ("choices", choices), ("per_stage", per_stage)):
        for name in block:
            if name in seen:
                raise ArchSpecError(f"field given in both {seen[name]} and {key}", source=f"{at}.{key}.{name}")
            seen[name] = key

    for name, value in fixed.items():
        try:
            check_field(name, family.fields[name], value)
        except ArchSpecError as e:
            raise ArchSpecError(e.problem, source=f"{at}.fixed.{name}", family=family.name) from None

    entry = Entry(i, at, family, float(weight), dict(fixed), {**global_constraints,
                  **parse_constraints(raw.get("constraints"), f"{at}.constraints")})
    for name, values in choices.items():
        src = f"{at}.choices.{name}"
        if not isinstance(values, list) or not values:
            raise ArchSpecError(f"expected a non-empty list of candidate values, got {values!r}", source=src)
        for j, v in enumerate(values):
            try:
                check_field(name, family.fields[name], v)
            except ArchSpecError as e:
                raise ArchSpecError(e.problem, source=f"{src}[{j}]", family=family.name) from None
        entry.axes.append((name, None, list(values)))
    for name, stages in per_stage.items():
        src = f"{at}.per_stage.{name}"
        if not family.fields[name].per_stage:
            raise ArchSpecError(f"not a per-stage field; per-stage fields of {family.name}: "
                                f"{', '.join(family.stage_fields())}", source=src)
        if not isinstance(stages, list) or not stages:
            raise ArchSpecError(f"expected a list with one candidate list per stage, got {stages!r}", source=src)
        for s, values in enumerate(stages):
            if _is_int(values):
                values = [values]
            if not isinstance(values, list) or not values:
                raise ArchSpecError(f"expected a non-empty list of candidates, got {values!r}", source=f"{src}[{s}]")
            for j, v in enumerate(values):
                if not _is_int(v) or v < 1:
                    raise ArchSpecError(f"expected a positive int, got {v!r}", source=f"{src}[{s}][{j}]")
            entry.axes.append((name, s, list(values)))
        entry.per_stage_len[name] = len(stages)
    return entry


def quotas(weights: list[float], n: int) -> list[int]:
    """Split ``n`` by ``weights`` with the largest-remainder method (ties go to the earlier entry)."""
    total = sum(weights)
    if total <= 0:
        raise ArchSpecError("all weights are 0")
    exact = [n * w / total for w in weights]
    base = [int(e) for e in exact]
    order = sorted(range(len(weights)), key=lambda k: (-(exact[k] - base[k]), k))
    for k in order[: n - sum(base)]:
        base[k] += 1
    return base


def lazy_permutation(n: int, rng: random.Random) -> Iterator[int]:
    """A uniformly random permutation of ``range(n)``, produced lazily (sparse Fisher-Yates): O(k) for k items."""
    swaps: dict[int, int] = {}
    for i in range(n):
        j = rng.randrange(i, n)
        vi, vj = swaps.get(i, i), swaps.get(j, j)
        swaps[j] = vi
        swaps.pop(i, None)
        yield vj


def sample(space: list[dict], n: int, seed: int, constraints: dict | None = None, *,
           exclude: list[dict] | None = None, where: str = "space") -> list[dict]:
    """Draw ``n`` distinct normalized specs from ``space`` (see the module docstring).

    ``exclude``: normalized specs that must not be drawn (e.g. those already listed by name).
    ``where``: the config path used in error messages (``archs.sample.space``).
    Raises :class:`ArchSpecError` if an entry cannot supply its share under the constraints.
    """
    base = where.rsplit(".", 1)[0] if "." in where else "sample"
    if not _is_int(n) or n < 0:
        raise ArchSpecError(f"expected a non-negative int, got {n!r}", source=f"{base}.n")
    if not _is_int(seed):
        raise ArchSpecError(f"expected an int, got {seed!r}", source=f"{base}.seed")
    if not isinstance(space, list) or not space:
        raise ArchSpecError("expected a non-empty list of family entries", source=where)
    global_c = parse_constraints(constraints, f"{base}.constraints")
    entries = [parse_entry(raw, i, where, global_c) for i, raw in enumerate(space)]
    if n == 0:
        return []
    shares = quotas([e.weight for e in entries], n)

    seen = {canonical_json(s) for s in (exclude or [])}
    out: list[dict] = []
    for entry, quota in zip(entries, shares):
        if quota == 0:
            continue
        # the stream's key names this module's first path: it decides every draw, so it never changes
        rng = random.Random(f"archssl.archs.sample:{seed}:{entry.index}")
        got: list[dict] = []
        rejected = dupes = scanned = 0
        limit = max(MIN_SCAN, SCAN_PER_SPEC * quota)
        for idx in lazy_permutation(entry.size, rng):
            if scanned >= limit:
                break
            scanned += 1
            try:
                spec = entry.family.normalize(entry.candidate(idx))
            except ArchSpecError as e:
                raise e.at(f"{entry.where} (a drawn candidate)") from None
            key = canonical_json(spec)
            if key in seen:
                dupes += 1
                continue
            if not satisfies(entry.family, spec, entry.constraints):
                rejected += 1
                continue
            seen.add(key)
            got.append(spec)
            if len(got) == quota:
                break
        if len(got) < quota:
            exhausted = scanned >= entry.size
            raise ArchSpecError(
                f"can yield only {len(got)} distinct specs but its share of n={n} is {quota} "
                f"({entry.size} combinations, {scanned} examined{'' if exhausted else ' before giving up'}: "
                f"{rejected} outside the constraints {entry.constraints or {}}, {dupes} duplicates); "
                f"widen the choices, loosen the constraints, lower n or this entry's weight", source=entry.where)
        out.extend(got)
    return out
