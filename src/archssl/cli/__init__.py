"""The ``archssl`` command line: every workflow stage also runs by hand.

    archssl data prepare NAME --out results/data/NAME/images.h5 [--image-size 32] [--seed 0]
    archssl data check --data-root DIR NAME...
    archssl archs show NAME_OR_SPEC [--image-size N]
    archssl archs list --preset P | --config config/config.yaml
    archssl archs export --config CFG --out DIR
    archssl pretrain --job @JOB.json --spec SPEC.yaml --out-dir DIR [--exec device=cuda,num_workers=8]
    archssl features --job @JOB.json --backbone DIR/backbone.pt --dataset NAME --out FILE.h5
    archssl probe --job @JOB.json --features FILE.h5 --out FILE.json
    archssl plan CFG [--stage pretrain --run simclr]
    archssl status CFG
    archssl export --backbone DIR/backbone.pt --out FILE.pt [--num-classes K]
    archssl tables --config CFG --probes-root results/probes --out-dir results/tables
    archssl figures --tables-dir results/tables --out-dir results/figures
    archssl config validate CFG
    archssl nas-search --job @JOB.json --out-dir results/nas/NAME [--exec device=cuda]   (also nas-spec, nas-figures)
    archssl write --value JSON --out FILE.yaml|FILE.json
    archssl provenance --config JSON --specs results/archs/*.yaml --config-out FILE.yaml --out FILE.json

A stage's job spec (:mod:`archssl.plan`: every value that decides its result) arrives as one JSON argument
(``--job``, or ``--job @FILE``); the workflow passes it as the rule's params, so Snakemake reruns a stage
when, and only when, its spec changes. Execution-only settings (device, workers, inference batch size,
checkpoint interval, threads) are separate options and rerun nothing.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import logging
import sys
from pathlib import Path

from archssl.utils import setup_logging

log = logging.getLogger("archssl")


def _json_arg(s: str) -> dict:
    if s.startswith("@"):
        try:
            s = Path(s[1:]).read_text()
        except OSError as e:
            raise argparse.ArgumentTypeError(f"cannot read {s[1:]}: {e}") from e
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


# ------------------------------------------------------------------------------------------------ stages


def cmd_data_prepare(a) -> None:
    from archssl.data import mini

    mini.prepare(a.name, Path(a.out), size=a.image_size, seed=a.seed, pool_size=a.pool_size)
    log.info("wrote %s", a.out)


def _stage_job(stage: str, a):
    """The job spec and execution settings of a stage command's ``--job`` / ``--exec`` (the stage table's
    classes), after setting the job's ``--threads``."""
    from archssl.plan.stages import STAGES
    from archssl.runtime import set_threads

    set_threads(a.threads)
    s = STAGES[stage]
    return s.parse_job(a.job), s.parse_exec(a.exec)


def cmd_pretrain(a) -> None:
    from archssl.catalog import METHODS
    from archssl.data import open_ref
    from archssl.integrity import read_spec
    from archssl.train.loop import pretrain

    job, exe = _stage_job("pretrain", a)
    spec = read_spec(a.spec)  # a malformed spec file: an error naming it
    dataset = None
    if job.data is not None:
        dataset = open_ref(job.data, job.image_size)
        what = f"{job.epochs} epochs" if METHODS.get(job.method).trains else "BN statistics only"
        log.info("pretraining %s with %s on %s/%s (%d images, %s)", Path(a.spec).stem, job.run, job.data.name,
                 job.data.split, len(dataset), what)
    out = pretrain(spec, dataset, job, Path(a.out_dir), exe, stop_after_epochs=a.stop_after_epochs)
    log.info("wrote %s", out)


def cmd_features(a) -> None:
    from archssl.evaluate.features import run_features_job

    job, exe = _stage_job("features", a)
    if exe.gpus:  # GPUs of its own (CUDA_VISIBLE_DEVICES), held until the job ends
        from archssl.train.gpus import pin

        pin(exe.gpus)
    run_features_job(job, Path(a.backbone), a.dataset, [Path(o) for o in a.out],
                     exe, arch=a.arch)


