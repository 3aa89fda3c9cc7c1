"""Parameter schemas: the one place where the defaults, types and ranges of every setting live.

The study config is described by the JSON schema shipped with the package (``archssl/schemas/
config.schema.yaml``); the parameters of every SSL method and probe are described by JSON-schema fragments in
their torch-free descriptors (:mod:`archssl.methods`, :mod:`archssl.evaluate.probes`). :func:`resolve` fills
the defaults of such a schema into a copy of the given values and validates them; errors are
:class:`ParamError` (a ``ValueError``) naming the key at fault, e.g. ``config key
'pretrain.method_params.simclr.temperature': -1 is less than or equal to the minimum of 0``.

The helpers below (:func:`number`, :func:`integer`, ...) write the fragments compactly.
"""

from __future__ import annotations

import copy
from typing import Any, Iterable


class ParamError(ValueError):
    """An invalid setting; the message names the key at fault."""


def key_path(parts: Iterable) -> str:
    """``('a', 'b', 2, 'c') -> 'a.b[2].c'``."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def join_key(where: str, rest: str) -> str:
    if not rest:
        return where
    if not where:
        return rest
    return where + (rest if rest.startswith("[") else "." + rest)


def check_keys(d: dict, allowed: Iterable[str], where: str) -> None:
    """Raise :class:`ParamError` naming the first key of ``d`` that is not in ``allowed``."""
    allowed = list(allowed)
    for k in d:
        if k not in allowed:
            raise ParamError(f"config key {join_key(where, str(k))!r}: unknown key; known: "
                             f"{', '.join(sorted(allowed)) or '(none)'}")


def validator(schema: dict):
    """A Draft 2020-12 validator that fills ``default`` values of object properties in place while it
    validates (a missing object with a default is created, then its own properties are filled)."""
    from jsonschema import Draft202012Validator, validators

    base_properties = Draft202012Validator.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from base_properties(validator, properties, instance, schema)

    cls = validators.extend(Draft202012Validator, {"properties": properties_with_defaults})
    return cls(schema)


def error_message(err, where: str = "") -> str:
    """One line naming the key of a jsonschema error (unknown keys list the allowed ones)."""
    key = join_key(where, key_path(err.absolute_path))
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        known = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(known))
        name = join_key(key, str(extra[0])) if extra else key
        return f"config key {name!r}: unknown key; allowed here: {', '.join(known) or '(none)'}"
    return f"config key {key or '(top level)'!r}: {err.message}"


def errors(value: Any, schema: dict) -> list:
    """The schema errors of ``value`` (defaults filled into ``value`` in place), shallowest first."""
    v = validator(schema)
    return sorted(v.iter_errors(value), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))


def resolve(values: dict | None, properties: dict, where: str, defs: dict | None = None) -> dict:
    """``values`` (a mapping, may be None) with every default of ``properties`` filled in, validated.

    ``properties`` maps key -> JSON-schema fragment; unknown keys are errors. Returns a new dict."""
    if values is not None and not isinstance(values, dict):
        raise ParamError(f"config key {where!r}: expected a mapping, got {values!r}")
    out = copy.deepcopy(values or {})
    schema = {"type": "object", "additionalProperties": False, "properties": properties}
    if defs:
        schema["$defs"] = defs
    errs = errors(out, schema)
    if errs:
        raise ParamError(error_message(errs[0], where))
    return out


# -- fragments -------------------------------------------------------------------------------------------


def _nullable(s: dict, null: bool) -> dict:
    """``s`` or null (range keywords apply to numbers only, so a type list keeps the range's message)."""
    if null:
        return {**s, "type": [s["type"], "null"]}
    return s


def number(default: Any, *, gt: float | None = None, ge: float | None = None, lt: float | None = None,
           le: float | None = None, null: bool = False, doc: str = "") -> dict:
    s: dict = {"type": "number"}
    for k, v in (("exclusiveMinimum", gt), ("minimum", ge), ("exclusiveMaximum", lt), ("maximum", le)):
        if v is not None:
            s[k] = v
    out = _nullable(s, null)
    out["default"] = default
    if doc:
        out["description"] = doc
    return out


def integer(default: Any, *, ge: int | None = None, le: int | None = None, null: bool = False,
            doc: str = "") -> dict:
    s: dict = {"type": "integer"}
    if ge is not None:
        s["minimum"] = ge
    if le is not None:
        s["maximum"] = le
    out = _nullable(s, null)
    out["default"] = default
    if doc:
        out["description"] = doc
    return out


def boolean(default: bool, doc: str = "") -> dict:
    out = {"type": "boolean", "default": default}
    if doc:
        out["description"] = doc
    return out


def choice(default: Any, options: Iterable, doc: str = "") -> dict:
    out = {"enum": list(options), "default": default}
    if doc:
        out["description"] = doc
    return out


def one_or_list(item: dict, default: Any) -> dict:
    """A value or a non-empty list of values, each matching ``item``."""
    return {"anyOf": [item, {"type": "array", "items": item, "minItems": 1}], "default": default}


def list_of(item: dict, default: Any, *, min_items: int = 1, null: bool = False) -> dict:
    out = _nullable({"type": "array", "items": item, "minItems": min_items}, null)
    out["default"] = default
    return out


def mapping(properties: dict, doc: str = "") -> dict:
    """A nested mapping whose keys all have defaults (the whole mapping defaults to them)."""
    out = {"type": "object", "additionalProperties": False, "properties": properties,
           "default": {k: copy.deepcopy(v["default"]) for k, v in properties.items() if "default" in v}}
    if doc:
        out["description"] = doc
    return out
