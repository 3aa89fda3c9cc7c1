"""The ``archssl`` command line: every workflow stage also runs by hand.

    archssl data prepare NAME --out results/data/NAME/images.h5 [--image-size 32] [--seed 0]
    archssl data check --data-root DIR NAME...
    archssl archs show NAME_OR_SPEC [--image-size N]
    archssl archs list --preset P | --config config/config.yaml
    archssl archs export --config CFG --out DIR
    archssl pretrain --spec SPEC.yaml --method simclr --data-root results/data --params JSON --out-dir DIR
    archssl features --backbone DIR/backbone.pt --dataset NAME --params JSON --out FILE.h5
    archssl probe --features FILE.h5 --params JSON --out FILE.json
    archssl tables --config CFG --probes-root results/probes --out-dir results/tables
    archssl figures --tables-dir results/tables --out-dir results/figures
    archssl config validate CFG
    archssl write --value JSON --out FILE.yaml|FILE.json
    archssl provenance --config JSON --specs results/archs/*.yaml --config-out FILE.yaml --out FILE.json

Stage parameters arrive as one JSON string (``--params``): the workflow passes exactly the config section
a stage depends on, so Snakemake reruns a stage when, and only when, that section changes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

from archssl.utils import setup_logging

log = logging.getLogger("archssl")


def _json_arg(s: str) -> dict:
    try:
        out = json.loads(s)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON: {e}") from e
    if not isinstance(out, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return out


def _load_yaml(path: str | Path) -> dict:
    """A YAML file; a missing or malformed one is a ConfigError naming it (reported without a traceback)."""
    from archssl.config import load_config

    return load_config(path)


def _dataset_root(name: str, params: dict) -> Path:
    """Where dataset ``name`` lives: ``builtin_root`` for generated sets, else data_root / roots override."""
    from archssl.data import get_dataset

    from archssl.data.check import resolve_root

    if get_dataset(name).builtin:
        return Path(params["builtin_root"])
    roots = params.get("roots") or {}
    if not params.get("data_root") and name not in roots:
        raise SystemExit(f"dataset {name!r} is read from disk: set data.data_root (or data.roots.{name}) in the config")
    return resolve_root(name, params.get("data_root") or ".", roots)


# ------------------------------------------------------------------------------------------------ stages


def cmd_data_prepare(a) -> None:
    from archssl.data import mini

    mini.prepare(a.name, Path(a.out), size=a.image_size, seed=a.seed, pool_size=a.pool_size)
    log.info("wrote %s", a.out)


def cmd_pretrain(a) -> None:
    from archssl.data import get_dataset
    from archssl.train.loop import PretrainConfig, pretrain, with_method_overrides
    from archssl.utils import set_threads

    from archssl.methods import METHODS

    set_threads(a.threads)
    p = dict(a.params)
    spec = _load_yaml(a.spec)
    ds_name = p.pop("dataset", None)
    split = p.pop("split", "train")
    data_params = p.pop("data", None)
    cfg = with_method_overrides(PretrainConfig(method=a.method, **p))
    dataset = None
    if ds_name is not None:
        opts = dict((data_params.get("options") or {}).get(ds_name) or {})
        dataset = get_dataset(ds_name).open(split, _dataset_root(ds_name, data_params), cfg.image_size, **opts)
        what = f"{cfg.epochs} epochs" if METHODS.get(a.method).trains else "BN statistics only"
        log.info("pretraining %s with %s on %s/%s (%d images, %s)", Path(a.spec).stem, a.method, ds_name, split,
                 len(dataset), what)
    out = pretrain(spec, dataset, cfg, Path(a.out_dir), stop_after_epochs=a.stop_after_epochs)
    log.info("wrote %s", out)


def cmd_features(a) -> None:
    from archssl.data import get_dataset
    from archssl.evaluate.features import extract_to_file
    from archssl.train.loop import load_backbone
    from archssl.utils import code_version, set_threads, stable_hash

    if len(a.dataset) != len(a.out):
        raise SystemExit(f"--dataset and --out need the same number of values ({len(a.dataset)} vs {len(a.out)})")
    set_threads(a.threads)
    p = a.params
    net, state = load_backbone(a.backbone)
    size = int(p["data"]["image_size"])
    options = p["data"].get("options") or {}
    patches = None
    if p.get("patches") is not None:
        from archssl.methods.patches import PatchConfig

        patches = PatchConfig.from_params(p["patches"])
    # what the backbone saw: the full image (ImageNet-normalised) or the mean over evaluation patches
    inputs = ({"input": "full_image", "normalize": "imagenet"} if patches is None else
              {"input": "patch_average", "patches": dataclasses.asdict(patches)})
    for name, out in zip(a.dataset, a.out):
        src = get_dataset(name)
        root = _dataset_root(name, p["data"])
        opts = dict(options.get(name) or {})
        attrs = {"arch": a.arch or Path(a.backbone).parent.name, "method": a.method or state.get("method", "?"),
                 "ssl_method": state.get("method", "?"),
                 "dataset": name, "metric": src.metric, "num_classes": src.num_classes,
                 "preprocessing": {"image_size": size, "pooling": "global_avg", "options": opts, **inputs},
                 "code_version": code_version(), "config_hash": stable_hash(p)}
        extract_to_file(net, lambda split: src.open(split, root, size, **opts), Path(out), p["taps"], attrs,
                        batch_size=int(p["batch_size"]), dtype=p["dtype"], device=p["device"],
                        num_workers=int(p.get("num_workers", 0)), patches=patches)
        log.info("wrote %s", out)


def cmd_probe(a) -> None:
    from archssl.evaluate.probe_job import run_probe
    from archssl.utils import set_threads

    if len(a.features) != len(a.out):
        raise SystemExit(f"--features and --out need the same number of values ({len(a.features)} vs {len(a.out)})")
    set_threads(a.threads)
    for features, out in zip(a.features, a.out):
        run_probe(Path(features), Path(out), a.params)


def cmd_tables(a) -> None:
    from archssl.analysis.tables import build_tables

    build_tables(Path(a.study), Path(a.out_dir))


def cmd_figures(a) -> None:
    from archssl.analysis.figures import make_figures

    make_figures(Path(a.tables_dir), Path(a.out_dir), a.formats)


def cmd_write(a) -> None:
    """The workflow's small file targets (architecture specs, the study manifest) without a Python job."""
    from archssl.utils import atomic_path, write_json

    out = Path(a.out)
    if out.suffix in (".yaml", ".yml"):
        import yaml

        with atomic_path(out) as tmp:
            tmp.write_text(yaml.safe_dump(a.value, sort_keys=True))
    else:
        write_json(out, a.value)