def cmd_probe(a) -> None:
    from archssl.evaluate.probe_job import run_probe

    if len(a.features) != len(a.out):
        raise SystemExit(f"--features and --out need the same number of values ({len(a.features)} vs {len(a.out)})")
    job, exe = _stage_job("probe", a)
    if exe.gpus:  # GPUs of its own (CUDA_VISIBLE_DEVICES), held until the job ends
        from archssl.train.gpus import pin

        pin(exe.gpus)
    for features, out in zip(a.features, a.out):
        run_probe(Path(features), Path(out), job, exe)


def cmd_tables(a) -> None:
    from archssl.analysis.tables import build_tables

    build_tables(Path(a.study), Path(a.out_dir))


def cmd_figures(a) -> None:
    from archssl.analysis.figures import make_figures

    make_figures(Path(a.tables_dir), Path(a.out_dir), a.formats, tsne=a.tsne)


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
    from archssl.config import merge_files
    from archssl.plan import plan

    cfg = merge_files(a.config)  # merged as snakemake merges several --configfile
    p = plan(cfg)
    name = " + ".join(a.config)
    runs = list(p.runs.values())
    n_arch, n_ds = len(p.archs), len(p.downstream)
    print(f"{name}: valid; {n_arch} architectures x {len(runs)} runs = {n_arch * len(runs)} "
          f"pretraining jobs, x {n_ds} datasets = {n_arch * len(runs) * n_ds} probes")
    print(f"  architectures: {', '.join(p.archs)}")
    print(f"  methods: {', '.join(r.name for r in runs if not r.is_variant) or '(none: variants only)'}")
    for r in runs:
        if r.is_variant:
            vs = ("" if r.against == r.method else f", against {r.against}" if r.against
                  else f", not compared ({r.method} is not in methods)")
            print(f"  variant {r.name}: {r.method}, {r.note}{vs}")
    for problem in p.problems:
        print(f"  warning: {problem} (a run stops before any job)")


def cmd_plan(a) -> None:
    """Print one stage's job spec (or the analysis manifest) of a config, as the workflow passes it."""
    from archssl.config import merge_files
    from archssl.plan import plan

    p = plan(merge_files(a.config))
    if a.stage == "manifest":
        doc = p.manifest()
    elif a.stage == "probe":
        doc = p.probe.to_dict()
    else:
        jobs = p.pretrain if a.stage == "pretrain" else p.features
        if a.run not in jobs:
            raise SystemExit(f"--run: {a.run!r} is not one of the study's methods ({', '.join(jobs)})")
        doc = jobs[a.run].to_dict()
    print(json.dumps(doc, indent=2, sort_keys=True))


