"""The descriptors of the folder-per-class datasets: CUB-200-2011, Stanford Dogs, MIT Indoor-67, UIUC
Sports-8 (read by :mod:`archssl.data.real.folders`), each in the plain ImageFolder layout or its own
archive's layout."""

from __future__ import annotations

from archssl.catalog.datasets.base import DiskDatasetInfo

_IMPL = "archssl.data.real.folders"
FOLDER_LAYOUT = """
{root}/train/<class>/*.jpg
{root}/test/<class>/*.jpg
{root}/val/<class>/*.jpg   (optional; without it val is held out from train)"""

INFOS = (
    DiskDatasetInfo(
        name="cub200",
        impl=f"{_IMPL}:CubSource",
        num_classes=200,
        description="Caltech-UCSD Birds-200-2011, 5,994 train / 5,794 test",
        layout=FOLDER_LAYOUT
        + """
or the archive's own layout (CUB_200_2011.tgz extracted into {root}):
{root}/CUB_200_2011/{images.txt, image_class_labels.txt, train_test_split.txt}
{root}/CUB_200_2011/images/<NNN.Class_name>/*.jpg""",
        split_rule="train/test as distributed (train_test_split.txt or the train/ test/ folders); "
        "val: the val/ folder if present, else a seeded stratified val_fraction of train",
    ),
    DiskDatasetInfo(
        name="stanford_dogs",
        impl=f"{_IMPL}:DogsSource",
        num_classes=120,
        description="Stanford Dogs, 120 breeds, 12,000 train / 8,580 test",
        layout=FOLDER_LAYOUT
        + """
or the archive's own layout (images.tar and lists.tar extracted into {root}):
{root}/Images/<wnid>-<Breed>/*.jpg
{root}/{train_list.mat, test_list.mat}""",
        split_rule="train/test as distributed (train_list.mat/test_list.mat or the folders); "
        "val: the val/ folder if present, else a seeded stratified val_fraction of train",
    ),
    DiskDatasetInfo(
        name="mit_indoor67",
        impl=f"{_IMPL}:IndoorSource",
        num_classes=67,
        description="MIT Indoor-67 scenes, 5,360 train / 1,340 test (80 / 20 per class)",
        layout=FOLDER_LAYOUT
        + """
or the archive's own layout (indoorCVPR_09.tar extracted into {root}, plus the split lists):
{root}/Images/<class>/*.jpg
{root}/{TrainImages.txt, TestImages.txt}   ('<class>/<file>.jpg' per line)""",
        split_rule="train/test as distributed (TrainImages.txt/TestImages.txt or the folders); "
        "val: the val/ folder if present, else a seeded stratified val_fraction of train",
    ),
    DiskDatasetInfo(
        name="uiuc_sports8",
        impl=f"{_IMPL}:SportsSource",
        num_classes=8,
        description="UIUC Sports Event (8 classes, 1,579 images)",
        layout=FOLDER_LAYOUT
        + """
or the archive's own layout (event_dataset.zip extracted into {root}; no official split):
{root}/event_img/<event>/*.jpg""",
        split_rule="train/test folders, or from event_img/ a seeded per-class split of train_per_class (70) "
        "train and test_per_class (60) test images; val: the val/ folder if present, else a seeded stratified "
        "val_fraction of train",
        options={"train_per_class": 70, "test_per_class": 60},
    ),
)
