"""The Kornblith et al. transfer sets, each read through its real code path (torchvision's class where
one is used) from a tiny copy in the real on-disk format."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from archssl.catalog.datasets import DATASETS, DatasetError
from archssl.data.real.transfer import VOC_CLASSES
from support import fakes

SIZE = 24


def source(name: str, num_classes: int | None = None):
    """The registered source, with ``num_classes`` shrunk to the tiny copy's where needed."""
    src = DATASETS.get(name)
    return src if num_classes is None else dataclasses.replace(src, num_classes=num_classes)


def open_all(src, root: Path, **options):
    return {split: src.open(split, root, SIZE, **options) for split in ("train", "val", "test")}


def assert_items(ds) -> None:
    for index in sorted({0, len(ds) - 1}):
        image, target = ds[index]
        assert image.dtype == torch.uint8 and tuple(image.shape) == (3, SIZE, SIZE)
        if ds.multilabel:
            assert target.dtype == torch.float32 and tuple(target.shape) == (ds.num_classes,)
        else:
            assert isinstance(target, int) and 0 <= target < ds.num_classes


def assert_heldout(parts, src, root: Path, train_pool: list[int]) -> None:
    """val is a stratified part of the training pool, disjoint from train, and reproducible."""
    train, val = parts["train"], parts["val"]
    assert sorted(train.targets + val.targets) == sorted(train_pool)
    assert not set(train.ids) & set(val.ids)
    assert sorted(set(val.targets)) == sorted(set(train_pool))
    assert src.open("val", root, SIZE).ids == val.ids


def test_fgvc_aircraft_variant_splits(tmp_path):
    info = fakes.make_fgvc_aircraft(tmp_path, per_class=2)
    src = source("fgvc_aircraft", 3)
    src.check(tmp_path)
    parts = open_all(src, tmp_path)
    for split in ("train", "val", "test"):
        assert parts[split].targets == info[f"{split}_labels"]
        assert_items(parts[split])
    assert parts["test"].metric == "mean_per_class"
    assert parts["train"].classes == ["707-320", "A300B4", "Cessna 172"]  # names with spaces survive
    # the real set has 100 variants
    with pytest.raises(DatasetError, match="found 3 classes in data/variants.txt, expected 100"):
        DATASETS.get("fgvc_aircraft").check(tmp_path)


def test_fgvc_aircraft_unknown_variant_is_malformed(tmp_path):
    fakes.make_fgvc_aircraft(tmp_path)
    listing = tmp_path / "fgvc-aircraft-2013b" / "data" / "images_variant_val.txt"
    listing.write_text(listing.read_text().replace("A300B4", "A380"))
    with pytest.raises(DatasetError, match=r"dataset 'fgvc_aircraft': malformed .*A380"):
        source("fgvc_aircraft", 3).check(tmp_path)


def test_stanford_cars_torchvision_layout(tmp_path):
    info = fakes.make_stanford_cars(tmp_path, n_classes=3, per_class_train=3, per_class_test=2)
    src = source("stanford_cars", 3)
    src.check(tmp_path)
    parts = open_all(src, tmp_path)
    assert (len(parts["train"]), len(parts["val"]), len(parts["test"])) == (6, 3, 6)
    assert parts["test"].targets == info["test_labels"] and parts["test"].classes == info["classes"]
    assert_heldout(parts, src, tmp_path, info["train_labels"])
    assert_items(parts["val"])


def test_stanford_cars_missing_test_annotations(tmp_path):
    fakes.make_stanford_cars(tmp_path)
    (tmp_path / "stanford_cars" / "cars_test_annos_withlabels.mat").unlink()
    with pytest.raises(DatasetError) as err:
        source("stanford_cars", 3).check(tmp_path)
    assert "dataset 'stanford_cars'" in str(err.value) and "cars_test_annos_withlabels.mat" in str(err.value)
    assert f"{tmp_path}/stanford_cars/devkit/" in str(err.value)


def test_flowers102_own_splits(tmp_path):
    info = fakes.make_flowers102(tmp_path, n_classes=3)
    src = source("flowers102")  # 102 classes; the copy uses labels 1..3
    src.check(tmp_path)
    parts = open_all(src, tmp_path)
    for split in ("train", "val", "test"):
        assert parts[split].targets == info[f"{split}_labels"]
        assert_items(parts[split])
    assert parts["train"].classes[0] == "pink primrose" and parts["test"].metric == "mean_per_class"


