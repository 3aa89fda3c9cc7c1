"""``archssl archs ...``: inspect, list and export architecture specs (torch-free, fast).

    archs show NAME_OR_SPEC [--image-size N]            normalized spec + params + FLOPs + id as JSON
    archs list (--preset P | --config FILE | --named) [--image-size N]
                                                        CSV: id, family, params, flops
    archs export (--preset P | --config FILE | --named) --out DIR
                                                        one DIR/<id>.yaml per architecture (atomic writes)
    archs families                                      the registered families and their fields

``NAME_OR_SPEC`` is a named architecture (``archs list --named``), a YAML/JSON spec file, or an inline
mapping such as ``'{family: resnet, depths: [1, 1, 1, 1], stem: cifar}'``. ``--config`` reads the ``archs:``
section of a study config. FLOPs are 2 x MACs (convs + linear layers) of one image at ``--image-size``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from archssl.catalog.archs import (FAMILIES, NAMED, PRESETS, ArchSpecError, arch_id, count_flops, count_params,
                                   describe, load_spec, named, preset, resolve, save_spec)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="archssl archs", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    show = sub.add_parser("show", help="print a normalized spec with its id, params and FLOPs as JSON")
    show.add_argument("spec", help="named architecture, spec file (YAML/JSON) or inline YAML mapping")
    show.add_argument("--image-size", type=int, default=224, help="input side for the FLOP count (224)")

    def add_source(sp: argparse.ArgumentParser) -> None:
        g = sp.add_mutually_exclusive_group(required=True)
        g.add_argument("--preset", choices=PRESETS, help="an architecture preset")
        g.add_argument("--config", type=Path, help="a study config; its 'archs:' section is resolved")
        g.add_argument("--named", action="store_true", help="all named architectures")

    lst = sub.add_parser("list", help="CSV of id, family, params, flops")
    add_source(lst)
    lst.add_argument("--image-size", type=int, default=224, help="input side for the FLOP count (224)")

    exp = sub.add_parser("export", help="write one <id>.yaml spec file per architecture")
    add_source(exp)
    exp.add_argument("--out", type=Path, required=True, help="output directory")

    sub.add_parser("families", help="list the registered families and their fields")
    return p


def _specs(args: argparse.Namespace) -> list[dict]:
    if args.preset:
        return preset(args.preset)
    if args.named:
        seen, out = set(), []
        for n in NAMED:
            s = named(n)
            if arch_id(s) not in seen:
                seen.add(arch_id(s))
                out.append(s)
        return out
    import yaml

    cfg = yaml.safe_load(args.config.read_text()) or {}
    if "archs" not in cfg:
        raise ArchSpecError(f"{args.config}: no 'archs:' section")
    return resolve(cfg["archs"])


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "show":
            print(json.dumps(describe(load_spec(args.spec), args.image_size), indent=2))
        elif args.command == "list":
            w = csv.writer(sys.stdout, lineterminator="\n")
            w.writerow(["id", "family", "params", "flops"])
            for s in _specs(args):
                w.writerow([arch_id(s), s["family"], count_params(s), count_flops(s, args.image_size)])
        elif args.command == "export":
            specs = _specs(args)
            for s in specs:
                save_spec(s, args.out / f"{arch_id(s)}.yaml")
            print(f"wrote {len(specs)} spec files to {args.out}", file=sys.stderr)
        elif args.command == "families":
            for name, fam in FAMILIES.items():
                print(f"{name}: {fam.description}")
                for key, f in fam.fields.items():
                    stage = " (per stage)" if f.per_stage else ""
                    print(f"  {key} = {json.dumps(f.default)}{stage}: {f.doc}")
    except ArchSpecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
