"""Torch-free descriptors of the datasets: what the planner, the config checks and ``archssl data check``
need to know of a dataset without its loader.

A :class:`DatasetInfo` holds a dataset's facts (classes, metric, splits, item views) and names its
implementation, the source that opens it, as a ``"module:Class"`` path (``impl``) that
:func:`archssl.catalog.load` imports on first use: :meth:`DatasetInfo.source` builds it for the descriptor,
and :meth:`DatasetInfo.open` / :meth:`DatasetInfo.check` go through it. An on-disk dataset's descriptor
(:class:`DiskDatasetInfo`) adds its documented layout, its split rule, the files that mark its root, and its
loader options with their defaults and their check (:meth:`DiskDatasetInfo.resolve_options`). Every
implementation lives in :mod:`archssl.data`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from archssl.catalog.loader import load
from archssl.registry import Registry

SPLITS = ("train", "val", "test")
METRICS = ("top1", "mean_per_class", "map11")

#: The item views of an on-disk set's ``open(..., view=...)``: ``eval`` (resize + centre crop) and
#: ``pretrain`` (whole images on a fixed canvas plus their sizes; see :mod:`archssl.data.preprocess`).
VIEWS = ("eval", "pretrain")

#: The default ratio between the resized shorter side and the crop (resize to 256, crop 224).
DEFAULT_RESIZE: float = 256 / 224

#: The resampling filters of option ``interpolation`` (PIL's, :data:`archssl.data.preprocess.INTERPOLATIONS`).
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos")

#: Options every on-disk source accepts in ``open(..., **options)``.
COMMON_OPTIONS: dict[str, Any] = {
    "val_fraction": None,  # None: the descriptor's own default
    "seed": 0,
    "resize": None,  # None: the descriptor's own default
    "interpolation": "bilinear",
    "jpeg_draft": True,
    "view": "eval",  # "pretrain": whole images on a fixed canvas plus their sizes (see VIEWS)
    "pretrain_size": None,  # the canvas side for view="pretrain"; None: the eval resize's short side
}


class DatasetError(RuntimeError):
    """A dataset that is missing or malformed. The message names the dataset, the path and what was expected."""


@dataclass
class DatasetInfo:
    """One dataset's descriptor. ``impl`` is its source, ``"module:Class"``: ``Class(info)`` opens the
    dataset's splits (an :class:`archssl.data.base.DatasetSource`)."""

    name: str
    num_classes: int
    impl: str
    metric: str = "top1"
    multilabel: bool = False
    builtin: bool = False
    description: str = ""
    #: the splits :meth:`open` accepts (pretraining may use any, e.g. STL-10's ``unlabeled``)
    splits: tuple[str, ...] = SPLITS
    #: the item views :meth:`open` accepts as ``view=`` (besides the default ``eval``, on-disk sets offer
    #: ``pretrain``: whole images plus their sizes, see :class:`DiskDatasetInfo`)
    views: ClassVar[tuple[str, ...]] = ("eval",)

    def resolve_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The loader options of :meth:`open` with their defaults; unknown ones are a :class:`DatasetError`.
        A dataset without options (the built-in sets) accepts none."""
        if options:
            raise DatasetError(f"dataset {self.name!r} takes no loader options, got {sorted(options)}")
        return {}

    def source(self) -> Any:
        """The implementation of this dataset (its module imported on first use), built for this descriptor."""
        return load(self.impl)(self)

    def open(self, split: str, root: Path, image_size: int, **options: Any):
        """Return a ``torch.utils.data.Dataset`` for ``split`` read from ``root`` (through :meth:`source`)."""
        return self.source().open(split, root, image_size, **options)

    def check(self, root: Path) -> None:
        """Raise :class:`DatasetError` if ``root`` does not hold this dataset in the expected layout."""
        self.source().check(root)


@dataclass
class DiskDatasetInfo(DatasetInfo):
    """An on-disk dataset's descriptor.

    ``root`` (the argument of :meth:`open` and :meth:`check`) is the dataset's own directory, by default
    ``<data_root>/<name>``; ``layout`` documents what it must contain, with ``{root}`` standing for it, and
    ``split_rule`` how its splits are made. ``markers`` are paths relative to ``root`` that must exist; when
    ``root`` itself *is* the first component of the markers (e.g. the user points at
    ``.../cifar-10-batches-py``), its parent is used. ``val_fraction`` and ``resize`` are the defaults of
    those options; ``options`` the dataset's own loader options with their defaults."""

    splits: tuple[str, ...] = SPLITS
    views: ClassVar[tuple[str, ...]] = VIEWS
    layout: str = ""
    split_rule: str = ""
    val_fraction: float = 0.1
    resize: float = DEFAULT_RESIZE
    options: dict[str, Any] = field(default_factory=dict)
    markers: tuple[str, ...] = ()

    def expected(self, root: Path) -> str:
        """The documented layout with ``{root}`` filled in."""
        return self.layout.replace("{root}", str(root)).strip()

    def resolve_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """``options`` merged over the defaults; unknown names are an error (they are usually typos)."""
        known = {**COMMON_OPTIONS, **self.options}
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise DatasetError(f"dataset {self.name!r}: unknown option(s) {unknown}; known options: {sorted(known)}")
        merged = {**known, **options}
        if merged["val_fraction"] is None:
            merged["val_fraction"] = self.val_fraction
        if merged["resize"] is None:
            merged["resize"] = self.resize
        if not 0.0 < float(merged["val_fraction"]) < 1.0:
            raise DatasetError(
                f"dataset {self.name!r}: val_fraction must be strictly between 0 and 1, got {merged['val_fraction']!r}"
            )
        if merged["view"] not in VIEWS:
            raise DatasetError(f"dataset {self.name!r}: unknown view {merged['view']!r}; expected one of {VIEWS}")
        if merged["interpolation"] not in INTERPOLATIONS:
            raise DatasetError(
                f"dataset {self.name!r}: unknown interpolation {merged['interpolation']!r}; "
                f"expected one of {sorted(INTERPOLATIONS)}"
            )
        return merged

    def check_split(self, split: str) -> None:
        if split not in self.splits:
            raise DatasetError(f"dataset {self.name!r}: unknown split {split!r}; expected one of {self.splits}")

    def describe(self) -> dict[str, Any]:
        """A summary for reports and docs."""
        return {
            "name": self.name,
            "num_classes": self.num_classes,
            "metric": self.metric,
            "multilabel": self.multilabel,
            "splits": list(self.splits),
            "split_rule": self.split_rule,
            "val_fraction": self.val_fraction,
            "resize": self.resize,
            "options": dict(self.options),
            "layout": self.layout.strip(),
        }


DATASETS: Registry[DatasetInfo] = Registry("dataset")


def register_dataset(info: DatasetInfo) -> DatasetInfo:
    """Add ``info`` to :data:`DATASETS` under its name (the one registry line of a new dataset)."""
    DATASETS.add(info.name, info)
    return info
