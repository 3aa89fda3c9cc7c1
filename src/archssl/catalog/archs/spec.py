"""Spec primitives shared by every architecture family: the error type, field validators, canonical JSON
and the content-derived architecture id.

Nothing here imports torch: the planner (and the Snakefile through it) computes ids at parse time.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Callable

ID_RE = re.compile(r"^[a-z0-9._-]+$")


class ArchSpecError(ValueError):
    """An invalid architecture spec, space or ``archs:`` config section.

    ``field`` names the offending spec field (``'depths'``, ``'blocks[3].skip'``) and ``source`` where the spec
    came from (``archs.specs[2]``, ``named 'resnet50'``, ``archs.sample.space[1].choices.width``) when known;
    both appear in the message.
    """

    def __init__(self, problem: str, *, field: str | None = None, source: str | None = None,
                 family: str | None = None):
        self.problem = problem
        self.field = field
        self.source = source
        self.family = family
        super().__init__(self._render())

    def _render(self) -> str:
        msg = f"arch spec field {self.field!r}: {self.problem}" if self.field else self.problem
        head = self.source or ""
        if self.family:
            head = f"{head} (family {self.family})" if head else f"family {self.family}"
        return f"{head}: {msg}" if head else msg

    def at(self, source: str | None = None, family: str | None = None) -> "ArchSpecError":
        """A copy of this error with ``source`` prefixed (outermost location first) and ``family`` filled in."""
        if source and self.source:
            new_source = source + ("" if self.source.startswith(("[", ".")) else ": ") + self.source
        else:
            new_source = source or self.source
        return ArchSpecError(self.problem, field=self.field, source=new_source, family=self.family or family)


# --------------------------------------------------------------------------------------------------
# Field validators. Each takes the raw value and returns the canonical value or raises _Invalid(problem).


class _Invalid(Exception):
    """Raised by a validator; the caller turns it into an :class:`ArchSpecError` naming the field."""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def pos_int(v: Any) -> int:
    if not _is_int(v) or v <= 0:
        raise _Invalid(f"expected a positive int, got {v!r}")
    return int(v)


def nonneg_int(v: Any) -> int:
    if not _is_int(v) or v < 0:
        raise _Invalid(f"expected a non-negative int, got {v!r}")
    return int(v)


def pos_float(v: Any) -> float:
    if not _is_number(v) or v <= 0:
        raise _Invalid(f"expected a positive number, got {v!r}")
    return float(v)


def boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise _Invalid(f"expected true or false, got {v!r}")
    return v


def one_of(*options: Any) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        if isinstance(v, bool) or v not in options:
            raise _Invalid(f"expected one of {list(options)}, got {v!r}")
        return v

    check.__doc__ = f"one of {list(options)}"
    return check


def optional(inner: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        return None if v is None else inner(v)

    return check


def int_list(*, length: int | None = None, min_len: int = 1, minimum: int = 1) -> Callable[[Any], list[int]]:
    kind = "positive ints" if minimum == 1 else f"ints >= {minimum}"

    def check(v: Any) -> list[int]:
        if not isinstance(v, (list, tuple)) or not all(_is_int(x) and x >= minimum for x in v):
            raise _Invalid(f"expected a list of {kind}, got {v!r}")
        if length is not None and len(v) != length:
            raise _Invalid(f"expected a list of {length} {kind}, got {len(v)}: {list(v)!r}")
        if len(v) < min_len:
            raise _Invalid(f"expected at least {min_len} entries, got {list(v)!r}")
        return [int(x) for x in v]

    return check


@dataclass(frozen=True)
class Field:
    """One spec field: default value, validator (raw value -> canonical value) and a one-line description."""

    default: Any
    check: Callable[[Any], Any]
    doc: str
    per_stage: bool = False  # a list with one entry per stage; may be sampled per stage (``per_stage:``)


def check_field(name: str, field: Field, value: Any) -> Any:
    """Validate one field value, raising :class:`ArchSpecError` naming ``name``."""
    try:
        return field.check(value)
    except _Invalid as e:
        raise ArchSpecError(str(e), field=name) from None


# --------------------------------------------------------------------------------------------------
# Canonical form and ids


def canonical_json(spec: dict) -> str:
    """The canonical serialisation of a normalized spec: sorted keys, no spaces, shortest float repr."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def spec_hash(spec: dict, length: int = 6) -> str:
    """First ``length`` hex digits of the SHA-1 of the canonical JSON (stable across machines and processes)."""
    return hashlib.sha1(canonical_json(spec).encode("ascii")).hexdigest()[:length]


def fmt_list(values: list[int]) -> str:
    """``[2, 2, 2, 2] -> '2222'``; with any value >= 10 the entries are dot-separated: ``'1.2.3.4.14.20.1'``."""
    if all(0 <= v < 10 for v in values):
        return "".join(str(v) for v in values)
    return ".".join(str(v) for v in values)


def fmt_num(v: float) -> str:
    """``1.0 -> '1.0'``, ``0.5 -> '0.5'``, ``1.25 -> '1.25'`` (filesystem-safe, no exponent)."""
    s = repr(float(v))
    if "e" in s or "inf" in s or "nan" in s:
        s = f"{v:.6f}".rstrip("0")
        if s.endswith("."):
            s += "0"
    return s


def make_id(parts: list[str], spec: dict) -> str:
    """``family-knob-knob-<hash>``: readable parts joined by '-' plus the content hash."""
    text = "-".join([p for p in parts if p] + [spec_hash(spec)]).lower()
    text = re.sub(r"[^a-z0-9._-]", "_", text)
    assert ID_RE.match(text), text
    return text


def parse_number(v: Any, what: str) -> float:
    """A number from YAML: ints, floats and strings such as ``'30e6'``, ``'30M'``, ``'1.5G'``, ``'500k'``."""
    if _is_number(v):
        return float(v)
    if isinstance(v, str):
        s = v.strip().replace("_", "")
        scale = {"k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}.get(s[-1:].lower())
        try:
            return float(s[:-1]) * scale if scale else float(s)
        except ValueError:
            pass
    raise _Invalid(f"{what}: expected a number (e.g. 30000000, 30e6 or '30M'), got {v!r}")
