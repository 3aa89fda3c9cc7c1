"""The config schema's defaults per section (``archssl/schemas/config.schema.yaml``, shipped with the package)."""

from __future__ import annotations

import copy
import functools

from archssl.config import ConfigError, load_schema
from archssl.params import error_message, errors


@functools.lru_cache(maxsize=None)
def schema_defaults(section: str) -> dict:
    """The defaults of the schema's top-level ``section`` (e.g. ``pretrain``)."""
    props = load_schema()["properties"][section]["properties"]
    return {k: copy.deepcopy(v["default"]) for k, v in props.items() if "default" in v}


def section(name: str, values: dict | None) -> dict:
    """A (partial) top-level config section with every default of the schema filled in, validated; errors
    name ``name.<key>``."""
    root = load_schema()
    schema = {**root["properties"][name], "$defs": root["$defs"]}
    out = copy.deepcopy(values or {})
    errs = errors(out, schema)
    if errs:
        raise ConfigError(error_message(errs[0], name))
    return out
