"""The datasets' descriptors (:class:`~archssl.catalog.datasets.base.DatasetInfo`), one module per group of
datasets read by one implementation module, registered in :data:`DATASETS`; the implementations (the mini
suite's generator, the readers of on-disk sets) live in :mod:`archssl.data`.

=============  ============================================  =========================================
module         datasets                                      implementation
=============  ============================================  =========================================
``mini``       pool, digits, faces, textures, photo_source,  :mod:`archssl.data.mini`
               shape, count, position, orientation
``large``      imagenet, inat2021, places205                 :mod:`archssl.data.real.large`
``lowres``     cifar10, cifar100, svhn, stl10                :mod:`archssl.data.real.lowres`
``transfer``   fgvc_aircraft, stanford_cars, flowers102,     :mod:`archssl.data.real.transfer`
               oxford_pets, dtd, food101, caltech101,
               sun397, voc2007
``folders``    cub200, stanford_dogs, mit_indoor67,          :mod:`archssl.data.real.folders`
               uiuc_sports8
=============  ============================================  =========================================

Adding a dataset is its descriptor in one of these modules (or a new module listed in :data:`BUILTIN`) and
its implementation, the class its ``impl`` names.
"""

from __future__ import annotations

from archssl.catalog.datasets import folders, large, lowres, mini, transfer
from archssl.catalog.datasets.base import (COMMON_OPTIONS, DATASETS, DEFAULT_RESIZE, INTERPOLATIONS, METRICS, SPLITS,
                                           VIEWS, DatasetError, DatasetInfo, DiskDatasetInfo, register_dataset)

#: the built-in descriptor modules (each lists its descriptors in ``INFOS``)
BUILTIN = (mini, large, lowres, transfer, folders)
for _module in BUILTIN:
    for _info in _module.INFOS:
        register_dataset(_info)

__all__ = ["BUILTIN", "COMMON_OPTIONS", "DATASETS", "DEFAULT_RESIZE", "DatasetError", "DatasetInfo",
           "DiskDatasetInfo", "INTERPOLATIONS", "METRICS", "SPLITS", "VIEWS", "register_dataset"]
