"""ImageNet, iNaturalist 2021 and Places205 from tiny copies of their on-disk layouts."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import torch

from archssl.catalog.datasets import DATASETS, DatasetError
from support import fakes

SIZE = 20


def source(name: str, num_classes: int):
    return dataclasses.replace(DATASETS.get(name), num_classes=num_classes)


def open_all(src, root: Path, **options):
    return {split: src.open(split, root, SIZE, **options) for split in ("train", "val", "test")}


def assert_items(ds) -> None:
    for index in sorted({0, len(ds) - 1}):
        image, target = ds[index]
        assert image.dtype == torch.uint8 and tuple(image.shape) == (3, SIZE, SIZE)
        assert isinstance(target, int) and 0 <= target < ds.num_classes


# --------------------------------------------------------------------------------------------------------
# ImageNet


@pytest.mark.parametrize("layout", ["imagefolder", "meta", "flat_val"])
def test_imagenet_layouts(tmp_path, layout):
    info = fakes.make_imagenet(
        tmp_path, per_class_train=4, per_class_val=2, meta=layout == "meta", flat_val=layout == "flat_val"
    )
    src = source("imagenet", 3)
    src.check(tmp_path)
    parts = open_all(src, tmp_path)
    assert {s: len(p) for s, p in parts.items()} == {"train": 9, "val": 3, "test": 6}
    assert parts["train"].classes == info["classes"]
    index = {w: i for i, w in enumerate(info["classes"])}
    by_id = dict(zip(parts["test"].ids, parts["test"].targets))
    for n, wnid in enumerate(info["val_wnids"]):
        name = f"ILSVRC2012_val_{n + 1:08d}.JPEG"
        key = f"val/{name}" if layout == "flat_val" else f"val/{wnid}/{name}"
        assert by_id[key] == index[wnid]
    assert sorted(set(parts["val"].targets)) == [0, 1, 2] and not set(parts["val"].ids) & set(parts["train"].ids)
    for split in parts:
        assert_items(parts[split])
    # the held-out split does not depend on the layout
    assert parts["val"].ids == src.open("val", tmp_path, SIZE).ids
    assert all(i.startswith("train/") for i in parts["val"].ids)


def test_imagenet_val_split_is_the_same_across_layouts(tmp_path):
    fakes.make_imagenet(tmp_path / "a")
    fakes.make_imagenet(tmp_path / "b", meta=True)
    src = source("imagenet", 3)
    assert src.open("val", tmp_path / "a", SIZE).ids == src.open("val", tmp_path / "b", SIZE).ids


def test_imagenet_mismatched_classes_and_flat_val_without_meta(tmp_path):
    fakes.make_imagenet(tmp_path)
    shutil.rmtree(tmp_path / "val" / "n01484850")
    with pytest.raises(DatasetError) as err:
        source("imagenet", 3).check(tmp_path)
    assert "dataset 'imagenet'" in str(err.value) and "found 2 classes in val/, expected 3" in str(err.value)
    flat = tmp_path / "flat"
    fakes.make_imagenet(flat, flat_val=True)
    (flat / "meta.bin").unlink()
    with pytest.raises(DatasetError, match="val/ has no class folders and there is no meta.bin"):
        source("imagenet", 3).check(flat)
    with pytest.raises(DatasetError, match="found 3 classes in train/, expected 1000"):
        DATASETS.get("imagenet").check(tmp_path / "flat")


def test_imagenet_missing(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(DatasetError) as err:
        DATASETS.get("imagenet").check(tmp_path)
    text = str(err.value)
    assert "dataset 'imagenet': not found or incomplete" in text and f"missing: {tmp_path}/val" in text
    assert f"{tmp_path}/train/<wnid>/*.JPEG" in text


# --------------------------------------------------------------------------------------------------------
# iNaturalist 2021


def test_inat2021_official_and_torchvision_names(tmp_path):
    info = fakes.make_inat2021(tmp_path / "official", n_classes=3, per_class_train=4, per_class_val=2)
    fakes.make_inat2021(tmp_path / "tv", n_classes=3, per_class_train=4, per_class_val=2, torchvision_names=True)
    src = source("inat2021", 3)
    for root in (tmp_path / "official", tmp_path / "tv"):
        src.check(root)
    official, tv = open_all(src, tmp_path / "official"), open_all(src, tmp_path / "tv")
    assert {s: len(p) for s, p in official.items()} == {"train": 9, "val": 3, "test": 6}
    assert official["train"].classes == info["classes"]
    assert sorted(official["test"].targets) == [0, 0, 1, 1, 2, 2]
    for split in official:
        assert official[split].ids == tv[split].ids and official[split].targets == tv[split].targets
        assert_items(official[split])


def test_inat2021_train_mini(tmp_path):
    fakes.make_inat2021(tmp_path, n_classes=3, per_class_train=4, train_mini=True)
    src = source("inat2021", 3)
    full = src.open("train", tmp_path, SIZE)
    mini = src.open("train", tmp_path, SIZE, train_set="train_mini")
    mini_val = src.open("val", tmp_path, SIZE, train_set="train_mini")
    assert len(mini) + len(mini_val) == 6 and len(full) == 9
    with pytest.raises(DatasetError, match="train_set"):
        src.open("train", tmp_path, SIZE, train_set="mini")


def test_inat2021_bad_category_name_and_missing_val(tmp_path):
    fakes.make_inat2021(tmp_path, n_classes=3)
    (tmp_path / "train" / fakes.inat_category(2)).rename(tmp_path / "train" / "00002_Birds")
    with pytest.raises(DatasetError, match="dataset 'inat2021': malformed"):
        source("inat2021", 3).open("train", tmp_path, SIZE)
    shutil.rmtree(tmp_path / "val")
    with pytest.raises(DatasetError) as err:
        source("inat2021", 3).check(tmp_path)
    assert f"missing: {tmp_path}/val" in str(err.value) and "val.tar.gz extracted" in str(err.value)


# --------------------------------------------------------------------------------------------------------
# Places205


@pytest.mark.parametrize("nested", [False, True])
def test_places205_list_files(tmp_path, nested):
    info = fakes.make_places205(tmp_path, per_class_train=4, per_class_val=2, nested=nested)
    src = source("places205", 3)
    src.check(tmp_path)
    parts = open_all(src, tmp_path)
    assert {s: len(p) for s, p in parts.items()} == {"train": 9, "val": 3, "test": 6}
    assert parts["test"].classes == info["classes"] and sorted(parts["test"].targets) == [0, 0, 1, 1, 2, 2]
    for split in parts:
        assert_items(parts[split])


def test_places205_inconsistent_labels(tmp_path):
    fakes.make_places205(tmp_path)
    listing = tmp_path / "trainvalsplit_places205" / "train_places205.csv"
    lines = listing.read_text().splitlines()
    lines[0] = lines[0].rsplit(" ", 1)[0] + " 2"
    listing.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match="label 2 is used for both"):
        source("places205", 3).check(tmp_path)