def cmd_provenance(a) -> None:
    from archssl.analysis.provenance import write_provenance

    specs = {Path(s).stem: _load_yaml(s) for s in a.specs}
    write_provenance(a.config, specs, Path(a.config_out), Path(a.out))


def cmd_config_validate(a) -> None:
    from archssl.archs import arch_id
    from archssl.config import ConfigError, deep_merge, load_config, resolve_run, validate_config

    cfg = {}
    for path in a.config:  # merged as snakemake merges several --configfile, the later winning key by key
        part = load_config(path)
        if not isinstance(part, dict):
            raise ConfigError(f"config file {path}: must be a mapping of config keys, got {type(part).__name__}")
        cfg = deep_merge(cfg, part)
    specs = validate_config(cfg)
    a.config = " + ".join(a.config)
    runs = [resolve_run(cfg, m) for m in cfg["methods"]]
    variants = [r for r in runs if r.is_variant]
    print(f"{a.config}: valid; {len(specs)} architectures x {len(runs)} runs = {len(specs) * len(runs)} "
          f"pretraining jobs, x {len(cfg['data']['downstream'])} datasets = "
          f"{len(specs) * len(runs) * len(cfg['data']['downstream'])} probes")
    print(f"  architectures: {', '.join(arch_id(s) for s in specs)}")
    print(f"  methods: {', '.join(r.name for r in runs if not r.is_variant) or '(none: variants only)'}")
    for r in variants:
        vs = ("" if r.against == r.method else f", against {r.against}" if r.against
              else f", not compared ({r.method} is not in methods)")
        print(f"  variant {r.name}: {r.method}, {r.note}{vs}")


def _forward(module: str):
    def run(a) -> None:
        import importlib

        sys.exit(importlib.import_module(module).main(a.rest) or 0)

    return run


