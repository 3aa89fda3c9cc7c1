"""The descriptors of the small-image datasets stored as arrays: CIFAR-10, CIFAR-100, SVHN, STL-10 (read by
:mod:`archssl.data.real.lowres`). Their images are already tight crops, so they default to ``resize=1.0``."""

from __future__ import annotations

from archssl.catalog.datasets.base import SPLITS, DiskDatasetInfo

_IMPL = "archssl.data.real.lowres"
_CIFAR_SPLIT_RULE = "train/test as distributed; val: seeded stratified val_fraction of train"

INFOS = (
    DiskDatasetInfo(
        name="cifar10",
        impl=f"{_IMPL}:CifarSource",
        num_classes=10,
        description="CIFAR-10 (python version), 50,000 train / 10,000 test, 32x32",
        layout="""
{root}/cifar-10-batches-py/{data_batch_1 .. data_batch_5, test_batch, batches.meta}
(the 'CIFAR-10 python version' archive cifar-10-python.tar.gz extracted into {root})""",
        split_rule=_CIFAR_SPLIT_RULE,
        markers=tuple(
            f"cifar-10-batches-py/{n}"
            for n in [
                "data_batch_1",
                "data_batch_2",
                "data_batch_3",
                "data_batch_4",
                "data_batch_5",
                "test_batch",
                "batches.meta",
            ]
        ),
        resize=1.0,
    ),
    DiskDatasetInfo(
        name="cifar100",
        impl=f"{_IMPL}:CifarSource",
        num_classes=100,
        description="CIFAR-100 (python version, fine labels), 50,000 train / 10,000 test, 32x32",
        layout="""
{root}/cifar-100-python/{train, test, meta}
(the 'CIFAR-100 python version' archive cifar-100-python.tar.gz extracted into {root})""",
        split_rule=_CIFAR_SPLIT_RULE,
        markers=("cifar-100-python/train", "cifar-100-python/test", "cifar-100-python/meta"),
        resize=1.0,
    ),
    DiskDatasetInfo(
        name="svhn",
        impl=f"{_IMPL}:SvhnSource",
        num_classes=10,
        description="SVHN cropped digits (format 2), 73,257 train / 26,032 test, 32x32",
        layout="""
{root}/train_32x32.mat
{root}/test_32x32.mat
(the format-2 'cropped digits' files; extra_32x32.mat is not used)""",
        split_rule="train/test as distributed; val: seeded stratified val_fraction of train",
        markers=("train_32x32.mat", "test_32x32.mat"),
        resize=1.0,
    ),
    DiskDatasetInfo(
        name="stl10",
        impl=f"{_IMPL}:Stl10Source",
        num_classes=10,
        description="STL-10 binary version, 5,000 train / 8,000 test / 100,000 unlabeled, 96x96",
        layout="""
{root}/stl10_binary/{train_X.bin, train_y.bin, test_X.bin, test_y.bin, unlabeled_X.bin}
{root}/stl10_binary/{class_names.txt, fold_indices.txt}   (optional; needed for option fold)
(the archive stl10_binary.tar.gz extracted into {root})""",
        split_rule=(
            "train/test as distributed; val: seeded stratified val_fraction of train (or of the fold); "
            "unlabeled and train+unlabeled for pretraining (target -1 for unlabeled items)"
        ),
        splits=SPLITS + ("unlabeled", "train+unlabeled"),
        markers=tuple(f"stl10_binary/{n}" for n in ("train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin")),
        resize=1.0,
        options={"fold": None},
    ),
)
