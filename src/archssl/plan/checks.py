"""The checks of a study that the schema cannot express, each raising :class:`ConfigError` naming the key:
registry names (datasets, methods, variants), a run's pretraining set, feature taps against every
architecture, image and patch sizes against every architecture."""

from __future__ import annotations

from archssl.catalog import METHODS
from archssl.catalog.archs import count_flops, tap_names
from archssl.catalog.datasets import DATASETS, DatasetError
from archssl.catalog.methods import PatchConfig
from archssl.config import ConfigError, Run


def check_datasets(cfg: dict) -> None:
    d = cfg["data"]
    known = ", ".join(DATASETS.names())
    if d["pretrain"] not in DATASETS:
        raise ConfigError(f"config key 'data.pretrain': unknown dataset {d['pretrain']!r}; known: {known}")
    if d["pretrain_split"] not in DATASETS.get(d["pretrain"]).splits:
        raise ConfigError(f"config key 'data.pretrain_split': dataset {d['pretrain']!r} has no split "
                          f"{d['pretrain_split']!r}; it has {', '.join(DATASETS.get(d['pretrain']).splits)}")
    for i, name in enumerate(d["downstream"]):
        if name not in DATASETS:
            raise ConfigError(f"config key 'data.downstream[{i}]': unknown dataset {name!r}; known: {known}")
        if DATASETS.get(name).num_classes < 2:
            raise ConfigError(f"config key 'data.downstream[{i}]': dataset {name!r} has no labels to probe")
    for name, opts in d["options"].items():
        if name not in DATASETS:
            raise ConfigError(f"config key 'data.options.{name}': unknown dataset {name!r}; known: {known}")
        try:
            DATASETS.get(name).resolve_options(opts)
        except (ValueError, DatasetError) as e:
            raise ConfigError(f"config key 'data.options.{name}': {e}") from None


def check_runs(cfg: dict) -> None:
    variants = cfg["variants"]
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
    for m in cfg["pretrain"]["method_params"]:
        if m not in METHODS:
            hint = f" (variants' params go under variants.{m}.params)" if m in variants else ""
            raise ConfigError(f"config key 'pretrain.method_params.{m}': unknown SSL method {m!r}{hint}; "
                              f"known: {', '.join(METHODS.names())}")
    for m in cfg["methods"]:
        against = variants[m].get("against") if m in variants else None
        if against is not None and (against not in cfg["methods"] or against == m):
            raise ConfigError(f"config key 'variants.{m}.against': {against!r} is not another entry of methods")
    if cfg["analysis"]["baseline"] not in cfg["methods"]:
        raise ConfigError(f"config key 'analysis.baseline': {cfg['analysis']['baseline']!r} is not one of methods")
    ref = cfg["analysis"]["reference"]
    if ref is not None and ref not in cfg["data"]["downstream"]:
        raise ConfigError(f"config key 'analysis.reference': {ref!r} is not one of data.downstream")


def params_key(cfg: dict, run: Run, key: str) -> str:
    """The config key that sets ``key`` of a run's params (the variant's own, else its method's)."""
    if key in run.changes:
        return f"variants.{run.name}.params.{key}"
    if key in (cfg["pretrain"]["method_params"].get(run.method) or {}):
        return f"pretrain.method_params.{run.method}.{key}"
    return "data.pretrain"


def pretrain_set(cfg: dict, params: dict, key) -> tuple[str, str]:
    """(dataset, split) a run with ``params`` (its method_params, or a search's settings) pretrains on: its own
    ``dataset`` / ``split``, else ``data.pretrain`` / ``data.pretrain_split``; checked against the registry,
    errors naming ``key("dataset")`` / ``key("split")``."""
    d = cfg["data"]
    name = params.get("dataset", d["pretrain"])
    split = params.get("split", "train" if "dataset" in params else d["pretrain_split"])
    if name not in DATASETS:
        raise ConfigError(f"config key '{key('dataset')}': unknown dataset {name!r}; known: "
                          f"{', '.join(DATASETS.names())}")
    if split not in DATASETS.get(name).splits:
        raise ConfigError(f"config key '{key('split')}': dataset {name!r} has no split "
                          f"{split!r}; it has {', '.join(DATASETS.get(name).splits)}")
    return name, split


def check_taps(cfg: dict, archs: dict[str, dict]) -> None:
    taps = cfg["features"]["taps"]
    for arch, spec in archs.items():
        have = tap_names(spec)
        for i, t in enumerate(taps):
            if t not in have:
                raise ConfigError(f"config key 'features.taps[{i}]': architecture {arch} has no tap {t!r}; "
                                  f"it has {', '.join(have)}")
    tap = cfg["probe"]["tap"]
    if tap not in (None, "all") and tap not in taps:
        raise ConfigError(f"config key 'probe.tap': {tap!r} is not one of features.taps ({', '.join(taps)}); "
                          f"give one of them, null (the deepest) or all")


def check_image_size(cfg: dict, archs: dict[str, dict]) -> None:
    size = cfg["data"]["image_size"]
    for arch, spec in archs.items():
        try:
            count_flops(spec, size)
        except ValueError as e:
            raise ConfigError(f"config key 'data.image_size': architecture {arch} does not fit {size}-px "
                              f"images ({e})") from None


def check_patch_size(cfg: dict, pretrain: dict, archs: dict[str, dict]) -> None:
    """Patch-based runs (jigsaw, relpatch) feed each architecture patches of a fraction of the image: every
    architecture must take them (a deep VGG pools an 8-px patch to nothing)."""
    for name, job in pretrain.items():
        if not METHODS.get(job.method).patch_based:
            continue
        pc = PatchConfig.from_params(job.method_params)
        px = pc.patch_size or pc.geometry(job.image_size)[2]
        for arch, spec in archs.items():
            try:
                count_flops(spec, px)
            except ValueError as e:
                raise ConfigError(f"config key 'methods': {name} ({job.method}) trains on {px}-px patches of "
                                  f"{job.image_size}-px images, too small for architecture {arch} ({e}); set "
                                  f"pretrain.method_params.{job.method}.patch_size, raise data.image_size or "
                                  f"use a shallower architecture") from None
