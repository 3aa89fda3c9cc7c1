"""Datasets, the implementations: the built-in mini suite (:mod:`archssl.data.mini`), the readers of real
datasets on disk (:mod:`archssl.data.real`), preprocessing, loading, ``archssl data check``, and
:func:`open_ref`. The descriptors (``DATASETS``, ``DatasetError``, ``SPLITS``, ``METRICS``) are
:mod:`archssl.catalog.datasets`; each names its source here as its ``impl``."""

from pathlib import Path

from archssl.catalog.datasets import DATASETS, DatasetError


def open_ref(ref, image_size: int, split: str | None = None, **extra):
    """The dataset of a plan's :class:`archssl.plan.DataRef` ``ref`` (its split unless ``split`` is given), at
    ``image_size``, opened by the source its descriptor names; a ref whose on-disk root the config does not
    give is a :class:`DatasetError` saying which keys set it."""
    if ref.root is None:
        raise DatasetError(f"dataset {ref.name!r} is read from disk: set data.data_root (or "
                           f"data.roots.{ref.name}) in the config")
    return DATASETS.get(ref.name).source().open(split or ref.split, Path(ref.root), int(image_size),
                                                **{**ref.options, **extra})


__all__ = ["open_ref"]
