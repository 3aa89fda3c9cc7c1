"""The NAS commands of ``archssl`` (registered by :func:`add_commands`; torch loads only when one runs).

    archssl nas-search --job @JOB.json --out-dir results/nas/NAME [--exec device=cuda,num_workers=8]
    archssl nas-spec --genotype results/nas/NAME/genotype.yaml --out results/archs/nas-NAME.yaml
    archssl nas-figures --study results/nas/study.json --tables-dir results/tables --out-dir results/nas

``nas-search`` runs one :class:`archssl.plan.nas.NASSearchJob` (the ``nas_search`` rule's param) with
:func:`archssl.nas.search.search`: progress per epoch (losses, expected size, argmax architecture) goes to the log.
``nas-spec`` writes the derived architecture as the study's spec file of ``nas-NAME`` (validated, normalized).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger("archssl.nas")


def cmd_nas_search(a) -> None:
    from archssl.data import open_ref
    from archssl.nas.search import search
    from archssl.plan.stages import STAGES
    from archssl.runtime import set_threads

    set_threads(a.threads)
    job, exe = STAGES["nas"].parse_job(a.job), STAGES["nas"].parse_exec(a.exec)
    s = job.run_settings(exe.checkpoint_every)
    dataset = open_ref(job.data, s["image_size"])
    log.info("search %s: %s on %s/%s (%d images), %d epochs (%d warm-up), %s", job.search, job.method, job.data.name,
             job.data.split, len(dataset), s["epochs"], s["warmup_epochs"],
             "no size target" if s["target"] is None else
             f"target {s['target']['value']:.0f} {s['target']['kind']} ({s['target']['penalty']})")
    out = search(dataset, Path(a.out_dir), job.method, job.method_params, s, device=exe.device,
                 num_workers=exe.num_workers, stop_after_epochs=a.stop_after_epochs, where=job.where)
    log.info("wrote %s", out)


def cmd_nas_spec(a) -> None:
    import yaml

    from archssl.catalog.archs import arch_id, normalize
    from archssl.integrity import read_spec
    from archssl.utils import atomic_path

    # the search's genotype, checked on read (a malformed file: an error naming it)
    spec = normalize(read_spec(a.genotype), source=str(a.genotype))
    out = Path(a.out)
    with atomic_path(out) as tmp:
        tmp.write_text(f"# {out.stem}: the architecture derived by {a.genotype} ({arch_id(spec)})\n"
                       + yaml.safe_dump(spec, sort_keys=True))


def cmd_nas_figures(a) -> None:
    from archssl.analysis.nas_figures import make_nas_outputs

    make_nas_outputs(Path(a.study), Path(a.tables_dir), Path(a.out_dir))


def add_commands(sub, json_arg, exec_options) -> None:
    """Register ``nas-search``, ``nas-spec`` and ``nas-figures`` on the ``archssl`` subparsers ``sub``."""
    p = sub.add_parser("nas-search", help="run one ProxylessNAS search with an SSL loss (a NASSearchJob)")
    p.add_argument("--job", type=json_arg, required=True, help="the NASSearchJob (JSON, or @FILE)")
    p.add_argument("--out-dir", required=True)
    exec_options(p, "device", "num_workers", "checkpoint_every")
    p.add_argument("--stop-after-epochs", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_nas_search)

    p = sub.add_parser("nas-spec", help="write a search's genotype as the study's spec file of its architecture")
    p.add_argument("--genotype", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_nas_spec)

    p = sub.add_parser("nas-figures", help="the NAS figures and the searched-vs-random table of a study")
    p.add_argument("--study", required=True, help="results/nas/study.json (written by the workflow)")
    p.add_argument("--tables-dir", required=True)
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_nas_figures)


__all__ = ["add_commands", "cmd_nas_figures", "cmd_nas_search", "cmd_nas_spec"]
