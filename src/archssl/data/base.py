"""The dataset implementation extension point.

Every dataset, built-in or read from disk, has a descriptor in :data:`archssl.catalog.datasets.DATASETS` whose
``impl`` names its source: a :class:`DatasetSource` subclass, built for the descriptor by
:meth:`DatasetInfo.source() <archssl.catalog.datasets.base.DatasetInfo.source>`. A source opens one split as an
ordinary ``torch.utils.data.Dataset`` whose items are ``(image, target)``: ``image`` a ``uint8`` tensor of
shape ``(3, H, W)`` already resized/cropped to the study's resolution (normalisation happens later, on the
device), ``target`` an ``int`` class index, or a float multi-hot vector for multi-label sets
(``multilabel=True``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archssl.catalog.datasets import SPLITS, DatasetError, DatasetInfo


class DatasetSource:
    """Base class of one dataset's implementation; ``info`` is its descriptor (name, classes, splits, ...).
    Subclasses implement :meth:`open` (and :meth:`check` for on-disk sets)."""

    def __init__(self, info: DatasetInfo):
        self.info = info

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.info.name!r})"

    def open(self, split: str, root: Path, image_size: int, **options: Any):
        """Return a ``torch.utils.data.Dataset`` for ``split`` read from ``root``."""
        raise NotImplementedError(f"dataset {self.info.name!r} does not implement open()")

    def check(self, root: Path) -> None:
        """Raise :class:`DatasetError` if ``root`` does not hold this dataset in the expected layout."""


def check_split(name: str, split: str) -> None:
    if split not in SPLITS:
        raise DatasetError(f"dataset {name!r}: unknown split {split!r}; expected one of {SPLITS}")
