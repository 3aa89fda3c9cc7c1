"""Real-dataset machinery: preprocessing, seeded splits, options, the registry, and the array datasets
(CIFAR-10/100, SVHN, STL-10) read from tiny copies in their real on-disk formats."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from archssl.catalog.datasets import DATASETS, METRICS, DatasetError, DiskDatasetInfo
from archssl.data.preprocess import (
    DEFAULT_RESIZE,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageLoader,
    Preprocess,
    normalize,
    resized_short_side,
)
from archssl.data.real.common import (
    RealDatasetSource,
    Selection,
    holdout,
    per_class_split,
    stable_key,
)
from support import fakes

EXPECTED = {  # name: (num_classes, metric)
    "imagenet": (1000, "top1"),
    "inat2021": (10000, "top1"),
    "places205": (205, "top1"),
    "cifar10": (10, "top1"),
    "cifar100": (100, "top1"),
    "svhn": (10, "top1"),
    "stl10": (10, "top1"),
    "fgvc_aircraft": (100, "mean_per_class"),
    "stanford_cars": (196, "top1"),
    "flowers102": (102, "mean_per_class"),
    "oxford_pets": (37, "mean_per_class"),
    "dtd": (47, "top1"),
    "food101": (101, "top1"),
    "caltech101": (102, "mean_per_class"),
    "sun397": (397, "top1"),
    "voc2007": (20, "map11"),
    "cub200": (200, "top1"),
    "stanford_dogs": (120, "top1"),
    "mit_indoor67": (67, "top1"),
    "uiuc_sports8": (8, "top1"),
}


def assert_items(ds, size: int, n: int | None = None) -> None:
    if n is not None:
        assert len(ds) == n
    for index in sorted({0, len(ds) - 1}):
        image, target = ds[index]
        assert image.dtype == torch.uint8 and tuple(image.shape) == (3, size, size)
        assert isinstance(target, int)


# --------------------------------------------------------------------------------------------------------
# registry


def test_registry_has_every_real_dataset_with_metric_and_classes():
    for name, (num_classes, metric) in EXPECTED.items():
        source = DATASETS.get(name)
        assert isinstance(source, DiskDatasetInfo) and isinstance(source.source(), RealDatasetSource)
        assert source.name == name and not source.builtin
        assert (source.num_classes, source.metric) == (num_classes, metric)
        assert source.metric in METRICS
        assert source.layout.strip() and "{root}" in source.layout and source.split_rule
        assert {"train", "val", "test"} <= set(source.splits)
    assert DATASETS.get("voc2007").multilabel
    assert [n for n in EXPECTED if DATASETS.get(n).multilabel] == ["voc2007"]


# --------------------------------------------------------------------------------------------------------
# preprocessing


def test_resized_short_side_follows_the_resize_ratio():
    assert resized_short_side(224) == 256
    assert resized_short_side(32, 1.0) == 32
    assert resized_short_side(64, 1.5) == 96
    with pytest.raises(ValueError):
        resized_short_side(32, 0.9)


def test_preprocess_resizes_shorter_side_then_centre_crops():
    # a 40x20 image whose left and right quarters are red and blue, the middle green
    array = np.zeros((20, 40, 3), dtype=np.uint8)
    array[:, :10, 0] = 255
    array[:, 10:30, 1] = 255
    array[:, 30:, 2] = 255
    out = Preprocess(10, resize=1.0, interpolation="nearest")(Image.fromarray(array))
    assert out.dtype == torch.uint8 and tuple(out.shape) == (3, 10, 10)
    # shorter side 20 -> 10 gives 20x10; the centre 10 columns are the green middle
    assert out[1].min() == 255 and out[0].max() == 0 and out[2].max() == 0
    wide = Preprocess(10, resize=2.0, interpolation="nearest")(Image.fromarray(array))
    assert tuple(wide.shape) == (3, 10, 10)  # shorter side -> 20 (no change), crop the central 10


def test_preprocess_native_size_is_bit_exact_and_grey_becomes_rgb():
    array = fakes.pattern(3, 32, 32)
    out = Preprocess(32, resize=1.0)(array)
    assert torch.equal(out, torch.from_numpy(array).permute(2, 0, 1))
    grey = Image.fromarray(array).convert("L")
    rgb = Preprocess(16)(grey)
    assert tuple(rgb.shape) == (3, 16, 16)
    assert torch.equal(rgb[0], rgb[1]) and torch.equal(rgb[1], rgb[2])
    palette = Image.fromarray(array).convert("P")
    assert tuple(Preprocess(8)(palette).shape) == (3, 8, 8)


def test_image_loader_draft_keeps_enough_pixels(tmp_path):
    path = fakes.write_image(tmp_path / "big.jpg", 1, size=(200, 120))
    with Image.open(path) as im:
        assert im.size == (200, 120)
    drafted = ImageLoader(min_short_side=20)(path)
    assert drafted.mode == "RGB" and min(drafted.size) >= 20 and drafted.size[0] < 200
    full = ImageLoader(None)(path)
    assert full.size == (200, 120)


def test_normalize_uses_imagenet_constants():
    batch = torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)
    out = normalize(batch)
    expected = (1.0 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert out.dtype == torch.float32
    assert torch.allclose(out[0, :, 0, 0], expected)
    with pytest.raises(TypeError):
        normalize(out)
    assert DEFAULT_RESIZE == pytest.approx(256 / 224)


# --------------------------------------------------------------------------------------------------------
# splits


def _selection(n: int = 30, classes: int = 3) -> Selection:
    ids = [f"item{i:02d}" for i in range(n)]
    return Selection(None, np.arange(n), [i % classes for i in range(n)], ids, [str(c) for c in range(classes)])


def test_holdout_is_stratified_disjoint_and_seeded():
    sel = _selection()
    kept, held = holdout(sel, 0.2, seed=0)
    assert sorted(kept.ids + held.ids) == sorted(sel.ids) and not set(kept.ids) & set(held.ids)
    assert sorted(held.targets) == [0, 0, 1, 1, 2, 2]  # 20% of each class of 10
    again = holdout(sel, 0.2, seed=0)[1]
    assert again.ids == held.ids
    assert holdout(sel, 0.2, seed=1)[1].ids != held.ids
    assert held.ids == sorted(held.ids) and kept.ids == sorted(kept.ids)


def test_holdout_does_not_depend_on_listing_order():
    sel = _selection()
    shuffled = sel.take(list(np.random.default_rng(5).permutation(len(sel))))
    assert holdout(shuffled, 0.2, seed=0)[1].ids == holdout(sel, 0.2, seed=0)[1].ids


def test_holdout_is_pinned_across_machines():
    # BLAKE2 keys of (seed, id): this exact answer must come out everywhere; a change here reshuffles
    # every study's validation split.
    assert stable_key(0, "item00") == 17555846262692848092
    held = holdout(_selection(12), 0.25, seed=0)[1]
    assert held.ids == ["item01", "item03", "item05"]


def test_holdout_keeps_singleton_classes_in_train_and_rejects_bad_fractions():
    sel = Selection(None, np.arange(3), [0, 0, 1], ["a", "b", "c"], ["x", "y"])
    kept, held = holdout(sel, 0.1, seed=0)
    assert "c" in kept.ids and len(held) == 1
    with pytest.raises(ValueError):
        holdout(sel, 0.0, seed=0)


def test_per_class_split_takes_n_per_class():
    sel = _selection(30)
    first, second = per_class_split(sel, 4, seed=0)
    assert sorted(first.targets) == [0] * 4 + [1] * 4 + [2] * 4 and len(second) == 18
    first2, second2 = per_class_split(sel, 4, seed=0, n_second=3)
    assert first2.ids == first.ids and len(second2) == 9 and set(second2.ids) <= set(second.ids)


# --------------------------------------------------------------------------------------------------------
# CIFAR-10 / CIFAR-100


@pytest.fixture(scope="module")
def cifar10_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "cifar10"
    info = fakes.make_cifar10(root, per_class_train=5, per_class_test=2)
    return root, info


def test_cifar10_splits_labels_pixels(cifar10_root):
    root, info = cifar10_root
    source = DATASETS.get("cifar10")
    source.check(root)
    train, val, test = (source.open(s, root, 32) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (40, 10, 20)
    assert sorted(val.targets) == list(range(10))  # one of each class's five
    assert sorted(train.targets + val.targets) == sorted(info["train_labels"])
    assert not set(train.ids) & set(val.ids)
    assert test.targets == info["test_labels"] and test.classes == info["classes"]
    assert_items(test, 32)
    image, label = test[3]
    assert label == info["test_labels"][3]
    assert torch.equal(image, torch.from_numpy(info["images"]["test"][3]).permute(2, 0, 1))  # resize=1.0
    assert test.metric == "top1" and test.num_classes == 10
    assert_items(source.open("train", root, 24), 24)
    assert source.open("val", root, 32).ids == val.ids
    assert source.open("val", root, 32, seed=3).ids != val.ids


def test_cifar10_accepts_the_extracted_folder_itself(cifar10_root):
    root, _ = cifar10_root
    assert len(DATASETS.get("cifar10").open("test", root / "cifar-10-batches-py", 32)) == 20


def test_cifar10_missing_batch_and_corrupt_pickle(tmp_path, cifar10_root):
    root, _ = cifar10_root
    copy = tmp_path / "cifar10"
    shutil.copytree(root, copy)
    (copy / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(DatasetError) as err:
        DATASETS.get("cifar10").check(copy)
    text = str(err.value)
    assert "dataset 'cifar10'" in text and str(copy) in text and "test_batch" in text
    assert "cifar-10-batches-py/{data_batch_1 .. data_batch_5, test_batch, batches.meta}" in text
    (copy / "cifar-10-batches-py" / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(DatasetError, match="malformed data at"):
        DATASETS.get("cifar10").open("test", copy, 32)


def test_cifar100(tmp_path):
    info = fakes.make_cifar100(tmp_path / "c100", per_class_train=2, per_class_test=1)
    source = DATASETS.get("cifar100")
    source.check(tmp_path / "c100")
    train, val, test = (source.open(s, tmp_path / "c100", 16) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (100, 100, 100)
    assert sorted(val.targets) == list(range(100)) and test.targets == info["test_labels"]
    assert_items(val, 16)


# --------------------------------------------------------------------------------------------------------
# SVHN


def test_svhn_mat_files(tmp_path):
    info = fakes.make_svhn(tmp_path / "svhn", per_class_train=3, per_class_test=2)
    source = DATASETS.get("svhn")
    source.check(tmp_path / "svhn")
    train, val, test = (source.open(s, tmp_path / "svhn", 32) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (20, 10, 20)
    assert test.targets == info["test_labels"]  # label 10 in the .mat file is digit 0
    assert 0 in test.targets and 10 not in test.targets
    assert_items(train, 32)
    assert val.ids == source.open("val", tmp_path / "svhn", 32).ids


def test_svhn_wrong_shapes_are_malformed(tmp_path):
    from scipy.io import savemat

    fakes.make_svhn(tmp_path / "svhn")
    savemat(str(tmp_path / "svhn" / "test_32x32.mat"), {"X": np.zeros((28, 28, 3, 2), np.uint8), "y": np.ones((2, 1))})
    with pytest.raises(DatasetError, match=r"dataset 'svhn': malformed .*test_32x32.mat"):
        DATASETS.get("svhn").check(tmp_path / "svhn")


# --------------------------------------------------------------------------------------------------------
# STL-10


def test_stl10_all_splits_pixels_and_folds(tmp_path):
    root = tmp_path / "stl10"
    info = fakes.make_stl10(root, per_class_train=3, per_class_test=2, n_unlabeled=7, folds=2)
    source = DATASETS.get("stl10")
    source.check(root)
    sizes = {s: len(source.open(s, root, 96)) for s in source.splits}
    assert sizes == {"train": 20, "val": 10, "test": 20, "unlabeled": 7, "train+unlabeled": 37}
    test = source.open("test", root, 96)
    assert test.targets == info["test_labels"] and test.classes == info["classes"]
    image, _ = test[5]
    assert torch.equal(image, torch.from_numpy(info["images"]["test"][5]).permute(2, 0, 1))
    unlabeled = source.open("unlabeled", root, 32)
    assert set(unlabeled.targets) == {-1}
    image, target = unlabeled[6]
    assert image.dtype == torch.uint8 and tuple(image.shape) == (3, 32, 32) and target == -1
    image, _ = unlabeled[2]
    expected = Preprocess(32, resize=1.0)(info["images"]["unlabeled"][2])
    assert torch.equal(image, expected)
    fold_train = source.open("train", root, 32, fold=1)
    fold_val = source.open("val", root, 32, fold=1)
    fold_ids = {f"train/{i:05d}" for i in info["folds"][1]}
    assert set(fold_train.ids) | set(fold_val.ids) == fold_ids
    assert len(source.open("train+unlabeled", root, 32, fold=1)) == len(fold_ids) + 7
    with pytest.raises(DatasetError, match="fold"):
        source.open("train", root, 32, fold=12)


def test_stl10_unlabeled_needs_its_file(tmp_path):
    root = tmp_path / "stl10"
    fakes.make_stl10(root)
    (root / "stl10_binary" / "unlabeled_X.bin").unlink()
    source = DATASETS.get("stl10")
    assert len(source.open("test", root, 32)) == 20  # the labelled splits do not need it
    with pytest.raises(DatasetError, match="unlabeled_X.bin"):
        source.open("unlabeled", root, 32)
    with pytest.raises(DatasetError, match="unlabeled_X.bin"):
        source.check(root)


# --------------------------------------------------------------------------------------------------------
# options


def test_unknown_options_splits_and_bad_values_are_errors(cifar10_root):
    root, _ = cifar10_root
    source = DATASETS.get("cifar10")
    with pytest.raises(DatasetError, match=r"unknown option\(s\) \['val_fraktion'\]"):
        source.open("train", root, 32, val_fraktion=0.2)
    with pytest.raises(DatasetError, match="unknown split 'unlabeled'"):
        source.open("unlabeled", root, 32)
    with pytest.raises(DatasetError, match="val_fraction"):
        source.open("train", root, 32, val_fraction=1.5)
    with pytest.raises(DatasetError, match="resize"):
        source.open("train", root, 32, resize=0.5)
    with pytest.raises(DatasetError, match="interpolation"):
        source.open("train", root, 32, interpolation="cubic")
    wider = source.open("val", root, 32, val_fraction=0.4)
    assert len(wider) == 20


def test_num_classes_mismatch_is_reported(cifar10_root):
    root, _ = cifar10_root
    source = dataclasses.replace(DATASETS.get("cifar10"), num_classes=12)
    with pytest.raises(DatasetError, match="found 10 classes .* expected 12"):
        source.check(root)
