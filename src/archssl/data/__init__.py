"""Datasets: the registry, the built-in mini suite, and loaders for real datasets on disk."""

from pathlib import Path

from archssl.data.base import DATASETS, METRICS, SPLITS, DatasetError, DatasetSource
from archssl.data import mini  # noqa: F401  (registers the built-in mini suite)
from archssl.data import real  # noqa: F401  (registers the on-disk datasets)


def get_dataset(name: str) -> DatasetSource:
    return DATASETS.get(name)


def open_ref(ref, image_size: int, split: str | None = None, **extra):
    """The dataset of a plan's :class:`archssl.plan.DataRef` ``ref`` (its split unless ``split`` is given), at
    ``image_size``; a ref whose on-disk root the config does not give is a :class:`DatasetError` saying
    which keys set it."""
    if ref.root is None:
        raise DatasetError(f"dataset {ref.name!r} is read from disk: set data.data_root (or "
                           f"data.roots.{ref.name}) in the config")
    return DATASETS.get(ref.name).open(split or ref.split, Path(ref.root), int(image_size),
                                       **{**ref.options, **extra})


__all__ = ["DATASETS", "METRICS", "SPLITS", "DatasetError", "DatasetSource", "get_dataset", "open_ref"]
