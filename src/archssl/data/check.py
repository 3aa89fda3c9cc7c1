"""``archssl data check``: are the datasets a study needs on disk, in the layout their readers expect?

Nothing is ever downloaded: real datasets are read in place from ``<data_root>/<name>`` (or a per-dataset
directory given in ``roots``). For every missing or malformed dataset the report names the path that was
looked at and the directory tree that was expected there. Built-in (generated) datasets are skipped.

Typical use, before submitting a study to a cluster::

    archssl data check --data-root /shared/datasets cifar10 fgvc_aircraft imagenet
    archssl data check --data-root /shared/datasets --root imagenet=/fast/ILSVRC2012 --deep imagenet

The exit status is 0 when everything was found and 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from archssl.catalog.datasets import DATASETS, DatasetError
from archssl.data.real.common import DatasetMissing
from archssl.registry import RegistryError

#: Environment variable used as the default of ``--data-root``.
DATA_ROOT_ENV = "ARCHSSL_DATA_ROOT"


@dataclass(frozen=True)
class Problem:
    """One dataset that cannot be used. ``kind`` is ``unknown`` (no such dataset registered), ``missing``
    (directory or required files absent), ``malformed`` (present but not in the expected form) or
    ``unreadable`` (found by ``--deep`` while opening splits and decoding items)."""

    dataset: str
    path: Path | None
    kind: str
    message: str


def resolve_root(name: str, data_root: Path | str, roots: Mapping[str, Path | str] | None = None) -> Path:
    """The directory dataset ``name`` is read from: ``roots[name]`` if given, else ``<data_root>/<name>``."""
    if roots and name in roots:
        return Path(roots[name]).expanduser()
    return Path(data_root).expanduser() / name


def real_dataset_names() -> list[str]:
    """All datasets with a descriptor that are read from disk (not built in)."""
    return [name for name in DATASETS.names() if not DATASETS.get(name).builtin]


def _deep_check(name: str, root: Path, image_size: int) -> list[Problem]:
    """Open every split and decode its first and last item."""
    source = DATASETS.get(name).source()
    problems = []
    for split in [s for s in source.info.splits if s != "train+unlabeled"]:  # a union of others
        try:
            dataset = source.open(split, root, image_size)
            for index in sorted({0, len(dataset) - 1}):
                image, _ = dataset[index]
                if tuple(image.shape) != (3, image_size, image_size):
                    raise DatasetError(f"dataset {name!r}: split {split!r} item {index} has shape {tuple(image.shape)}")
        except DatasetError as exc:
            problems.append(Problem(name, root, "unreadable", f"split {split!r}: {exc}"))
    return problems


def check_datasets(
    names: Iterable[str],
    data_root: Path | str,
    roots: Mapping[str, Path | str] | None = None,
    *,
    deep: bool = False,
    image_size: int = 32,
) -> list[Problem]:
    """Check each named dataset; return the problems found (an empty list when all are usable).

    The check is cheap by default: the layout's files exist, metadata parses, class counts and a few
    referenced images are right. ``deep`` also opens every split at ``image_size`` and decodes its first
    and last image (which lists whole directories, so it takes longer on the large sets).
    """
    problems: list[Problem] = []
    for name in dict.fromkeys(names):  # unique, in order
        try:
            info = DATASETS.get(name)
        except RegistryError as exc:
            problems.append(Problem(name, None, "unknown", str(exc)))
            continue
        if info.builtin:
            continue
        root = resolve_root(name, data_root, roots)
        try:
            info.check(root)
        except DatasetError as exc:
            kind = "missing" if isinstance(exc, DatasetMissing) else "malformed"
            problems.append(Problem(name, root, kind, str(exc)))
            continue
        if deep:
            problems += _deep_check(name, root, image_size)
    return problems


def format_report(problems: Sequence[Problem], checked: Sequence[str] = ()) -> str:
    """A human-readable report: one block per problem with the path and the expected layout, and one line
    per dataset of ``checked`` that has no problem."""
    bad = {p.dataset for p in problems}
    lines = [f"ok       {name}" for name in checked if name not in bad]
    for p in problems:
        where = f" ({p.path})" if p.path is not None else ""
        lines.append(f"{p.kind:<8} {p.dataset}{where}")
        lines += ["    " + line for line in p.message.splitlines()]
    if problems:
        lines.append(f"{len(bad)} dataset(s) with problems; nothing is downloaded - place the data as shown above.")
    else:
        lines.append(f"all {len(checked)} dataset(s) found." if checked else "no problems found.")
    return "\n".join(lines)


def _parse_roots(values: Sequence[str]) -> dict[str, Path]:
    roots = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise argparse.ArgumentTypeError(f"--root expects NAME=DIR, got {value!r}")
        roots[name] = Path(path)
    return roots


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="archssl data check",
        description="Check that datasets are on disk in the layout archssl reads (nothing is downloaded).",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="datasets to check (default: every on-disk dataset)")
    parser.add_argument(
        "--data-root",
        type=Path,
        default=os.environ.get(DATA_ROOT_ENV),
        help=f"directory holding one folder per dataset (default: ${DATA_ROOT_ENV})",
    )
    parser.add_argument(
        "--root", action="append", default=[], metavar="NAME=DIR", help="read dataset NAME from DIR instead"
    )
    parser.add_argument("--deep", action="store_true", help="also open every split and decode a few images")
    parser.add_argument("--image-size", type=int, default=32, help="resolution for --deep (default 32)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``archssl data check``; returns the exit status (1 when something is missing)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        roots = _parse_roots(args.root)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    names = args.names or real_dataset_names()
    if args.data_root is None and any(n not in roots for n in names):
        parser.error(f"--data-root is required (or set ${DATA_ROOT_ENV}, or give --root NAME=DIR for each dataset)")
    problems = check_datasets(names, args.data_root or Path("."), roots, deep=args.deep, image_size=args.image_size)
    print(format_report(problems, checked=names))
    return 1 if problems else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