def test_flowers102_label_out_of_range(tmp_path):
    from scipy.io import savemat

    fakes.make_flowers102(tmp_path)
    savemat(str(tmp_path / "flowers-102" / "imagelabels.mat"), {"labels": np.array([[1, 2, 200] * 7])})
    with pytest.raises(DatasetError, match=r"imagelabels.mat has labels outside 0..101"):
        source("flowers102").check(tmp_path)


def test_oxford_pets_trainval_heldout(tmp_path):
    info = fakes.make_oxford_pets(tmp_path, per_class_trainval=5, per_class_test=2)
    src = source("oxford_pets", 3)
    src.check(tmp_path)
    parts = open_all(src, tmp_path)
    assert (len(parts["train"]), len(parts["val"]), len(parts["test"])) == (12, 3, 6)  # 20% of 5 per class
    assert parts["test"].targets == info["test_labels"]
    assert parts["train"].classes == ["Abyssinian", "Bengal", "Beagle"]
    assert_heldout(parts, src, tmp_path, info["trainval_labels"])
    assert "oxford-iiit-pet/images/Abyssinian_1.jpg" in parts["train"].ids + parts["val"].ids  # the grey one
    for split in parts:
        assert_items(parts[split])


def test_dtd_partitions(tmp_path):
    info = fakes.make_dtd(tmp_path, per_class=2, partitions=2)
    src = source("dtd", 3)
    src.check(tmp_path)
    parts = open_all(src, tmp_path)
    for split in ("train", "val", "test"):
        assert parts[split].ids == sorted(f"dtd/dtd/images/{r}" for r in info[f"{split}1"])
        assert sorted(parts[split].targets) == [0, 0, 1, 1, 2, 2]
        assert_items(parts[split])
    p2 = src.open("train", tmp_path, SIZE, partition=2)
    assert p2.ids == sorted(f"dtd/dtd/images/{r}" for r in info["train2"]) and p2.ids != parts["train"].ids
    with pytest.raises(DatasetError, match="test3.txt"):
        src.open("test", tmp_path, SIZE, partition=3)
    # a root that is itself the 'dtd' folder holding the extracted archive
    assert len(src.open("test", tmp_path / "dtd", SIZE)) == 6


def test_dtd_split_file_naming_unknown_class(tmp_path):
    fakes.make_dtd(tmp_path)
    (tmp_path / "dtd" / "dtd" / "labels" / "val1.txt").write_text("woven/woven_0001.jpg\n")
    with pytest.raises(DatasetError, match=r"labels/val1.txt names classes without an image folder: \['woven'\]"):
        source("dtd", 3).check(tmp_path)


def test_food101_json_meta(tmp_path):
    info = fakes.make_food101(tmp_path, per_class_train=3, per_class_test=2)
    src = source("food101", 3)
    src.check(tmp_path)
    parts = open_all(src, tmp_path)
    assert (len(parts["train"]), len(parts["val"]), len(parts["test"])) == (6, 3, 6)
    assert parts["test"].targets == info["test_labels"] and parts["test"].classes == info["classes"]
    assert_heldout(parts, src, tmp_path, info["train_labels"])
    assert_items(parts["train"])


def test_caltech101_seeded_per_class_split(tmp_path):
    info = fakes.make_caltech101(tmp_path, per_class=8)
    src = source("caltech101", 4)
    src.check(tmp_path)
    parts = open_all(src, tmp_path, train_per_class=6)
    # 6 per class for train+val (val 1/6 of them = 1 per class), the rest test
    assert (len(parts["train"]), len(parts["val"])) == (20, 4)
    assert len(parts["test"]) == sum(info["counts"].values()) - 24
    assert parts["train"].classes == info["classes"] and parts["train"].classes[0] == "BACKGROUND_Google"
    ids = [set(parts[s].ids) for s in parts]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    again = open_all(src, tmp_path, train_per_class=6)
    assert all(again[s].ids == parts[s].ids for s in parts)
    assert open_all(src, tmp_path, train_per_class=6, seed=1)["test"].ids != parts["test"].ids
    assert parts["test"].metric == "mean_per_class"
    assert_items(parts["test"])


