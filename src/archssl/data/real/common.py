"""Machinery shared by the datasets read from disk.

* :class:`RealDatasetSource` - the base of every on-disk source: locating the data, layout errors, and
  the standard ``open()`` flow (the options and their check are the descriptor's,
  :class:`~archssl.catalog.datasets.base.DiskDatasetInfo`).
* :class:`Selection` - the items of one split: a base dataset (a torchvision class or an
  :class:`ImageList`) plus the chosen indices, their targets and stable ids.
* :func:`holdout` and :func:`per_class_split` - seeded, stratified splits that give the same result on
  every machine: items are ranked by a keyed BLAKE2 hash of ``(seed, item id)``, where the id is a
  path relative to the dataset root or a zero-padded index, never a listing order.
* :class:`SplitDataset` - what ``open()`` returns: items ``(uint8 (3, S, S) tensor, target)``.
"""

from __future__ import annotations

import hashlib
import math
import os
import pickle
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.io.matlab import MatReadError

from archssl.catalog.datasets import DatasetError, DatasetInfo, DiskDatasetInfo
from archssl.data.base import DatasetSource
from archssl.data.preprocess import ImageLoader, Preprocess, WholeImage, resized_short_side

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif")

# Exceptions that mean "the files are there but not what we expected" while parsing a dataset.
PARSE_ERRORS = (
    OSError,
    RuntimeError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    EOFError,
    pickle.UnpicklingError,
    UnicodeDecodeError,
    MatReadError,
)


def tv_dataset(name: str) -> type:
    """A ``torchvision.datasets`` class, imported on first use: torchvision costs ~2 s to import, and every
    workflow job and every snakemake start imports the dataset registry, most without reading a real set."""
    import torchvision.datasets

    return getattr(torchvision.datasets, name)


class DatasetMissing(DatasetError):
    """The dataset's directory, or files its layout requires, do not exist."""


class DatasetMalformed(DatasetError):
    """The files exist but are not in the expected form (or the options do not fit them)."""


# --------------------------------------------------------------------------------------------------------
# Seeded, machine-independent splits


