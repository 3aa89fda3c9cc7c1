"""CUB-200, Stanford Dogs, MIT Indoor-67 and UIUC Sports-8: the ImageFolder layout and each archive's own."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import torch

from archssl.catalog.datasets import DATASETS, DatasetError
from support import fakes

SIZE = 16
FOLDER_SETS = ["cub200", "stanford_dogs", "mit_indoor67", "uiuc_sports8"]


def source(name: str, num_classes: int = 3):
    return dataclasses.replace(DATASETS.get(name), num_classes=num_classes)


def open_all(src, root: Path, **options):
    return {split: src.open(split, root, SIZE, **options) for split in ("train", "val", "test")}


def assert_items(ds) -> None:
    for index in sorted({0, len(ds) - 1}):
        image, target = ds[index]
        assert image.dtype == torch.uint8 and tuple(image.shape) == (3, SIZE, SIZE)
        assert isinstance(target, int) and 0 <= target < ds.num_classes


@pytest.mark.parametrize("name", FOLDER_SETS)
def test_image_folder_layout(tmp_path, name):
    info = fakes.make_image_folder(tmp_path, per_class={"train": 5, "test": 2})
    src = source(name)
    src.check(tmp_path)
    parts = open_all(src, tmp_path)
    assert {s: len(p) for s, p in parts.items()} == {"train": 12, "val": 3, "test": 6}
    assert parts["test"].classes == info["classes"] and parts["test"].metric == "top1"
    assert sorted(parts["test"].targets) == [0, 0, 1, 1, 2, 2]
    assert not set(parts["train"].ids) & set(parts["val"].ids)
    assert src.open("val", tmp_path, SIZE).ids == parts["val"].ids
    for split in parts:
        assert_items(parts[split])


def test_image_folder_own_val_folder(tmp_path):
    fakes.make_image_folder(tmp_path, per_class={"train": 3, "val": 2, "test": 1})
    parts = open_all(source("cub200"), tmp_path)
    assert {s: len(p) for s, p in parts.items()} == {"train": 9, "val": 6, "test": 3}
    assert all(i.startswith("val/") for i in parts["val"].ids)


def test_image_folder_class_mismatch_and_missing(tmp_path):
    fakes.make_image_folder(tmp_path)
    shutil.rmtree(tmp_path / "test" / "class_b")
    (tmp_path / "test" / "class_z").mkdir()
    fakes.write_image(tmp_path / "test" / "class_z" / "x.jpg", 0)
    with pytest.raises(DatasetError) as err:
        source("mit_indoor67").check(tmp_path)
    assert "classes of train/ and test/ differ" in str(err.value) and "class_z" in str(err.value)
    with pytest.raises(DatasetError) as err:
        DATASETS.get("stanford_dogs").check(tmp_path / "nowhere")
    text = str(err.value)
    assert "dataset 'stanford_dogs': directory" in text and f"{tmp_path}/nowhere/train/<class>/*.jpg" in text
    assert "train_list.mat" in text  # the alternative layout is shown too


def test_cub200_official_layout(tmp_path):
    info = fakes.make_cub200(tmp_path, n_classes=3, per_class=5)
    src = source("cub200")
    src.check(tmp_path)
    parts = open_all(src, tmp_path)
    assert len(parts["test"]) == info["n_test"] and len(parts["train"]) + len(parts["val"]) == info["n_train"]
    assert parts["test"].classes == info["classes"]
    assert all(Path(i).parent.name == info["classes"][t] for i, t in zip(parts["test"].ids, parts["test"].targets))
    assert_items(parts["train"])
    # pointing at the CUB_200_2011 folder itself works too
    assert src.open("test", tmp_path / "CUB_200_2011", SIZE).ids == parts["test"].ids


def test_cub200_label_mismatch(tmp_path):
    fakes.make_cub200(tmp_path)
    labels = tmp_path / "CUB_200_2011" / "image_class_labels.txt"
    labels.write_text(labels.read_text().replace("1 1\n", "1 2\n", 1))
    with pytest.raises(DatasetError, match="image_class_labels.txt gives .* label 2"):
        source("cub200").check(tmp_path)


def test_stanford_dogs_official_layout(tmp_path):
    info = fakes.make_stanford_dogs(tmp_path, per_class_train=3, per_class_test=2)
    src = source("stanford_dogs")
    src.check(tmp_path)
    parts = open_all(src, tmp_path)
    assert {s: len(p) for s, p in parts.items()} == {"train": 6, "val": 3, "test": 6}
    assert parts["test"].classes == info["classes"] and parts["test"].targets == [0, 0, 1, 1, 2, 2]
    assert_items(parts["val"])


def test_mit_indoor67_official_layout(tmp_path):
    info = fakes.make_mit_indoor67(tmp_path, per_class_train=3, per_class_test=2)
    src = source("mit_indoor67")
    src.check(tmp_path)
    parts = open_all(src, tmp_path)
    assert {s: len(p) for s, p in parts.items()} == {"train": 6, "val": 3, "test": 6}
    assert parts["test"].classes == info["classes"]
    assert "Images/airport_inside/unlisted.jpg" not in parts["train"].ids + parts["val"].ids + parts["test"].ids
    assert_items(parts["test"])


def test_uiuc_sports8_seeded_split(tmp_path):
    info = fakes.make_uiuc_sports8(tmp_path, per_class=7)
    src = source("uiuc_sports8")
    src.check(tmp_path)
    parts = open_all(src, tmp_path, train_per_class=4, test_per_class=2)
    assert len(parts["train"]) + len(parts["val"]) == 12 and len(parts["test"]) == 6
    assert parts["test"].classes == info["classes"]
    again = open_all(src, tmp_path, train_per_class=4, test_per_class=2)
    assert all(again[s].ids == parts[s].ids for s in parts)
    ids = [set(parts[s].ids) for s in parts]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert_items(parts["train"])
