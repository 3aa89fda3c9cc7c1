"""Datasets: the registry, the built-in mini suite, and loaders for real datasets on disk."""

from archssl.data.base import DATASETS, METRICS, SPLITS, DatasetError, DatasetSource
from archssl.data import mini  # noqa: F401  (registers the built-in mini suite)
from archssl.data import real  # noqa: F401  (registers the on-disk datasets)


def get_dataset(name: str) -> DatasetSource:
    return DATASETS.get(name)


__all__ = ["DATASETS", "METRICS", "SPLITS", "DatasetError", "DatasetSource", "get_dataset"]
