"""Study configuration: load, fill defaults and validate against the JSON schema, then check every name
against its registry (datasets, SSL methods, probes, architecture families), before any job runs.

Errors are :class:`ConfigError` and name the offending key, e.g. ``config key 'pretrain.epochs': 'ten' is
not of type 'integer'`` or ``config key 'data.downstream[2]': unknown dataset 'cifar11'``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from archssl.utils import deep_merge  # noqa: F401  (also this module's API: config files merge with it)

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


def _flat(d: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out += _flat(v, f"{prefix}{k}.")
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
    auto = ", ".join(_flat(changes) + ([f"seed={seed}"] if "seed" in v else [])) or "(no change)"
    params = deep_merge(mp.get(v["method"]) or {}, changes)
    against = v.get("against") or (v["method"] if v["method"] in cfg.get("methods", ()) else None)
    return Run(name, v["method"], against, params, seed, copy.deepcopy(changes),
               v.get("note") or auto)


def pretrain_set(cfg: dict, method: str) -> tuple[str, str]:
    """(dataset, split) that ``method`` (an entry of ``methods``) pretrains on: its method_params' (and
    variant params') ``dataset`` / ``split`` where given, else ``data.pretrain`` / ``data.pretrain_split``."""
    mp = resolve_run(cfg, method).params
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


def _check_method_params(method: str, mp: dict, where: str, default_set: str) -> None:
    """``mp``: (part of) the method_params of registered ``method``; errors name ``where.<key>``."""
    from archssl.methods import METHODS
    from archssl.methods.base import PRETRAIN_OVERRIDES, RESERVED_KEYS
    from archssl.methods.heads import check_head_cfg

    allowed = set(METHODS.get(method).defaults) | set(RESERVED_KEYS)
    for k in mp:
        if k not in allowed:
            raise ConfigError(f"config key '{where}.{k}': unknown key; known: {', '.join(sorted(allowed))}")
    _check_pretrain_set(mp, where, default_set)
    for k, default in METHODS.get(method).defaults.items():  # heads: a default {kind, ...} marks one
        if k in mp and isinstance(default, dict) and "kind" in default:
            try:
                check_head_cfg(mp[k], f"{where}.{k}")
            except ValueError as e:
                key, _, msg = str(e).partition(": ")
                raise ConfigError(f"config key '{key}': {msg}") from None
    pretrain_schema = None  # read once, when a method overrides a pretrain section
    for key in ("augment", *PRETRAIN_OVERRIDES):  # the schema of the pretrain.<key> they replace
        if key in mp:
            pretrain_schema = pretrain_schema or load_schema()["properties"]["pretrain"]["properties"]
            _check_section(mp[key], pretrain_schema[key], f"{where}.{key}")


def check_names(cfg: dict) -> list[dict]:
    """Check every registry name in ``cfg``; returns the resolved architecture specs (ordered)."""
    from archssl.data import DATASETS
    from archssl.methods import METHODS

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
    variants = cfg.get("variants") or {}
    for name, v in variants.items():
        if name in METHODS:
            raise ConfigError(f"config key 'variants.{name}': a variant may not take the name of a registered "
                              f"method; call it e.g. {name}_v1")
        if v["method"] not in METHODS:
            hint = " (a variant configures a registered method, not another variant)" if v["method"] in variants else ""
            raise ConfigError(f"config key 'variants.{name}.method': unknown SSL method {v['method']!r}{hint}; "
                              f"known: {', '.join(METHODS.names())}")
    for i, m in enumerate(cfg["methods"]):
        if m not in METHODS and m not in variants:
            what, known = ("SSL method or variant", "known methods") if variants else ("SSL method", "known")
            raise ConfigError(f"config key 'methods[{i}]': unknown {what} {m!r}; {known}: {', '.join(METHODS.names())}"
                              + (f"; variants: {', '.join(variants)}" if variants else ""))
    for m, mp in cfg["pretrain"]["method_params"].items():
        if m not in METHODS:
            hint = f" (variants' params go under variants.{m}.params)" if m in variants else ""
            raise ConfigError(f"config key 'pretrain.method_params.{m}': unknown SSL method {m!r}{hint}; "
                              f"known: {', '.join(METHODS.names())}")
        _check_method_params(m, mp, f"pretrain.method_params.{m}", d["pretrain"])
    for name, v in variants.items():
        where = f"variants.{name}.params"
        _check_method_params(v["method"], v["params"], where, d["pretrain"])
        _check_pretrain_set(resolve_run(cfg, name).params, where, d["pretrain"])
    for m in cfg["methods"]:
        against = variants[m].get("against") if m in variants else None
        if against is not None and (against not in cfg["methods"] or against == m):
            raise ConfigError(f"config key 'variants.{m}.against': {against!r} is not another entry of methods")

    for m in cfg["methods"]:
        name, _ = pretrain_set(cfg, m)
        run = resolve_run(cfg, m)
        if "labels" in METHODS.get(run.method).batch_inputs and DATASETS.get(name).num_classes < 2:
            if "dataset" in run.changes:
                key = f"variants.{m}.params.dataset"
            elif "dataset" in (cfg["pretrain"]["method_params"].get(run.method) or {}):
                key = f"pretrain.method_params.{run.method}.dataset"
            else:
                key = "data.pretrain"
            raise ConfigError(f"config key '{key}': method {m!r} needs a labelled pretraining set, but {name!r} has "
                              f"no labels; set pretrain.method_params.{run.method}.dataset to a labelled dataset")
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
