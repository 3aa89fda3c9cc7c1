"""The descriptors of the large pretraining-scale sets: ImageNet-1K (ILSVRC2012), iNaturalist 2021 and
Places205 (read by :mod:`archssl.data.real.large`).

Their official validation sets serve as the test split (test labels are not public), and ``val`` is a
seeded, stratified part of train held out for model selection. The default ``val_fraction`` keeps that
part at roughly 50,000 images (4% of ImageNet, 2% of iNat2021 and Places205); it is configurable.
"""

from __future__ import annotations

from archssl.catalog.datasets.base import DiskDatasetInfo

_IMPL = "archssl.data.real.large"
_HELD_OUT = "val: seeded stratified val_fraction of train"

INFOS = (
    DiskDatasetInfo(
        name="imagenet",
        impl=f"{_IMPL}:ImageNetSource",
        num_classes=1000,
        description="ImageNet-1K (ILSVRC2012), 1,281,167 train / 50,000 val (used as test)",
        layout="""
{root}/train/<wnid>/*.JPEG            (1,000 folders n01440764 ... n15075141)
{root}/val/<wnid>/*.JPEG              (ImageFolder layout, as left by the devkit's valprep script)
  or {root}/val/ILSVRC2012_val_*.JPEG with {root}/meta.bin (torchvision's ImageNet layout; meta.bin is
  written by torchvision.datasets.ImageNet from ILSVRC2012_devkit_t12.tar.gz)""",
        split_rule=f"test: the official val set; {_HELD_OUT}",
        markers=("train", "val"),
        val_fraction=0.04,
    ),
    DiskDatasetInfo(
        name="inat2021",
        impl=f"{_IMPL}:INat2021Source",
        num_classes=10000,
        description="iNaturalist 2021, 10,000 species, 2,686,843 train (500,000 train_mini) / 100,000 val (used as test)",
        layout="""
{root}/train/<NNNNN_Kingdom_Phylum_Class_Order_Family_Genus_species>/*.jpg   (train.tar.gz extracted)
{root}/train_mini/<same 10,000 folders>/*.jpg                                 (optional, option train_set)
{root}/val/<same 10,000 folders>/*.jpg                                        (val.tar.gz extracted)
(torchvision's folder names 2021_train, 2021_train_mini, 2021_valid work too)""",
        split_rule=f"test: the official val set; train from train_set (train or train_mini); {_HELD_OUT}",
        val_fraction=0.02,
        options={"train_set": "train"},
    ),
    DiskDatasetInfo(
        name="places205",
        impl=f"{_IMPL}:Places205Source",
        num_classes=205,
        description="Places205, 2,448,873 train / 20,500 val (used as test)",
        layout="""
{root}/trainvalsplit_places205/{train_places205.csv, val_places205.csv}   ('<letter>/<class>/<file>.jpg <label>')
{root}/images256/<letter>/<class>/*.jpg
  (or {root}/data/vision/torralba/deeplearning/images256/..., as imagesPlaces205_resize.tar.gz extracts)""",
        split_rule=f"test: the official val list; {_HELD_OUT}",
        val_fraction=0.02,
    ),
)
