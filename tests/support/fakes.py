"""Tiny copies of the real datasets in their real on-disk formats, for the tests (``from support import fakes``).

Each ``make_<dataset>(root, ...)`` writes a handful of small images plus the dataset's own metadata files
(pickles, ``.mat`` files, list files, XML annotations...) under ``root`` - exactly where the matching
source expects them - and returns a dict with what was written (counts per split, classes). The images
are deterministic functions of their index, so pixel-level expectations can be checked.

These copies usually have fewer classes than the real sets; open them through a copy of the source with
``num_classes`` set accordingly (``dataclasses.replace(DATASETS.get(name), num_classes=k)``).
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


def pattern(index: int, height: int = 12, width: int = 16) -> np.ndarray:
    """A deterministic ``(height, width, 3)`` uint8 image for item ``index``."""
    rng = np.random.default_rng(index)
    base = rng.integers(0, 256, size=3)
    yy, xx = np.mgrid[0:height, 0:width]
    img = (base[None, None, :] + 7 * yy[..., None] + 3 * xx[..., None] + 11 * (index % 5)) % 256
    return img.astype(np.uint8)


def write_image(path: Path, index: int, size: tuple[int, int] = (16, 12), grey: bool = False) -> Path:
    """Write ``pattern(index)`` of ``size = (width, height)`` to ``path`` (format from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(pattern(index, size[1], size[0]))
    if grey:
        image = image.convert("L")
    fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else None
    image.save(path, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return path


def _savemat(path: Path, data: dict[str, Any]) -> None:
    from scipy.io import savemat

    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(str(path), data)


def _cells(strings: Sequence[str]) -> np.ndarray:
    arr = np.empty((len(strings),), dtype=object)
    arr[:] = list(strings)
    return arr


# --------------------------------------------------------------------------------------------------------
# Array datasets


def make_cifar10(root: Path, per_class_train: int = 3, per_class_test: int = 2) -> dict[str, Any]:
    """``root/cifar-10-batches-py``: five train batches, a test batch, ``batches.meta`` (all 10 classes)."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    train_labels = [c for c in range(10) for _ in range(per_class_train)]
    test_labels = [c for c in range(10) for _ in range(per_class_test)]
    images = {
        "train": np.stack([pattern(i, 32, 32) for i in range(len(train_labels))]),
        "test": np.stack([pattern(1000 + i, 32, 32) for i in range(len(test_labels))]),
    }

    def rows(x: np.ndarray) -> np.ndarray:  # (N, 32, 32, 3) -> (N, 3072) channel-major, as CIFAR stores it
        return x.transpose(0, 3, 1, 2).reshape(len(x), -1)

    chunks = np.array_split(np.arange(len(train_labels)), 5)
    for b, idx in enumerate(chunks, start=1):
        batch = {
            "batch_label": f"training batch {b} of 5",
            "labels": [train_labels[i] for i in idx],
            "data": rows(images["train"][idx]),
            "filenames": [f"img_{i}.png" for i in idx],
        }
        with open(folder / f"data_batch_{b}", "wb") as f:
            pickle.dump(batch, f)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({"batch_label": "testing batch 1 of 1", "labels": test_labels, "data": rows(images["test"])}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": classes, "num_cases_per_batch": len(chunks[0]), "num_vis": 3072}, f)
    return {"classes": classes, "train_labels": train_labels, "test_labels": test_labels, "images": images}


def make_cifar100(root: Path, per_class_train: int = 2, per_class_test: int = 1) -> dict[str, Any]:
    """``root/cifar-100-python/{train, test, meta}`` with all 100 fine classes."""
    folder = Path(root) / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    classes = [f"class_{c:03d}" for c in range(100)]
    out: dict[str, Any] = {"classes": classes}
    for part, per_class, offset in (("train", per_class_train, 0), ("test", per_class_test, 5000)):
        labels = [c for c in range(100) for _ in range(per_class)]
        x = np.stack([pattern(offset + i, 32, 32) for i in range(len(labels))])
        with open(folder / part, "wb") as f:
            pickle.dump(
                {
                    "fine_labels": labels,
                    "coarse_labels": [c // 5 for c in labels],
                    "data": x.transpose(0, 3, 1, 2).reshape(len(x), -1),
                },
                f,
            )
        out[f"{part}_labels"] = labels
    with open(folder / "meta", "wb") as f:
        pickle.dump({"fine_label_names": classes, "coarse_label_names": [f"super_{c}" for c in range(20)]}, f)
    return out


def make_svhn(root: Path, per_class_train: int = 3, per_class_test: int = 2) -> dict[str, Any]:
    """``root/{train,test}_32x32.mat``: ``X`` (32, 32, 3, N) uint8 and ``y`` (N, 1) with 10 for digit 0."""
    out: dict[str, Any] = {}
    for part, per_class, offset in (("train", per_class_train, 0), ("test", per_class_test, 500)):
        digits = [d for d in range(10) for _ in range(per_class)]
        x = np.stack([pattern(offset + i, 32, 32) for i in range(len(digits))], axis=-1)
        y = np.array([[10 if d == 0 else d] for d in digits], dtype=np.uint8)
        _savemat(Path(root) / f"{part}_32x32.mat", {"X": x, "y": y})
        out[f"{part}_labels"] = digits
    return out


def make_stl10(
    root: Path, per_class_train: int = 3, per_class_test: int = 2, n_unlabeled: int = 7, folds: int = 10
) -> dict[str, Any]:
    """``root/stl10_binary``: ``*_X.bin`` (column-major 3x96x96 uint8 per image), ``*_y.bin`` (1-based),
    ``unlabeled_X.bin``, ``class_names.txt`` and ``fold_indices.txt``."""
    folder = Path(root) / "stl10_binary"
    folder.mkdir(parents=True, exist_ok=True)
    classes = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
    out: dict[str, Any] = {"classes": classes, "images": {}}

    def write_x(name: str, images: np.ndarray) -> None:  # (N, H, W, 3) -> STL's (N, 3, W, H) byte order
        images.transpose(0, 3, 2, 1).astype(np.uint8).tofile(folder / name)

    for part, per_class, offset in (("train", per_class_train, 0), ("test", per_class_test, 300)):
        labels = [c for c in range(10) for _ in range(per_class)]
        x = np.stack([pattern(offset + i, 96, 96) for i in range(len(labels))])
        write_x(f"{part}_X.bin", x)
        (np.array(labels, dtype=np.uint8) + 1).tofile(folder / f"{part}_y.bin")
        out[f"{part}_labels"] = labels
        out["images"][part] = x
    x = np.stack([pattern(900 + i, 96, 96) for i in range(n_unlabeled)])
    write_x("unlabeled_X.bin", x)
    out["images"]["unlabeled"] = x
    (folder / "class_names.txt").write_text("\n".join(classes) + "\n")
    n_train = len(out["train_labels"])
    fold_lines = [" ".join(str(i) for i in range(n_train) if i % folds == f) for f in range(folds)]
    (folder / "fold_indices.txt").write_text("\n".join(fold_lines) + "\n")
    out["folds"] = [[int(v) for v in line.split()] for line in fold_lines]
    return out


# --------------------------------------------------------------------------------------------------------
# Transfer-benchmark sets


def make_fgvc_aircraft(
    root: Path, classes: Sequence[str] = ("707-320", "A300B4", "Cessna 172"), per_class: int = 2
) -> dict[str, Any]:
    """``root/fgvc-aircraft-2013b/data``: images, ``variants.txt``, ``images_variant_{train,val,test}.txt``."""
    data = Path(root) / "fgvc-aircraft-2013b" / "data"
    (data / "images").mkdir(parents=True, exist_ok=True)
    (data / "variants.txt").write_text("\n".join(classes) + "\n")
    out: dict[str, Any] = {"classes": list(classes)}
    n = 0
    for split in ("train", "val", "test"):
        lines, labels = [], []
        for c, name in enumerate(classes):
            for _ in range(per_class):
                image_id = f"{1000000 + n:07d}"
                write_image(data / "images" / f"{image_id}.jpg", n, size=(20, 14))
                lines.append(f"{image_id} {name}")
                labels.append(c)
                n += 1
        (data / f"images_variant_{split}.txt").write_text("\n".join(lines) + "\n")
        out[f"{split}_labels"] = labels
    return out


def make_stanford_cars(
    root: Path, n_classes: int = 3, per_class_train: int = 3, per_class_test: int = 2
) -> dict[str, Any]:
    """torchvision's StanfordCars layout under ``root/stanford_cars`` (devkit .mat files, image folders)."""
    base = Path(root) / "stanford_cars"
    classes = [f"Make{c} Model{c} 2012" for c in range(n_classes)]
    _savemat(base / "devkit" / "cars_meta.mat", {"class_names": _cells(classes)[None, :]})
    fields = ["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname"]
    out: dict[str, Any] = {"classes": classes}
    for split, per_class, mat, folder, offset in (
        ("train", per_class_train, base / "devkit" / "cars_train_annos.mat", "cars_train", 0),
        ("test", per_class_test, base / "cars_test_annos_withlabels.mat", "cars_test", 100),
    ):
        labels = [c for c in range(n_classes) for _ in range(per_class)]
        annos = np.zeros((1, len(labels)), dtype=[(f, "O") for f in fields])
        for i, label in enumerate(labels):
            fname = f"{i + 1:05d}.jpg"
            write_image(base / folder / fname, offset + i, size=(18, 12))
            annos[0, i] = (np.uint16(1), np.uint16(1), np.uint16(17), np.uint16(11), np.uint8(label + 1), fname)
        _savemat(mat, {"annotations": annos})
        out[f"{split}_labels"] = labels
    return out


def make_flowers102(root: Path, n_classes: int = 3, per_class: dict[str, int] | None = None) -> dict[str, Any]:
    """``root/flowers-102``: ``jpg/image_NNNNN.jpg``, ``imagelabels.mat`` (1-based), ``setid.mat``."""
    per_class = per_class or {"train": 2, "val": 2, "test": 3}
    base = Path(root) / "flowers-102"
    labels, sets = [], {"trnid": [], "valid": [], "tstid": []}
    out: dict[str, Any] = {}
    for split, key in (("train", "trnid"), ("val", "valid"), ("test", "tstid")):
        out[f"{split}_labels"] = []
        for c in range(n_classes):
            for _ in range(per_class[split]):
                labels.append(c + 1)
                image_id = len(labels)
                sets[key].append(image_id)
                out[f"{split}_labels"].append(c)
                write_image(base / "jpg" / f"image_{image_id:05d}.jpg", image_id, size=(14, 20))
    _savemat(base / "imagelabels.mat", {"labels": np.array([labels], dtype=np.uint8)})
    _savemat(base / "setid.mat", {k: np.array([v], dtype=np.uint16) for k, v in sets.items()})
    return out


def make_oxford_pets(
    root: Path,
    breeds: Sequence[str] = ("Abyssinian", "Bengal", "beagle"),
    per_class_trainval: int = 4,
    per_class_test: int = 2,
) -> dict[str, Any]:
    """``root/oxford-iiit-pet``: ``images/<Breed>_<n>.jpg`` and ``annotations/{trainval,test}.txt``.
    Cats have capitalised breed names, dogs lower-case (species 1 / 2), as in the real set. The first
    image is grey, as a handful of the real ones are."""
    base = Path(root) / "oxford-iiit-pet"
    (base / "annotations").mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"classes": list(breeds)}
    n = 0
    for split, per_class in (("trainval", per_class_trainval), ("test", per_class_test)):
        lines, labels = [], []
        for c, breed in enumerate(breeds):
            species = 1 if breed[0].isupper() else 2
            for _ in range(per_class):
                n += 1
                image_id = f"{breed}_{n}"
                write_image(base / "images" / f"{image_id}.jpg", n, size=(16, 16), grey=(n == 1))
                lines.append(f"{image_id} {c + 1} {species} {c + 1}")
                labels.append(c)
        (base / "annotations" / f"{split}.txt").write_text("\n".join(lines) + "\n")
        out[f"{split}_labels"] = labels
    return out


def make_dtd(
    root: Path, classes: Sequence[str] = ("banded", "blotchy", "braided"), per_class: int = 2, partitions: int = 2
) -> dict[str, Any]:
    """torchvision's DTD layout ``root/dtd/dtd/{images/<class>/*.jpg, labels/{train,val,test}<p>.txt}``;
    partition ``p`` rotates which images of a class are train, val and test."""
    data = Path(root) / "dtd" / "dtd"
    per_image = {}
    for c, name in enumerate(classes):
        for k in range(3 * per_class):
            rel = f"{name}/{name}_{k + 1:04d}.jpg"
            write_image(data / "images" / rel, 10 * c + k, size=(15, 15))
            per_image[rel] = (c, k)
    (data / "labels").mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"classes": list(classes)}
    for p in range(1, partitions + 1):
        for s, split in enumerate(("train", "val", "test")):
            rels = [rel for rel, (c, k) in per_image.items() if (k // per_class + p - 1) % 3 == s]
            (data / "labels" / f"{split}{p}.txt").write_text("\n".join(rels) + "\n")
            out[f"{split}{p}"] = rels
    return out


def make_food101(
    root: Path,
    classes: Sequence[str] = ("apple_pie", "baby_back_ribs", "baklava"),
    per_class_train: int = 3,
    per_class_test: int = 2,
) -> dict[str, Any]:
    """``root/food-101``: ``images/<class>/<id>.jpg`` and ``meta/{train,test}.json, classes.txt, labels.txt``."""
    base = Path(root) / "food-101"
    (base / "meta").mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"classes": list(classes)}
    n = 0
    for split, per_class in (("train", per_class_train), ("test", per_class_test)):
        meta: dict[str, list[str]] = {}
        for name in classes:
            meta[name] = []
            for _ in range(per_class):
                n += 1
                write_image(base / "images" / name / f"{100000 + n}.jpg", n, size=(22, 16))
                meta[name].append(f"{name}/{100000 + n}")
        (base / "meta" / f"{split}.json").write_text(json.dumps(meta))
        out[f"{split}_labels"] = [c for c in range(len(classes)) for _ in range(per_class)]
    (base / "meta" / "classes.txt").write_text("\n".join(classes) + "\n")
    (base / "meta" / "labels.txt").write_text("\n".join(c.replace("_", " ").capitalize() for c in classes) + "\n")
    return out


def make_caltech101(
    root: Path,
    classes: Sequence[str] = ("BACKGROUND_Google", "Faces", "accordion", "airplanes"),
    per_class: int = 8,
    torchvision_layout: bool = False,
) -> dict[str, Any]:
    """``root/101_ObjectCategories/<category>/image_NNNN.jpg`` (or under ``root/caltech101`` when
    ``torchvision_layout``)."""
    folder = Path(root) / ("caltech101" if torchvision_layout else "") / "101_ObjectCategories"
    for c, name in enumerate(classes):
        for k in range(per_class + c):  # classes of different sizes
            write_image(folder / name / f"image_{k + 1:04d}.jpg", 100 * c + k, size=(17, 13))
    return {"classes": sorted(classes), "counts": {name: per_class + c for c, name in enumerate(classes)}}


def make_sun397(
    root: Path,
    classes: Sequence[str] = ("/a/abbey", "/a/apartment_building/outdoor", "/b/bedroom"),
    per_class: int = 6,
    partitions: bool = True,
) -> dict[str, Any]:
    """``root/SUN397/{ClassName.txt, <letter>/<class>/sun_*.jpg}`` and, when ``partitions``, the official
    ``root/SUN397/Partitions/{Training,Testing}_01.txt`` (half of each class each)."""
    base = Path(root) / "SUN397"
    base.mkdir(parents=True, exist_ok=True)
    (base / "ClassName.txt").write_text("\n".join(classes) + "\n")
    train, test = [], []
    for c, name in enumerate(classes):
        for k in range(per_class):
            rel = f"{name}/sun_{chr(97 + c)}{k:03d}x.jpg"
            write_image(base / rel.lstrip("/"), 50 * c + k, size=(24, 18))
            (train if k % 2 == 0 else test).append(rel)
    if partitions:
        (base / "Partitions").mkdir(exist_ok=True)
        (base / "Partitions" / "Training_01.txt").write_text("\n".join(train) + "\n")
        (base / "Partitions" / "Testing_01.txt").write_text("\n".join(test) + "\n")
    return {"classes": [c[3:] for c in classes], "train": train, "test": test}


_VOC_OBJECTS = {  # image index -> [(class, difficult)]
    0: [("dog", False), ("person", False)],
    1: [("cat", False)],
    2: [("car", False), ("car", True), ("bus", True)],
    3: [("aeroplane", False)],
    4: [("bottle", True)],
}


def _voc_xml(image_id: str, objects: Sequence[tuple[str, bool]]) -> str:
    objs = "".join(
        f"<object><name>{name}</name><pose>Unspecified</pose><truncated>0</truncated>"
        f"<difficult>{int(diff)}</difficult><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>8</xmax>"
        f"<ymax>8</ymax></bndbox></object>"
        for name, diff in objects
    )
    return (
        f"<annotation><folder>VOC2007</folder><filename>{image_id}.jpg</filename>"
        f"<size><width>16</width><height>12</height><depth>3</depth></size><segmented>0</segmented>{objs}</annotation>"
    )


def make_voc2007(root: Path, counts: dict[str, int] | None = None) -> dict[str, Any]:
    """``root/VOCdevkit/VOC2007``: ``JPEGImages``, ``Annotations`` (XML) and ``ImageSets/Main`` lists.
    Returns the objects of every image id."""
    counts = counts or {"train": 4, "val": 3, "test": 5}
    voc = Path(root) / "VOCdevkit" / "VOC2007"
    (voc / "Annotations").mkdir(parents=True, exist_ok=True)
    (voc / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
    objects: dict[str, list[tuple[str, bool]]] = {}
    splits: dict[str, list[str]] = {}
    n = 0
    for split in ("train", "val", "test"):
        splits[split] = []
        for _ in range(counts[split]):
            n += 1
            image_id = f"{n:06d}"
            objects[image_id] = _VOC_OBJECTS[n % len(_VOC_OBJECTS)]
            write_image(voc / "JPEGImages" / f"{image_id}.jpg", n)
            (voc / "Annotations" / f"{image_id}.xml").write_text(_voc_xml(image_id, objects[image_id]))
            splits[split].append(image_id)
        (voc / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(splits[split]) + "\n")
    (voc / "ImageSets" / "Main" / "trainval.txt").write_text("\n".join(splits["train"] + splits["val"]) + "\n")
    return {"objects": objects, "splits": splits}


# --------------------------------------------------------------------------------------------------------
# Large sets


def make_imagenet(
    root: Path,
    wnids: Sequence[str] = ("n01440764", "n01443537", "n01484850"),
    per_class_train: int = 4,
    per_class_val: int = 2,
    meta: bool = False,
    flat_val: bool = False,
) -> dict[str, Any]:
    """``root/train/<wnid>/<wnid>_<n>.JPEG`` and ``root/val``: ``val/<wnid>/ILSVRC2012_val_<n>.JPEG``, or with
    ``flat_val`` all val images directly in ``val/`` (labelled by ``meta.bin``, implied). ``meta`` writes
    torchvision's ``meta.bin`` (``(wnid_to_classes, val_wnids)``)."""
    import torch

    root = Path(root)
    meta = meta or flat_val
    for c, wnid in enumerate(wnids):
        for k in range(per_class_train):
            write_image(root / "train" / wnid / f"{wnid}_{k + 1}.JPEG", 100 * c + k, size=(20, 15), grey=(k == 1))
    val_wnids = [wnids[n % len(wnids)] for n in range(per_class_val * len(wnids))]
    for n, wnid in enumerate(val_wnids):
        name = f"ILSVRC2012_val_{n + 1:08d}.JPEG"
        write_image(root / "val" / ("" if flat_val else wnid) / name, 5000 + n, size=(15, 20))
    if meta:
        names = {w: (f"name{c}", f"alias{c}") for c, w in enumerate(wnids)}
        torch.save((names, val_wnids), root / "meta.bin")
    return {"classes": sorted(wnids), "val_wnids": val_wnids}


def inat_category(index: int) -> str:
    """A folder name following iNat 2021's ``NNNNN_Kingdom_Phylum_Class_Order_Family_Genus_species`` rule."""
    return f"{index:05d}_Animalia_Chordata_Aves_Order{index % 2}_Family{index}_Genus{index}_species{index}"


def make_inat2021(
    root: Path,
    n_classes: int = 3,
    per_class_train: int = 4,
    per_class_val: int = 2,
    torchvision_names: bool = False,
    train_mini: bool = False,
) -> dict[str, Any]:
    """``root/{train,val}/<category>/<uuid>.jpg`` (or ``2021_train``/``2021_valid``); ``train_mini`` adds
    ``train_mini`` with half of each class's training images."""
    root = Path(root)
    names = (
        {"train": "2021_train", "val": "2021_valid", "train_mini": "2021_train_mini"}
        if torchvision_names
        else {"train": "train", "val": "val", "train_mini": "train_mini"}
    )
    categories = [inat_category(i) for i in range(n_classes)]
    for c, category in enumerate(categories):
        for k in range(per_class_train):
            name = f"{c:02d}{k:02d}aaaa-bbbb-cccc.jpg"
            write_image(root / names["train"] / category / name, 100 * c + k, size=(18, 14))
            if train_mini and k % 2 == 0:
                write_image(root / names["train_mini"] / category / name, 100 * c + k, size=(18, 14))
        for k in range(per_class_val):
            write_image(root / names["val"] / category / f"{c:02d}{k:02d}ffff-val.jpg", 900 + 10 * c + k, size=(14, 18))
    return {"classes": categories}


def make_places205(
    root: Path,
    classes: Sequence[str] = ("a/abbey", "a/airport_terminal", "b/bedroom"),
    per_class_train: int = 4,
    per_class_val: int = 2,
    nested: bool = False,
) -> dict[str, Any]:
    """``root/trainvalsplit_places205/{train,val}_places205.csv`` and ``root/images256/<letter>/<class>/*.jpg``
    (with ``nested``: under ``root/data/vision/torralba/deeplearning/images256``)."""
    root = Path(root)
    images = root / ("data/vision/torralba/deeplearning/images256" if nested else "images256")
    (root / "trainvalsplit_places205").mkdir(parents=True, exist_ok=True)
    n = 0
    for split, per_class in (("train", per_class_train), ("val", per_class_val)):
        lines = []
        for label, name in enumerate(classes):
            for _ in range(per_class):
                n += 1
                rel = f"{name}/gsun_{n:032x}.jpg"
                write_image(images / rel, n, size=(16, 16))
                lines.append(f"{rel} {label}")
        (root / "trainvalsplit_places205" / f"{split}_places205.csv").write_text("\n".join(lines) + "\n")
    return {"classes": [c.split("/", 1)[1] for c in classes]}


# --------------------------------------------------------------------------------------------------------
# Folder-per-class sets


def make_image_folder(
    root: Path,
    classes: Sequence[str] = ("class_a", "class_b", "class_c"),
    per_class: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The ImageFolder layout ``root/<split>/<class>/*.jpg`` for the splits in ``per_class`` (default train 4,
    test 2; add ``"val"`` for an own validation folder)."""
    per_class = per_class or {"train": 4, "test": 2}
    n = 0
    for split, count in per_class.items():
        for name in classes:
            for k in range(count):
                n += 1
                write_image(Path(root) / split / name / f"{name}_{split}_{k:03d}.jpg", n, size=(19, 13))
    return {"classes": sorted(classes)}


def make_cub200(root: Path, n_classes: int = 3, per_class: int = 5) -> dict[str, Any]:
    """``root/CUB_200_2011/{images/<NNN.Name>/*.jpg, images.txt, image_class_labels.txt,
    train_test_split.txt, classes.txt}``; every other image of a class is a training image."""
    base = Path(root) / "CUB_200_2011"
    classes = [f"{c + 1:03d}.Bird_{chr(65 + c)}" for c in range(n_classes)]
    images, labels, split = [], [], []
    for c, name in enumerate(classes):
        for k in range(per_class):
            rel = f"{name}/Bird_{chr(65 + c)}_{k:04d}_{c}.jpg"
            write_image(base / "images" / rel, 10 * c + k, size=(20, 16))
            images.append(rel)
            labels.append(c + 1)
            split.append(1 if k % 2 == 0 else 0)
    numbered = lambda values: "\n".join(f"{i + 1} {v}" for i, v in enumerate(values)) + "\n"
    (base / "images.txt").write_text(numbered(images))
    (base / "image_class_labels.txt").write_text(numbered(labels))
    (base / "train_test_split.txt").write_text(numbered(split))
    (base / "classes.txt").write_text(numbered(classes))
    return {"classes": classes, "n_train": sum(split), "n_test": len(split) - sum(split)}


def make_stanford_dogs(
    root: Path, n_classes: int = 3, per_class_train: int = 3, per_class_test: int = 2
) -> dict[str, Any]:
    """``root/Images/<wnid>-<Breed>/*.jpg`` and ``root/{train,test}_list.mat`` (``file_list``, ``labels``)."""
    root = Path(root)
    classes = [f"n0208{5620 + c}-Breed{c}" for c in range(n_classes)]
    n = 0
    for split, per_class in (("train", per_class_train), ("test", per_class_test)):
        rels, labels = [], []
        for c, name in enumerate(classes):
            for _ in range(per_class):
                n += 1
                rel = f"{name}/{name.split('-')[0]}_{n}.jpg"
                write_image(root / "Images" / rel, n, size=(16, 20))
                rels.append(rel)
                labels.append(c + 1)
        _savemat(
            root / f"{split}_list.mat",
            {
                "file_list": _cells(rels)[:, None],
                "annotation_list": _cells([r[:-4] for r in rels])[:, None],
                "labels": np.array(labels, dtype=np.uint8)[:, None],
            },
        )
    return {"classes": classes}


def make_mit_indoor67(
    root: Path,
    classes: Sequence[str] = ("airport_inside", "bakery", "kitchen"),
    per_class_train: int = 3,
    per_class_test: int = 2,
) -> dict[str, Any]:
    """``root/Images/<class>/*.jpg`` and ``root/{TrainImages,TestImages}.txt``."""
    root = Path(root)
    n = 0
    for split, per_class in (("Train", per_class_train), ("Test", per_class_test)):
        rels = []
        for name in classes:
            for _ in range(per_class):
                n += 1
                rel = f"{name}/img_{n}.jpg"
                write_image(root / "Images" / rel, n, size=(21, 15))
                rels.append(rel)
        (root / f"{split}Images.txt").write_text("\n".join(rels) + "\n")
    # an image in no list, as the real archive has
    write_image(root / "Images" / classes[0] / "unlisted.jpg", 999)
    return {"classes": sorted(classes)}


def make_uiuc_sports8(
    root: Path, classes: Sequence[str] = ("RockClimbing", "badminton", "bocce"), per_class: int = 7
) -> dict[str, Any]:
    """``root/event_img/<event>/*.jpg``."""
    for c, name in enumerate(classes):
        for k in range(per_class + c):
            write_image(Path(root) / "event_img" / name / f"{name}_{k:03d}.jpg", 10 * c + k, size=(20, 14))
    return {"classes": sorted(classes), "counts": {name: per_class + c for c, name in enumerate(classes)}}