def stable_key(seed: int | str, item_id: str) -> int:
    """A 64-bit rank for ``item_id`` under ``seed``; identical on every machine and Python version."""
    digest = hashlib.blake2b(f"{seed}\x00{item_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def holdout_count(n: int, fraction: float) -> int:
    """How many of a class's ``n`` items go to the held-out part: ``round(fraction * n)``, but at least one
    and never all of them (a class with a single item stays whole in the training part)."""
    if n < 2:
        return 0
    return min(max(_round_half_up(fraction * n), 1), n - 1)


@dataclass
class Selection:
    """The items of one split. ``base[indices[i]][0]`` is item ``i``'s image, ``targets[i]`` its target
    (an int, or a row of a float multi-hot array), ``ids[i]`` its stable id (unique within the dataset)."""

    base: Any
    indices: np.ndarray
    targets: Any  # list[int] or np.ndarray (N, C) float32 for multi-label sets
    ids: list[str]
    classes: list[str]

    def __post_init__(self) -> None:
        self.indices = np.asarray(self.indices, dtype=np.int64)
        if not (len(self.indices) == len(self.targets) == len(self.ids)):
            raise ValueError("indices, targets and ids must have the same length")

    def __len__(self) -> int:
        return len(self.indices)

    def take(self, positions: Sequence[int]) -> Selection:
        """The sub-selection at ``positions`` (positions into this selection, in the given order)."""
        positions = list(positions)
        if isinstance(self.targets, np.ndarray):
            targets: Any = self.targets[np.asarray(positions, dtype=np.int64)]
        else:
            targets = [self.targets[p] for p in positions]
        return Selection(self.base, self.indices[positions], targets, [self.ids[p] for p in positions], self.classes)

    def sorted(self) -> Selection:
        """The same items ordered by id, so that the order never depends on a directory listing."""
        return self.take(sorted(range(len(self.ids)), key=self.ids.__getitem__))


def whole(base: Any, targets: Sequence[int] | np.ndarray, ids: Sequence[str], classes: Sequence[str]) -> Selection:
    """All items of ``base``, sorted by id."""
    if not isinstance(targets, np.ndarray):
        targets = [int(t) for t in targets]
    return Selection(base, np.arange(len(ids)), targets, list(ids), list(classes)).sorted()


def _by_class(selection: Selection) -> dict[int, list[int]]:
    if isinstance(selection.targets, np.ndarray):
        raise TypeError("a stratified split needs single-label targets")
    groups: dict[int, list[int]] = defaultdict(list)
    for pos, target in enumerate(selection.targets):
        groups[int(target)].append(pos)
    return groups


def holdout(selection: Selection, fraction: float, seed: int | str) -> tuple[Selection, Selection]:
    """Split ``selection`` into ``(kept, held_out)``: from each class the :func:`holdout_count` items with
    the lowest :func:`stable_key` are held out. Both parts come back sorted by id."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"val_fraction must be strictly between 0 and 1, got {fraction!r}")
    kept: list[int] = []
    held: list[int] = []
    for positions in _by_class(selection).values():
        ranked = sorted(positions, key=lambda p: stable_key(seed, selection.ids[p]))
        n_held = holdout_count(len(ranked), fraction)
        held += ranked[:n_held]
        kept += ranked[n_held:]
    return selection.take(kept).sorted(), selection.take(held).sorted()


def per_class_split(
    selection: Selection,
    n_first: int,
    seed: int | str,
    n_second: int | None = None,
    max_first_fraction: float = 1.0,
) -> tuple[Selection, Selection]:
    """Seeded per-class split: ``n_first`` items of each class (ranked by :func:`stable_key`) go to the first
    part and the next ``n_second`` (``None``: all the rest) to the second. A class never gives more than
    ``max_first_fraction`` of its items, nor all of them, to the first part (when it has at least two)."""
    first: list[int] = []
    second: list[int] = []
    for positions in _by_class(selection).values():
        ranked = sorted(positions, key=lambda p: stable_key(seed, selection.ids[p]))
        n = len(ranked)
        k = min(n_first, math.floor(max_first_fraction * n), n - 1 if n > 1 else n)
        first += ranked[:k]
        rest = ranked[k:]
        second += rest if n_second is None else rest[:n_second]
    return selection.take(first).sorted(), selection.take(second).sorted()


# --------------------------------------------------------------------------------------------------------
# Datasets


class ImageList:
    """A plain list of image files: ``__getitem__(i)`` returns ``(loader(paths[i]), targets[i])``."""

    def __init__(self, paths: Sequence[str | Path], targets: Sequence[Any], loader: Callable[[str], Any]):
        if len(paths) != len(targets):
            raise ValueError("paths and targets must have the same length")
        self.paths = [str(p) for p in paths]
        self.targets = list(targets)
        self.loader = loader

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        return self.loader(self.paths[index]), self.targets[index]


class SplitDataset:
    """One split of a real dataset. Item ``i`` is ``(image, target)``: ``image`` a ``uint8`` tensor
    ``(3, image_size, image_size)``, ``target`` an ``int`` (``-1`` for unlabeled items) or, for multi-label
    sets, a ``float32`` multi-hot tensor. With ``view == "pretrain"`` (``preprocess`` a
    :class:`~archssl.data.preprocess.WholeImage`) item ``i`` is ``(canvas, target, size)``: the whole image as
    a ``uint8`` ``(3, P, P)`` canvas and its ``int64`` ``(height, width)`` before the resize. Attributes:
    ``name``, ``split``, ``targets`` (a list of ints or an ``(N, C)`` array), ``ids`` (stable item ids),
    ``classes``, ``num_classes``, ``metric``, ``multilabel``, ``view`` (the first four from the dataset's
    descriptor ``info``)."""

    def __init__(self, info: DatasetInfo, split: str, selection: Selection, preprocess: Preprocess):
        self.name = info.name
        self.split = split
        self.metric = info.metric
        self.multilabel = info.multilabel
        self.num_classes = info.num_classes
        self.base = selection.base
        self.indices = selection.indices
        self.targets = selection.targets
        self.ids = selection.ids
        self.classes = selection.classes
        self.preprocess = preprocess
        self.image_size = preprocess.image_size
        self.view = "pretrain" if isinstance(preprocess, WholeImage) else "eval"

    def __len__(self) -> int:
        return len(self.indices)

    def __repr__(self) -> str:
        return f"SplitDataset({self.name!r}, split={self.split!r}, n={len(self)}, {self.preprocess!r})"

    def __getitem__(self, index: int) -> tuple:
        if index < 0:
            index += len(self)
        item_id = self.ids[index]
        try:
            image = self.base[int(self.indices[index])][0]
            tensor = self.preprocess(image)
            extra: tuple = ()
            if isinstance(tensor, tuple):  # WholeImage (view="pretrain"): (canvas, size before the resize)
                tensor, extra = tensor[0], tuple(tensor[1:])
        except (OSError, ValueError, SyntaxError) as exc:  # PIL reports truncated/corrupt files this way
            raise DatasetError(
                f"dataset {self.name!r}: cannot read item {item_id!r} of split {self.split!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if self.multilabel:
            import torch

            return (tensor, torch.from_numpy(np.array(self.targets[index], dtype=np.float32)), *extra)
        return (tensor, int(self.targets[index]), *extra)


# --------------------------------------------------------------------------------------------------------
# Helpers for reading metadata


def rel_id(path: str | Path, root: str | Path) -> str:
    """``path`` relative to ``root`` in POSIX form: the stable id of a file-backed item."""
    return Path(os.path.relpath(path, root)).as_posix()


def read_lines(path: Path) -> list[str]:
    """The non-empty, stripped lines of a text file."""
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def list_images(directory: Path) -> list[Path]:
    """Image files directly inside ``directory``, sorted by name."""
    return sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def list_class_dirs(directory: Path) -> list[str]:
    """Names of the sub-directories of ``directory``, sorted (hidden ones skipped)."""
    return sorted(e.name for e in os.scandir(directory) if e.is_dir() and not e.name.startswith("."))


def _first_image(directory: Path) -> bool:
    with os.scandir(directory) as it:
        return any(e.is_file() and Path(e.name).suffix.lower() in IMAGE_SUFFIXES for e in it)


def _short_list(paths: Iterable[Any], limit: int = 6) -> str:
    paths = [str(p) for p in paths]
    shown = ", ".join(paths[:limit])
    return shown + (f", ... ({len(paths) - limit} more)" if len(paths) > limit else "")


# --------------------------------------------------------------------------------------------------------
# The base of on-disk sources


class RealDatasetSource(DatasetSource):
    """An on-disk dataset's implementation, for its descriptor ``info`` (a
    :class:`~archssl.catalog.datasets.base.DiskDatasetInfo`: classes, documented layout, ``markers``,
    options). Subclasses implement :meth:`locate` (or rely on the descriptor's ``markers``), :meth:`validate`
    (cheap consistency checks) and :meth:`select` (the items of one split).

    ``root`` (the argument of :meth:`open` and :meth:`check`) is the dataset's own directory, by default
    ``<data_root>/<name>``; the descriptor's ``layout`` documents what it must contain. Its ``markers`` are
    paths relative to ``root`` that must exist; when ``root`` itself *is* the first component of the markers
    (e.g. the user points at ``.../cifar-10-batches-py``), its parent is used.
    """

    info: DiskDatasetInfo

    # -- errors -------------------------------------------------------------------------------------------

    def missing_error(self, root: Path, missing: Iterable[Any] = ()) -> DatasetMissing:
        """A :class:`DatasetError` for a dataset that is absent or incomplete at ``root``."""
        root = Path(root)
        if not root.exists():
            head = f"dataset {self.info.name!r}: directory {root} does not exist"
        else:
            head = f"dataset {self.info.name!r}: not found or incomplete at {root}"
        msg = f"{head}\n  expected layout:\n    " + self.info.expected(root).replace("\n", "\n    ")
        missing = list(missing)
        if missing and root.exists():
            msg += f"\n  missing: {_short_list(missing)}"
        return DatasetMissing(msg)

    def malformed(self, root: Path, problem: str) -> DatasetMalformed:
        """A :class:`DatasetError` for files that are present but not in the expected form."""
        return DatasetMalformed(
            f"dataset {self.info.name!r}: malformed data at {root}: {problem}\n  expected layout:\n    "
            + self.info.expected(Path(root)).replace("\n", "\n    ")
        )

    # -- locating and checking ----------------------------------------------------------------------------

    def locate(self, root: Path) -> Path:
        """The directory the readers work from (``root`` or, see ``markers``, its parent); raises
        :class:`DatasetError` naming what is missing."""
        root = Path(root).expanduser()
        markers = self.info.markers
        missing = [root / m for m in markers if not (root / m).exists()]
        if not missing:
            return root
        if markers:
            first = Path(markers[0]).parts[0]
            if root.name == first and all((root.parent / m).exists() for m in markers):
                return root.parent
        raise self.missing_error(root, missing)

    def validate(self, located: Path) -> None:
        """Cheap consistency checks on located data (metadata parses, class counts, a few files exist)."""

    def check(self, root: Path) -> None:
        located = self.locate(Path(root))
        try:
            self.validate(located)
        except DatasetError:
            raise
        except PARSE_ERRORS as exc:
            raise self.malformed(located, f"{type(exc).__name__}: {exc}") from exc

    def require(self, located: Path, *relative: str) -> None:
        """Raise the missing-data error unless every path in ``relative`` exists under ``located``."""
        missing = [located / r for r in relative if not (located / r).exists()]
        if missing:
            raise self.missing_error(located, missing)

    def require_images(self, located: Path, paths: Sequence[str | Path], what: str) -> None:
        """Check that the first and last of ``paths`` (files a list refers to) exist."""
        if not paths:
            raise self.malformed(located, f"{what} lists no images")
        absent = [p for p in {str(paths[0]), str(paths[-1])} if not Path(p).is_file()]
        if absent:
            raise self.malformed(located, f"{what} refers to missing image(s): {_short_list(sorted(absent))}")

    def check_class_count(self, located: Path, classes: Sequence[str], what: str) -> None:
        if len(classes) != self.info.num_classes:
            raise self.malformed(located, f"found {len(classes)} classes in {what}, expected {self.info.num_classes}")

    def check_targets(self, located: Path, targets: Iterable[int], what: str) -> None:
        bad = sorted({int(t) for t in targets if not 0 <= int(t) < self.info.num_classes})
        if bad:
            raise self.malformed(located, f"{what} has labels outside 0..{self.info.num_classes - 1}: {bad[:5]}")

    def check_same_classes(self, located: Path, a: Sequence[str], b: Sequence[str], what_a: str, what_b: str) -> None:
        if list(a) != list(b):
            only_a = sorted(set(a) - set(b))
            only_b = sorted(set(b) - set(a))
            raise self.malformed(
                located,
                f"the classes of {what_a} and {what_b} differ (labels would not line up): "
                f"only in {what_a}: {_short_list(only_a)}; only in {what_b}: {_short_list(only_b)}",
            )

    def check_class_dirs(self, located: Path, directory: Path, what: str) -> list[str]:
        """The class sub-directories of ``directory``: their count must be ``num_classes`` and each must hold
        at least one image."""
        if not directory.is_dir():
            raise self.missing_error(located, [directory])
        classes = list_class_dirs(directory)
        self.check_class_count(located, classes, what)
        empty = [c for c in classes if not _first_image(directory / c)]
        if empty:
            raise self.malformed(located, f"class folders without images in {what}: {_short_list(empty)}")
        return classes

    # -- opening ------------------------------------------------------------------------------------------

    def open(self, split: str, root: Path, image_size: int, **options: Any) -> SplitDataset:
        """Open ``split`` of the dataset under ``root`` at ``image_size``. Options: ``val_fraction``,
        ``seed`` (the held-out validation split), ``resize``, ``interpolation``, ``jpeg_draft`` (see
        :mod:`archssl.data.preprocess`) and the descriptor's own ``options``.

        ``view``: ``"eval"`` (default) gives items ``(image, target)``, the resize + centre crop above;
        ``"pretrain"`` gives ``(canvas, target, size)``: the whole image resized, uncropped, to a
        ``pretrain_size`` square (default: the eval resize's shorter side, ``round(image_size * resize)``,
        e.g. 256 at 224 px) and its decoded ``(height, width)``; pass the batch's sizes to the augmenter
        (``ViewMaker.for_sizes``) so that crops are sampled relative to each whole image."""
        self.info.check_split(split)
        opts = self.info.resolve_options(options)
        try:
            if opts["view"] == "pretrain":
                canvas = opts["pretrain_size"] or resized_short_side(image_size, float(opts["resize"]))
                preprocess = WholeImage(int(canvas), image_size, interpolation=opts["interpolation"])
            else:
                preprocess = Preprocess(image_size, resize=float(opts["resize"]),
                                        interpolation=opts["interpolation"])
        except ValueError as exc:
            raise DatasetError(f"dataset {self.info.name!r}: {exc}") from exc
        located = self.locate(Path(root))
        loader = preprocess.loader(jpeg_draft=bool(opts["jpeg_draft"]))
        try:
            selection = self.select(split, located, loader, opts)
        except DatasetError:
            raise
        except PARSE_ERRORS as exc:
            raise self.malformed(located, f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(selection.targets, np.ndarray):
            labelled = [t for t in selection.targets if t != -1]
            self.check_targets(located, labelled, f"split {split!r}")
        if len(selection) == 0:
            raise self.malformed(located, f"split {split!r} has no items")
        return SplitDataset(self.info, split, selection, preprocess)

    def select(self, split: str, located: Path, loader: ImageLoader, opts: dict[str, Any]) -> Selection:
        """The items of ``split`` (implemented by each source)."""
        raise NotImplementedError

    def with_heldout_val(
        self, split: str, train: Callable[[], Selection], test: Callable[[], Selection], opts: dict[str, Any]
    ) -> Selection:
        """The usual rule when a dataset only has train and test: ``val`` is a seeded, stratified
        ``val_fraction`` of train, and ``train`` is the rest."""
        if split == "test":
            return test()
        kept, held = holdout(train(), float(opts["val_fraction"]), int(opts["seed"]))
        return kept if split == "train" else held


def private(obj: Any, name: str) -> Any:
    """A private attribute of a torchvision dataset (they keep their file lists there); fails clearly when a
    different torchvision version renamed it."""
    try:
        return getattr(obj, name)
    except AttributeError as exc:
        raise RuntimeError(
            f"{type(obj).__name__} has no attribute {name!r}: this torchvision version is not the one "
            "archssl's readers were written for (0.29)"
        ) from exc