def cmd_status(a) -> None:
    """The results of a study made by other code than today's, and the command that reruns them."""
    from archssl.config import merge_files
    from archssl.plan import plan
    from archssl.status import status, write_status_table

    if a.targets is None and not a.config:
        raise SystemExit("archssl status: give config file(s) or --targets")
    what = json.loads(a.targets) if a.targets is not None else plan(merge_files(a.config))
    if a.csv is not None:
        stale = write_status_table(what, Path(a.csv), a.cores)
        log.info("wrote %s: %d results made by other code than today's", a.csv, len(stale))
    else:
        print(status(what, a.cores))


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

    p = sub.add_parser("pretrain", help="SSL-pretrain one architecture (a job spec of archssl.plan)")
    p.add_argument("--job", type=_json_arg, required=True, help="the PretrainJob (JSON, or @FILE)")
    p.add_argument("--spec", required=True)
    p.add_argument("--out-dir", required=True)
    _exec_options(p, "device", "num_workers", "checkpoint_every")
    p.add_argument("--stop-after-epochs", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser("features", help="extract frozen features of one backbone on one or more datasets")
    p.add_argument("--backbone", required=True)
    p.add_argument("--dataset", required=True, nargs="+")
    p.add_argument("--arch", default=None, help="the architecture's id (default: the backbone's folder name)")
    p.add_argument("--job", type=_json_arg, required=True, help="the FeaturesJob (JSON, or @FILE)")
    p.add_argument("--out", required=True, nargs="+", help="one HDF5 file per --dataset, in the same order")
    _exec_options(p, "device", "num_workers", "batch_size")
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("probe", help="fit a probe on one or more feature files (one process, one JSON each)")
    p.add_argument("--features", required=True, nargs="+")
    p.add_argument("--job", type=_json_arg, required=True, help="the ProbeJob (JSON, or @FILE)")
    p.add_argument("--out", required=True, nargs="+", help="one JSON per --features file, in the same order")
    _exec_options(p, "device", "num_threads")
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser("tables", help="collect probe results into tidy tables and correlations")
    p.add_argument("--study", required=True, help="the study manifest JSON written by the workflow")
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_tables)

    p = sub.add_parser("figures", help="draw the study's figures from its tables")
    p.add_argument("--tables-dir", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--formats", nargs="+", default=["png", "pdf"])
    p.add_argument("--tsne", type=_json_arg, default=None,
                   help="what the t-SNE figure reads (archssl.plan.Plan.tsne, JSON; {}: none)")
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

    p = sub.add_parser("export", help="a pretrained backbone as a torchvision state_dict (ResNet, MobileNetV2)",
                       add_help=False)
    p.set_defaults(func=_forward("archssl.archs.export"), forward=True)

    p = sub.add_parser("status", help="list the results made by other code than today's (and how to rerun them)")
    p.add_argument("config", nargs="*", help="config file(s), merged in order")
    p.add_argument("--targets", default=None, metavar="JSON",
                   help="the study's results folder, runs, archs, datasets (what the workflow passes) instead of configs")
    p.add_argument("--csv", default=None, metavar="FILE", help="write the list as a table (the report's section)")
    p.add_argument("--cores", type=int, default=2, help="--cores of the snakemake command it suggests")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("plan", help="print a stage's job spec of a config (what the workflow passes)")
    p.add_argument("config", nargs="+", help="config file(s), merged in order")
    p.add_argument("--stage", choices=["pretrain", "features", "probe", "manifest"], default="pretrain")
    p.add_argument("--run", default=None, help="the entry of methods (pretrain and features)")
    p.set_defaults(func=cmd_plan)

    cfg = sub.add_parser("config", help="study configs").add_subparsers(dest="sub", required=True)
    p = cfg.add_parser("validate", help="validate a config against the schema and the registries")
    p.add_argument("config", nargs="+", help="config file(s); several are merged in order, as snakemake merges "
                   "several --configfile (an overlay after its preset)")
    p.set_defaults(func=cmd_config_validate)

    from archssl.cli.nas import add_commands as add_nas_commands  # nas-search, nas-spec, nas-figures

    add_nas_commands(sub, _json_arg, _exec_options)
    return ap


def _exec_options(p, *names: str) -> None:
    """``--threads`` and ``--exec``: settings that never change a result."""
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: the job's allocation)")
    p.add_argument("--exec", default=None, metavar="KEY=VALUE,...",
                   help=f"execution settings ({', '.join(names)}; default: the schema's)")


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
    from archssl.catalog.datasets import DatasetError
    from archssl.evaluate.featurestore import FeatureFileError
    from archssl.integrity import ArtifactError
    from archssl.params import ParamError

    try:
        args.func(args)
        sys.stdout.flush()
    except (ParamError, DatasetError) as e:
        print(f"archssl: error: {e}", file=sys.stderr)
        sys.exit(2)
    except (ArtifactError, FeatureFileError) as e:  # a stage output that failed its check; the message names it
        print(f"archssl: error: {e}", file=sys.stderr)
        sys.exit(1)
    except BrokenPipeError:  # `archssl archs list ... | head`: the reader is gone; say nothing
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
        # the atomic writers removed their partial file; nothing under a target name was written
        where = f" writing {e.filename}" if e.filename else ""
        print(f"archssl: error: no space left on the device{where}; free space and rerun (nothing "
              f"incomplete was kept)", file=sys.stderr)
        sys.exit(1)

