"""Study configuration: load, fill defaults and validate against the JSON schema, then check every name
against its registry (datasets, SSL methods, probes, architecture families), before any job runs.

Errors are :class:`ConfigError` and name the offending key, e.g. ``config key 'pretrain.epochs': 'ten' is
not of type 'integer'`` or ``config key 'data.downstream[2]': unknown dataset 'cifar11'``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """An invalid study configuration; the message names the key at fault."""


def _key(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _validator(schema: dict):
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


def load_schema(path: Path | None = None) -> dict:
    path = Path(path or SCHEMA_PATH)
    with open(path) as f:
        return yaml.safe_load(f)


def _schema_message(err) -> str:
    key = _key(err.absolute_path)
    if err.validator == "additionalProperties":
        known = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(known))
        name = f"{key}.{extra[0]}" if key != "(top level)" and extra else (extra[0] if extra else key)
        return f"config key {name!r}: unknown key; allowed here: {', '.join(known)}"
    if err.validator == "required":
        return f"config key {key!r}: {err.message}"
    return f"config key {key!r}: {err.message}"


def _check_section(value: Any, schema: dict, where: str) -> None:
    from jsonschema import Draft202012Validator

    root = load_schema()
    sub = {**schema, "$defs": root["$defs"]}
    for err in Draft202012Validator(sub).iter_errors(value):
        key = where + ("." + _key(err.absolute_path) if err.absolute_path else "")
        raise ConfigError(f"config key {key!r}: {err.message}")


def validate_schema(cfg: dict, schema: dict | None = None) -> dict:
    """Fill defaults in place and validate ``cfg`` against the schema; returns ``cfg``."""
    if not isinstance(cfg, dict):
        raise ConfigError(f"the config must be a mapping, got {type(cfg).__name__}")
    v = _validator(schema or load_schema())
    errors = sorted(v.iter_errors(cfg), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        msgs = [_schema_message(e) for e in errors[:5]]
        more = f"\n(and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise ConfigError("invalid config:\n  " + "\n  ".join(msgs) + more)
    return cfg


def pretrain_set(cfg: dict, method: str) -> tuple[str, str]:
    """(dataset, split) that ``method`` pretrains on: ``pretrain.method_params.<method>.dataset`` / ``.split``
    where given, else ``data.pretrain`` / ``data.pretrain_split``."""
    mp = cfg["pretrain"]["method_params"].get(method) or {}
    d = cfg["data"]
    if "dataset" in mp:
        return mp["dataset"], mp.get("split", "train")
    return d["pretrain"], mp.get("split", d["pretrain_split"])


def _check_pretrain_set(mp: dict, where: str, default: str) -> None:
    from archssl.data import DATASETS

    if "dataset" in mp and (not isinstance(mp["dataset"], str) or mp["dataset"] not in DATASETS):
        raise ConfigError(f"config key '{where}.dataset': unknown dataset {mp['dataset']!r}; "
                          f"known: {', '.join(DATASETS.names())}")
    if "split" in mp:
        name = mp.get("dataset", default)
        if not isinstance(mp["split"], str) or mp["split"] not in DATASETS.get(name).splits:
            raise ConfigError(f"config key '{where}.split': dataset {name!r} has no split {mp['split']!r}; "
                              f"it has {', '.join(DATASETS.get(name).splits)}")


def check_names(cfg: dict) -> list[dict]:
    """Check every registry name in ``cfg``; returns the resolved architecture specs (ordered)."""
    from archssl.data import DATASETS
    from archssl.methods import METHODS
    from archssl.methods.base import RESERVED_KEYS
    from archssl.methods.heads import check_head_cfg

    d = cfg["data"]
    if d["pretrain"] not in DATASETS:
        raise ConfigError(f"config key 'data.pretrain': unknown dataset {d['pretrain']!r}; "
                          f"known: {', '.join(DATASETS.names())}")
    if d["pretrain_split"] not in DATASETS.get(d["pretrain"]).splits:
        raise ConfigError(f"config key 'data.pretrain_split': dataset {d['pretrain']!r} has no split "
                          f"{d['pretrain_split']!r}; it has {', '.join(DATASETS.get(d['pretrain']).splits)}")
    for i, name in enumerate(d["downstream"]):
        if name not in DATASETS:
            raise ConfigError(f"config key 'data.downstream[{i}]': unknown dataset {name!r}; "
                              f"known: {', '.join(DATASETS.names())}")
        if DATASETS.get(name).num_classes < 2:
            raise ConfigError(f"config key 'data.downstream[{i}]': dataset {name!r} has no labels to probe")
    for i, m in enumerate(cfg["methods"]):
        if m not in METHODS:
            raise ConfigError(f"config key 'methods[{i}]': unknown SSL method {m!r}; known: {', '.join(METHODS.names())}")
    pretrain_schema = None  # read once, when a method overrides a pretrain section
    for m, mp in cfg["pretrain"]["method_params"].items():
        if m not in METHODS:
            raise ConfigError(f"config key 'pretrain.method_params.{m}': unknown SSL method {m!r}; "
                              f"known: {', '.join(METHODS.names())}")
        allowed = set(METHODS.get(m).defaults) | set(RESERVED_KEYS)
        for k in mp:
            if k not in allowed:
                raise ConfigError(f"config key 'pretrain.method_params.{m}.{k}': unknown key; "
                                  f"known: {', '.join(sorted(allowed))}")
        _check_pretrain_set(mp, f"pretrain.method_params.{m}", d["pretrain"])
        for k, default in METHODS.get(m).defaults.items():  # heads: a default {kind, ...} marks one
            if k in mp and isinstance(default, dict) and "kind" in default:
                try:
                    check_head_cfg(mp[k], f"pretrain.method_params.{m}.{k}")
                except ValueError as e:
                    key, _, msg = str(e).partition(": ")
                    raise ConfigError(f"config key '{key}': {msg}") from None
        for key in ("augment", "optimizer", "epochs", "precision"):  # the schema of the pretrain.<key> they replace
            if key in mp:
                pretrain_schema = pretrain_schema or load_schema()["properties"]["pretrain"]["properties"]
                _check_section(mp[key], pretrain_schema[key], f"pretrain.method_params.{m}.{key}")
    for m in cfg["methods"]:
        name, _ = pretrain_set(cfg, m)
        if "labels" in METHODS.get(m).batch_inputs and DATASETS.get(name).num_classes < 2:
            explicit = "dataset" in (cfg["pretrain"]["method_params"].get(m) or {})
            key = f"pretrain.method_params.{m}.dataset" if explicit else "data.pretrain"
            raise ConfigError(f"config key '{key}': method {m!r} needs a labelled pretraining set, but {name!r} has "
                              f"no labels; set pretrain.method_params.{m}.dataset to a labelled dataset")
    from archssl.evaluate.probes import PROBES

    if cfg["probe"]["name"] not in PROBES:
        raise ConfigError(f"config key 'probe.name': unknown probe {cfg['probe']['name']!r}; "
                          f"known: {', '.join(PROBES.names())}")
    ref = cfg["analysis"]["reference"]
    if ref is not None and ref not in d["downstream"]:
        raise ConfigError(f"config key 'analysis.reference': {ref!r} is not one of data.downstream")
    if cfg["analysis"]["baseline"] not in cfg["methods"]:
        raise ConfigError(f"config key 'analysis.baseline': {cfg['analysis']['baseline']!r} is not one of methods")
    from archssl.archs import ArchSpecError, resolve

    try:
        specs = resolve(cfg["archs"])
    except ArchSpecError as e:
        raise ConfigError(f"config key 'archs': {e}") from e
    if not specs:
        raise ConfigError("config key 'archs': no architectures (give named, specs, sample or preset)")
    return specs


def validate_config(cfg: dict) -> list[dict]:
    """Schema (with defaults filled in place) + registry names. Returns the resolved architecture specs."""
    validate_schema(cfg)
    return check_names(cfg)


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
