"""The dataset extension point.

Every dataset, built-in or read from disk, is a :class:`DatasetSource` registered in :data:`DATASETS`.
A source opens one split as an ordinary ``torch.utils.data.Dataset`` whose items are
``(image, target)``: ``image`` a ``uint8`` tensor of shape ``(3, H, W)`` already resized/cropped to the
study's resolution (normalisation happens later, on the device), ``target`` an ``int`` class index, or a
float multi-hot vector for multi-label sets (``multilabel=True``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from archssl.registry import Registry

SPLITS = ("train", "val", "test")
METRICS = ("top1", "mean_per_class", "map11")


class DatasetError(RuntimeError):
    """A dataset that is missing or malformed. The message names the dataset, the path and what was expected."""


@dataclass
class DatasetSource:
    """Base class for one dataset. Subclasses implement :meth:`open` (and :meth:`check` for on-disk sets)."""

    name: str
    num_classes: int
    metric: str = "top1"
    multilabel: bool = False
    builtin: bool = False
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    #: the splits :meth:`open` accepts (pretraining may use any, e.g. STL-10's ``unlabeled``)
    splits: tuple[str, ...] = SPLITS
    #: the item views :meth:`open` accepts as ``view=`` (besides the default ``eval``, on-disk sets offer
    #: ``pretrain``: whole images plus their sizes, see :class:`archssl.data.real.common.RealDatasetSource`)
    views: ClassVar[tuple[str, ...]] = ("eval",)

    def open(self, split: str, root: Path, image_size: int, **options: Any):
        """Return a ``torch.utils.data.Dataset`` for ``split`` read from ``root``."""
        raise NotImplementedError(f"dataset {self.name!r} does not implement open()")

    def resolve_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """The loader options of :meth:`open` with their defaults; unknown ones are a :class:`DatasetError`.
        A source without options (the built-in sets) accepts none."""
        if options:
            raise DatasetError(f"dataset {self.name!r} takes no loader options, got {sorted(options)}")
        return {}

    def check(self, root: Path) -> None:
        """Raise :class:`DatasetError` if ``root`` does not hold this dataset in the expected layout."""


DATASETS: Registry[DatasetSource] = Registry("dataset")


def check_split(name: str, split: str) -> None:
    if split not in SPLITS:
        raise DatasetError(f"dataset {name!r}: unknown split {split!r}; expected one of {SPLITS}")