# ------------------------------------------------------------------------------------------------ parser


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="archssl", description=__doc__.split("\n\n")[0])
    ap.add_argument("-v", "--verbose", action="store_true")
    sub = ap.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="built-in datasets and checks of real ones").add_subparsers(dest="sub", required=True)
    p = data.add_parser("prepare", help="generate a built-in mini-suite dataset")
    p.add_argument("name")
    p.add_argument("--out", required=True)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pool-size", type=int, default=6000)
    p.set_defaults(func=cmd_data_prepare)
    # forwarded commands: their arguments (options first, too) reach the module's own parser (see main)
    p = data.add_parser("check", help="verify real datasets on disk", add_help=False)
    p.set_defaults(func=_forward("archssl.data.check"), forward=True)

    archs = sub.add_parser("archs", help="architecture specs").add_subparsers(dest="sub", required=True)
    for name in ("show", "list", "export", "families"):
        p = archs.add_parser(name, add_help=False)
        p.set_defaults(func=_forward_with(name), forward=True)

    p = sub.add_parser("pretrain", help="SSL-pretrain one architecture")
    p.add_argument("--spec", required=True)
    p.add_argument("--method", required=True)
    p.add_argument("--params", type=_json_arg, required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--stop-after-epochs", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser("features", help="extract frozen features of one backbone on one or more datasets")
    p.add_argument("--backbone", required=True)
    p.add_argument("--dataset", required=True, nargs="+")
    p.add_argument("--arch", default=None, help="the architecture's id (default: the backbone's folder name)")
    p.add_argument("--method", default=None,
                   help="the study's name for the run, e.g. a variant (default: the backbone's SSL method)")
    p.add_argument("--params", type=_json_arg, required=True)
    p.add_argument("--out", required=True, nargs="+", help="one HDF5 file per --dataset, in the same order")
    p.add_argument("--threads", type=int, default=None)
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("probe", help="fit a probe on one or more feature files (one process, one JSON each)")
    p.add_argument("--features", required=True, nargs="+")
    p.add_argument("--params", type=_json_arg, required=True)
    p.add_argument("--out", required=True, nargs="+", help="one JSON per --features file, in the same order")
    p.add_argument("--threads", type=int, default=None)
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser("tables", help="collect probe results into tidy tables and correlations")
    p.add_argument("--study", required=True, help="the study manifest JSON written by the workflow")
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_tables)

    p = sub.add_parser("figures", help="draw the study's figures from its tables")
    p.add_argument("--tables-dir", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--formats", nargs="+", default=["png"])
    p.set_defaults(func=cmd_figures)

    p = sub.add_parser("write", help="write a JSON value to a file atomically (YAML for .yaml/.yml)")
    p.add_argument("--value", type=_json_arg, required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_write)

    p = sub.add_parser("provenance", help="the resolved config and the provenance record of a study")
    p.add_argument("--config", type=_json_arg, required=True, help="the resolved config (JSON)")
    p.add_argument("--specs", nargs="+", required=True, help="the architecture spec files (ID.yaml)")
    p.add_argument("--config-out", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_provenance)

    cfg = sub.add_parser("config", help="study configs").add_subparsers(dest="sub", required=True)
    p = cfg.add_parser("validate", help="validate a config against the schema and the registries")
    p.add_argument("config", nargs="+", help="config file(s); several are merged in order, as snakemake merges "
                   "several --configfile (an overlay after its preset)")
    p.set_defaults(func=cmd_config_validate)
    return ap


def _forward_with(name: str):
    def run(a) -> None:
        from archssl.archs.cli import main as archs_main

        sys.exit(archs_main([name, *a.rest]) or 0)

    return run


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    # argparse.REMAINDER does not take arguments that start with an option (`archs list --preset girish`):
    # a forwarded command gets everything its subparser did not recognise, in order
    args, rest = parser.parse_known_args(argv)
    if getattr(args, "forward", False):
        args.rest = rest
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    setup_logging(args.verbose)
    from archssl.config import ConfigError
    from archssl.data.base import DatasetError

    try:
        args.func(args)
    except (ConfigError, DatasetError) as e:
        print(f"archssl: error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