def test_caltech101_torchvision_layout_matches(tmp_path):
    fakes.make_caltech101(tmp_path / "a")
    fakes.make_caltech101(tmp_path / "b", torchvision_layout=True)
    src = source("caltech101", 4)
    a = src.open("val", tmp_path / "a", SIZE, train_per_class=6)
    b = src.open("val", tmp_path / "b", SIZE, train_per_class=6)
    assert a.ids == b.ids and a.targets == b.targets


def test_sun397_partition_and_fallback(tmp_path):
    info = fakes.make_sun397(tmp_path / "p", per_class=6)
    src = source("sun397", 3)
    src.check(tmp_path / "p")
    parts = open_all(src, tmp_path / "p")
    assert parts["test"].ids == sorted(r.lstrip("/") for r in info["test"])
    assert sorted(parts["train"].ids + parts["val"].ids) == sorted(r.lstrip("/") for r in info["train"])
    assert len(parts["val"]) == 3  # 20% of 3 per class, at least one
    assert parts["train"].classes == ["abbey", "apartment_building/outdoor", "bedroom"]
    assert_items(parts["test"])
    fakes.make_sun397(tmp_path / "s", per_class=6, partitions=False)
    seeded = open_all(src, tmp_path / "s")
    assert len(seeded["test"]) == 9 and len(seeded["train"]) + len(seeded["val"]) == 9  # 50/50 of 6 per class
    assert open_all(src, tmp_path / "s")["test"].ids == seeded["test"].ids


def test_sun397_partition_listing_missing_image(tmp_path):
    info = fakes.make_sun397(tmp_path, per_class=6)
    (tmp_path / "SUN397" / info["test"][0].lstrip("/")).unlink()
    with pytest.raises(DatasetError, match="Testing_01.txt lists 1 images not found"):
        source("sun397", 3).open("test", tmp_path, SIZE)


def test_voc2007_multilabel_targets(tmp_path):
    info = fakes.make_voc2007(tmp_path)
    src = source("voc2007")
    src.check(tmp_path)
    parts = open_all(src, tmp_path)
    assert {s: len(p) for s, p in parts.items()} == {"train": 4, "val": 3, "test": 5}
    test = parts["test"]
    assert test.metric == "map11" and test.multilabel and test.classes == VOC_CLASSES
    for row, image_id in zip(test.targets, test.ids):
        expected = {VOC_CLASSES.index(name) for name, _ in info["objects"][image_id]}
        assert set(np.flatnonzero(row)) == expected
    for split in parts:
        assert_items(parts[split])
    # image 000002 has car (easy and difficult) and bus (only difficult)
    row = lambda ds, i: ds.targets[ds.ids.index(i)]
    car, bus = VOC_CLASSES.index("car"), VOC_CLASSES.index("bus")
    ignore = src.open("train", tmp_path, SIZE, difficult="ignore")
    negative = src.open("train", tmp_path, SIZE, difficult="negative")
    assert (row(ignore, "000002")[car], row(ignore, "000002")[bus]) == (1.0, -1.0)
    assert (row(negative, "000002")[car], row(negative, "000002")[bus]) == (1.0, 0.0)
    assert (row(parts["train"], "000002")[car], row(parts["train"], "000002")[bus]) == (1.0, 1.0)
    _, target = ignore[ignore.ids.index("000002")]
    assert target[bus].item() == -1.0


def test_voc2007_missing_test_list_and_bad_class(tmp_path):
    fakes.make_voc2007(tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "VOCdevkit", copy / "VOCdevkit")
    (copy / "VOCdevkit" / "VOC2007" / "ImageSets" / "Main" / "test.txt").unlink()
    with pytest.raises(DatasetError) as err:
        source("voc2007").check(copy)
    assert "dataset 'voc2007'" in str(err.value) and "ImageSets/Main/test.txt" in str(err.value)
    xml = tmp_path / "VOCdevkit" / "VOC2007" / "Annotations" / "000001.xml"
    xml.write_text(xml.read_text().replace("<name>cat</name>", "<name>unicorn</name>"))
    with pytest.raises(DatasetError, match="unknown class 'unicorn'"):
        source("voc2007").open("train", tmp_path, SIZE)
