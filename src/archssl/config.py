"""Study configuration: load and merge config files, fill defaults and validate against the JSON schema
(shipped with the package), resolve method entries (:class:`Run`). :mod:`archssl.plan` builds on it and
checks everything else (every registry name, method and probe params, taps, datasets) before any job runs.

Errors are :class:`ConfigError` and name the offending key, e.g. ``config key 'pretrain.epochs': 'ten' is
not of type 'integer'`` or ``config key 'data.downstream[2]': unknown dataset 'cifar11'``.
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from archssl.params import ParamError, error_message, errors
from archssl.utils import deep_merge  # noqa: F401  (also this module's API: config files merge with it)

SCHEMA_FILE = "config.schema.yaml"


class ConfigError(ParamError):
    """An invalid study configuration; the message names the key at fault."""


@functools.lru_cache(maxsize=None)
def _schema() -> dict:
    return yaml.safe_load(resources.files("archssl.schemas").joinpath(SCHEMA_FILE).read_text())


def load_schema(path: Path | None = None) -> dict:
    """The config schema (shipped with the package: ``archssl/schemas/config.schema.yaml``), a fresh copy."""
    if path is not None:
        return yaml.safe_load(Path(path).read_text())
    return copy.deepcopy(_schema())


def validate_schema(cfg: dict, schema: dict | None = None) -> dict:
    """Fill defaults in place and validate ``cfg`` against the schema; returns ``cfg``."""
    if not isinstance(cfg, dict):
        raise ConfigError(f"the config must be a mapping, got {type(cfg).__name__}")
    found = errors(cfg, schema or load_schema())
    if found:
        msgs = [error_message(e) for e in found[:5]]
        more = f"\n(and {len(found) - 5} more)" if len(found) > 5 else ""
        raise ConfigError("invalid config:\n  " + "\n  ".join(msgs) + more)
    return cfg


@dataclass(frozen=True)
class Run:
    """One entry of ``methods``: a registered method, or a variant of one (``variants.<name>``)."""

    name: str
    method: str  # the registered SSL method
    # what the ablation table compares a variant with: its `against`, else its method when the study runs it;
    # None: not compared (a replicate study of variants only); a plain method: itself
    against: str | None
    params: dict  # its effective pretrain.method_params (the method's, with the variant's merged in)
    seed: int
    changes: dict  # the variant's own params ({} for a plain method)
    note: str  # what the variant changes, in words ("" for a plain method)

    @property
    def is_variant(self) -> bool:
        return self.name != self.method


def flat_items(d: dict, prefix: str = "") -> list[str]:
    """A nested mapping as ``key.sub=value`` items (values as JSON, strings as they are)."""
    out = []
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out += flat_items(v, f"{prefix}{k}.")
        else:
            out.append(f"{prefix}{k}={v if isinstance(v, str) else json.dumps(v)}")
    return out


def resolve_run(cfg: dict, name: str) -> Run:
    """What running ``name`` (an entry of ``methods``) means: its method, effective params and seed."""
    mp = cfg["pretrain"]["method_params"]
    v = (cfg.get("variants") or {}).get(name)
    if v is None:
        return Run(name, name, name, copy.deepcopy(mp.get(name) or {}), int(cfg.get("seed", 0)), {}, "")
    changes = v.get("params") or {}
    seed = int(v.get("seed", cfg.get("seed", 0)))
    auto = ", ".join(flat_items(changes) + ([f"seed={seed}"] if "seed" in v else [])) or "(no change)"
    params = deep_merge(mp.get(v["method"]) or {}, changes)
    against = v.get("against") or (v["method"] if v["method"] in cfg.get("methods", ()) else None)
    return Run(name, v["method"], against, params, seed, copy.deepcopy(changes),
               v.get("note") or auto)


def merge_files(paths) -> dict:
    """Several config files merged in order, the later winning key by key (as snakemake merges several
    ``--configfile``)."""
    cfg: dict = {}
    for path in paths:
        part = load_config(path)
        if not isinstance(part, dict):
            raise ConfigError(f"config file {path}: must be a mapping of config keys, got {type(part).__name__}")
        cfg = deep_merge(cfg, part)
    return cfg


def load_config(path: str | Path) -> dict:
    path = Path(path)
    try:
        with open(path) as f:
            cfg = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {e}") from e
    return cfg
