"""The transfer-learning benchmark sets of Kornblith, Shlens & Le (2019), as used by SimCLR's linear
evaluation: FGVC Aircraft, Stanford Cars, Oxford Flowers-102, Oxford-IIIT Pets, DTD, Food-101,
Caltech-101, SUN397 and PASCAL VOC 2007 (classification).

Each is read with torchvision's class (``download=False``) where torchvision has one that fits the
protocol; Caltech-101 is read directly (torchvision's class drops the ``BACKGROUND_Google`` category the
protocol counts as the 102nd class, and creates directories under the data root).

Split rules (see each source's ``split_rule``): the dataset's own train/val/test where it has them;
otherwise ``val`` is a seeded, stratified ``val_fraction`` of train. Default fractions follow the
validation-set sizes of Kornblith et al.'s Table A1 as we recall them (about 10% for Food-101 and 20% for
Cars, Pets and SUN397; 5 of the 30 per class for Caltech-101); they are configurable per study.
"""

from __future__ import annotations

import json
import functools
from pathlib import Path
from typing import Any

import numpy as np

from archssl.data.preprocess import ImageLoader
from archssl.data.real.common import (
    ImageList,
    RealDatasetSource,
    Selection,
    holdout,
    list_class_dirs,
    list_images,
    per_class_split,
    private,
    read_lines,
    rel_id,
    tv_dataset as _tv,
    whole,
)


def _file_selection(ds: Any, files: list[Any], labels: list[int], located: Path, classes: list[str]) -> Selection:
    return whole(ds, labels, [rel_id(f, located) for f in files], classes)


# --------------------------------------------------------------------------------------------------------
# FGVC Aircraft


class AircraftSource(RealDatasetSource):
    def validate(self, located: Path) -> None:
        data = located / "fgvc-aircraft-2013b" / "data"
        variants = read_lines(data / "variants.txt")
        self.check_class_count(located, variants, "data/variants.txt")
        known = set(variants)
        for split in ("train", "val", "test"):
            rows = [line.split(" ", 1) for line in read_lines(data / f"images_variant_{split}.txt")]
            if any(len(r) != 2 for r in rows):
                raise self.malformed(located, f"images_variant_{split}.txt: expected '<image id> <variant>' per line")
            bad = sorted({r[1] for r in rows} - known)
            if bad:
                raise self.malformed(
                    located, f"images_variant_{split}.txt names variants not in variants.txt: {bad[:5]}"
                )
            self.require_images(located, [data / "images" / f"{r[0]}.jpg" for r in rows], f"images_variant_{split}.txt")

    def select(self, split: str, located: Path, loader: ImageLoader, opts: dict[str, Any]) -> Selection:
        ds = _tv("FGVCAircraft")(str(located), split=split, annotation_level="variant", download=False, loader=loader)
        self.check_class_count(located, ds.classes, "data/variants.txt")
        return _file_selection(ds, private(ds, "_image_files"), private(ds, "_labels"), located, ds.classes)


# --------------------------------------------------------------------------------------------------------
# Stanford Cars


class CarsSource(RealDatasetSource):
    def validate(self, located: Path) -> None:
        from scipy.io import loadmat

        base = located / "stanford_cars"
        names = loadmat(str(base / "devkit" / "cars_meta.mat"), squeeze_me=True)["class_names"].tolist()
        self.check_class_count(located, names, "devkit/cars_meta.mat")
        for mat, images in (
            ("devkit/cars_train_annos.mat", "cars_train"),
            ("cars_test_annos_withlabels.mat", "cars_test"),
        ):
            annos = np.atleast_1d(loadmat(str(base / mat), squeeze_me=True)["annotations"])
            if annos.dtype.names is None or not {"fname", "class"} <= set(annos.dtype.names):
                raise self.malformed(
                    located, f"{mat}: 'annotations' must be a struct array with fields fname and class"
                )
            self.require_images(located, [base / images / a["fname"] for a in annos], mat)

    def select(self, split: str, located: Path, loader: ImageLoader, opts: dict[str, Any]) -> Selection:
        def part(name: str) -> Selection:
            ds = _tv("StanfordCars")(str(located), split=name, download=False, loader=loader)
            self.check_class_count(located, ds.classes, "devkit/cars_meta.mat")
            samples = private(ds, "_samples")
            return _file_selection(ds, [s[0] for s in samples], [int(s[1]) for s in samples], located, list(ds.classes))

        return self.with_heldout_val(split, lambda: part("train"), lambda: part("test"), opts)


# --------------------------------------------------------------------------------------------------------
# Oxford Flowers-102


@functools.cache
def _flowers102_reader() -> type:
    """torchvision's reader, with an existence check instead of the MD5 of the .mat files."""

    class _Flowers102(_tv("Flowers102")):
        def _check_integrity(self) -> bool:
            base = Path(self._base_folder)
            return self._images_folder.is_dir() and all(
                (base / self._file_dict[key][0]).is_file() for key in ("label", "setid")
            )

    return _Flowers102


class FlowersSource(RealDatasetSource):
    def validate(self, located: Path) -> None:
        from scipy.io import loadmat

        base = located / "flowers-102"
        setid = loadmat(str(base / "setid.mat"), squeeze_me=True)
        missing = [k for k in ("trnid", "valid", "tstid") if k not in setid]
        if missing:
            raise self.malformed(located, f"setid.mat lacks {missing}")
        labels = np.atleast_1d(loadmat(str(base / "imagelabels.mat"), squeeze_me=True)["labels"])
        self.check_targets(located, (labels - 1).tolist(), "imagelabels.mat")
        ids = np.atleast_1d(setid["tstid"])
        self.require_images(located, [base / "jpg" / f"image_{int(i):05d}.jpg" for i in ids], "setid.mat (tstid)")

    def select(self, split: str, located: Path, loader: ImageLoader, opts: dict[str, Any]) -> Selection:
        ds = _flowers102_reader()(str(located), split=split, download=False, loader=loader)
        return _file_selection(
            ds, private(ds, "_image_files"), private(ds, "_labels"), located, list(_tv("Flowers102").classes)
        )


# --------------------------------------------------------------------------------------------------------
# Oxford-IIIT Pets


class PetsSource(RealDatasetSource):
    def validate(self, located: Path) -> None:
        base = located / "oxford-iiit-pet"
        for split in ("trainval", "test"):
            rows = [
                line.split() for line in read_lines(base / "annotations" / f"{split}.txt") if not line.startswith("#")
            ]
            if any(len(r) != 4 for r in rows):
                raise self.malformed(
                    located, f"annotations/{split}.txt: expected '<image> <class id> <species> <breed id>' per line"
                )
            self.check_targets(located, [int(r[1]) - 1 for r in rows], f"annotations/{split}.txt")
            if split == "trainval":
                self.check_class_count(located, sorted({r[1] for r in rows}), "annotations/trainval.txt")
            self.require_images(located, [base / "images" / f"{r[0]}.jpg" for r in rows], f"annotations/{split}.txt")

    def select(self, split: str, located: Path, loader: ImageLoader, opts: dict[str, Any]) -> Selection:
        trainval = _tv("OxfordIIITPet")(str(located), split="trainval", target_types="category", download=False)
        classes = list(trainval.classes)
        self.check_class_count(located, classes, "annotations/trainval.txt")

        def part(ds: OxfordIIITPet) -> Selection:
            return _file_selection(ds, private(ds, "_images"), private(ds, "_labels"), located, classes)

        return self.with_heldout_val(
            split,
            lambda: part(trainval),
            lambda: part(_tv("OxfordIIITPet")(str(located), split="test", target_types="category", download=False)),
            opts,
        )


# --------------------------------------------------------------------------------------------------------
# DTD


class DtdSource(RealDatasetSource):
    def _partition(self, located: Path, opts: dict[str, Any]) -> int:
        p = opts["partition"]
        if not (isinstance(p, int) and 1 <= p <= 10):
            raise self.malformed(located, f"option partition must be an integer 1..10, got {p!r}")
        return p

    def validate(self, located: Path) -> None:
        data = located / "dtd" / "dtd"
        classes = self.check_class_dirs(located, data / "images", "dtd/images")
        for split in ("train", "val", "test"):
            lines = read_lines(data / "labels" / f"{split}1.txt")
            bad = sorted({line.split("/")[0] for line in lines} - set(classes))
            if bad:
                raise self.malformed(located, f"labels/{split}1.txt names classes without an image folder: {bad[:5]}")
            self.require_images(located, [data / "images" / line for line in lines], f"labels/{split}1.txt")

    def select(self, split: str, located: Path, loader: ImageLoader, opts: dict[str, Any]) -> Selection:
        partition = self._partition(located, opts)
        self.require(located, f"dtd/dtd/labels/{split}{partition}.txt")
        classes = list_class_dirs(located / "dtd" / "dtd" / "images")
        self.check_class_count(located, classes, "dtd/images")
        index = {c: i for i, c in enumerate(classes)}
        ds = _tv("DTD")(str(located), split=split, partition=partition, download=False, loader=loader)
        # torchvision numbers the classes present in this split file; map them to the global class list
        labels = [index[ds.classes[t]] for t in private(ds, "_labels")]
        return _file_selection(ds, private(ds, "_image_files"), labels, located, classes)


# --------------------------------------------------------------------------------------------------------
# Food-101


class FoodSource(RealDatasetSource):
    def _classes(self, located: Path) -> list[str]:
        meta = located / "food-101" / "meta"
        if (meta / "classes.txt").is_file():
            return read_lines(meta / "classes.txt")
        with open(meta / "train.json", encoding="utf-8") as f:
            return sorted(json.load(f))

    def validate(self, located: Path) -> None:
        classes = self._classes(located)
        self.check_class_count(located, classes, "meta/classes.txt")
        for split in ("train", "test"):
            with open(located / "food-101" / "meta" / f"{split}.json", encoding="utf-8") as f:
                meta = json.load(f)
            bad = sorted(set(meta) - set(classes))
            if bad:
                raise self.malformed(located, f"meta/{split}.json has classes not in meta/classes.txt: {bad[:5]}")
            rels = [r for v in meta.values() for r in v]
            self.require_images(
                located, [located / "food-101" / "images" / f"{r}.jpg" for r in rels], f"meta/{split}.json"
            )

    def select(self, split: str, located: Path, loader: ImageLoader, opts: dict[str, Any]) -> Selection:
        classes = self._classes(located)
        self.check_class_count(located, classes, "meta/classes.txt")
        index = {c: i for i, c in enumerate(classes)}

        def part(name: str) -> Selection:
            ds = _tv("Food101")(str(located), split=name, download=False, loader=loader)
            labels = [index[ds.classes[t]] for t in private(ds, "_labels")]
            return _file_selection(ds, private(ds, "_image_files"), labels, located, classes)

        return self.with_heldout_val(split, lambda: part("train"), lambda: part("test"), opts)


# --------------------------------------------------------------------------------------------------------
# Caltech-101


class CaltechSource(RealDatasetSource):
    """All 102 folders of ``101_ObjectCategories`` are classes, ``BACKGROUND_Google`` included (as in
    Kornblith et al. and SimCLR). ``train_per_class`` (30) images of each class, chosen by a seeded hash,
    form train+val; the rest is test; ``val`` is ``val_fraction`` (1/6, i.e. 5 per class) of those 30."""

    def locate(self, root: Path) -> Path:
        root = Path(root).expanduser()
        for located in (root, root / "caltech101"):
            if (located / "101_ObjectCategories").is_dir():
                return located
        if root.name == "101_ObjectCategories" and root.is_dir():
            return root.parent
        raise self.missing_error(root, [root / "101_ObjectCategories"])

    def validate(self, located: Path) -> None:
        self.check_class_dirs(located, located / "101_ObjectCategories", "101_ObjectCategories")

    def select(self, split: str, located: Path, loader: ImageLoader, opts: dict[str, Any]) -> Selection:
        folder = located / "101_ObjectCategories"
        classes = list_class_dirs(folder)
        self.check_class_count(located, classes, "101_ObjectCategories")
        files, labels = [], []
        for label, name in enumerate(classes):
            images = list_images(folder / name)
            files += images
            labels += [label] * len(images)
        base = ImageList(files, labels, loader)
        everything = _file_selection(base, files, labels, located, classes)
        pool, test = per_class_split(everything, int(opts["train_per_class"]), seed=f"partition-{opts['seed']}")
        if split == "test":
            return test
        train, val = holdout(pool, float(opts["val_fraction"]), int(opts["seed"]))
        return train if split == "train" else val


# --------------------------------------------------------------------------------------------------------
# SUN397


class Sun397Source(RealDatasetSource):
    """Partition ``partition`` (1) of the official ``Partitions.zip`` (Training_01.txt / Testing_01.txt,
    50 + 50 images per class) when present; otherwise a seeded per-class split with the same sizes (half
    and half for a class with fewer than 100 images).
    ``val`` is ``val_fraction`` (20%) of the partition's training images."""

    def partition_files(self, located: Path, partition: int) -> tuple[Path, Path] | None:
        for folder in (located / "SUN397" / "Partitions", located / "Partitions", located / "SUN397"):
            train, test = folder / f"Training_{partition:02d}.txt", folder / f"Testing_{partition:02d}.txt"
            if train.is_file() and test.is_file():
                return train, test
        return None

    def validate(self, located: Path) -> None:
        classes = read_lines(located / "SUN397" / "ClassName.txt")
        self.check_class_count(located, classes, "SUN397/ClassName.txt")
        files = self.partition_files(located, 1)
        if files is not None:
            lines = read_lines(files[1])
            self.require_images(located, [located / "SUN397" / line.lstrip("/") for line in lines], files[1].name)

    def select(self, split: str, located: Path, loader: ImageLoader, opts: dict[str, Any]) -> Selection:
        partition = opts["partition"]
        if not (isinstance(partition, int) and 1 <= partition <= 10):
            raise self.malformed(located, f"option partition must be an integer 1..10, got {partition!r}")
        ds = _tv("SUN397")(str(located), download=False, loader=loader)
        self.check_class_count(located, ds.classes, "SUN397/ClassName.txt")
        everything = _file_selection(
            ds, private(ds, "_image_files"), private(ds, "_labels"), located / "SUN397", ds.classes
        )
        files = self.partition_files(located, partition)
        if files is None:
            pool, test = per_class_split(
                everything, 50, seed=f"partition-{opts['seed']}", n_second=50, max_first_fraction=0.5
            )
        else:
            position = {item_id: p for p, item_id in enumerate(everything.ids)}
            parts = []
            for path in files:
                wanted = [line.lstrip("/") for line in read_lines(path)]
                absent = [w for w in wanted if w not in position]
                if absent:
                    raise self.malformed(
                        located, f"{path.name} lists {len(absent)} images not found under SUN397/: {absent[:3]}"
                    )
                parts.append(everything.take([position[w] for w in wanted]).sorted())
            pool, test = parts
        if split == "test":
            return test
        train, val = holdout(pool, float(opts["val_fraction"]), int(opts["seed"]))
        return train if split == "train" else val


# --------------------------------------------------------------------------------------------------------
# PASCAL VOC 2007 classification

VOC_CLASSES = [
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
]  # fmt: skip


def _parse_objects(xml_path: str) -> list[tuple[str, bool]]:
    """``(class name, difficult)`` of every object of one VOC annotation (parsed with torchvision)."""
    try:
        from defusedxml.ElementTree import parse
    except ImportError:
        from xml.etree.ElementTree import parse

    annotation = _tv("VOCDetection").parse_voc_xml(parse(xml_path).getroot())["annotation"]
    objects = annotation.get("object", [])
    if isinstance(objects, dict):
        objects = [objects]
    return [(obj["name"], str(obj.get("difficult", "0")) == "1") for obj in objects]


class Voc2007Source(RealDatasetSource):
    """Multi-label classification: the target is a float vector over the 20 classes, 1 where the image has
    an object of the class. Option ``difficult`` says what a class seen only in objects marked difficult
    counts as: ``"positive"`` (default), ``"negative"``, or ``"ignore"`` (target -1, for evaluators that
    mask those entries, as the VOC devkit does)."""

    def validate(self, located: Path) -> None:
        voc = located / "VOCdevkit" / "VOC2007"
        for split in ("train", "val", "test"):
            ids = read_lines(voc / "ImageSets" / "Main" / f"{split}.txt")
            self.require_images(located, [voc / "JPEGImages" / f"{i}.jpg" for i in ids], f"ImageSets/Main/{split}.txt")
            self.require_images(
                located, [voc / "Annotations" / f"{i}.xml" for i in ids], f"ImageSets/Main/{split}.txt (annotations)"
            )

    def select(self, split: str, located: Path, loader: ImageLoader, opts: dict[str, Any]) -> Selection:
        mode = opts["difficult"]
        if mode not in ("positive", "negative", "ignore"):
            raise self.malformed(located, f"option difficult must be 'positive', 'negative' or 'ignore', got {mode!r}")
        voc = _tv("VOCDetection")(str(located), year="2007", image_set=split, download=False)
        index = {c: i for i, c in enumerate(VOC_CLASSES)}
        targets = np.zeros((len(voc.images), len(VOC_CLASSES)), dtype=np.float32)
        for row, xml in enumerate(voc.annotations):
            easy, hard = set(), set()
            for name, difficult in _parse_objects(xml):
                if name not in index:
                    raise self.malformed(located, f"{xml}: unknown class {name!r}")
                (hard if difficult else easy).add(index[name])
            targets[row, sorted(easy)] = 1.0
            only_hard = sorted(hard - easy)
            if mode == "positive":
                targets[row, only_hard] = 1.0
            elif mode == "ignore":
                targets[row, only_hard] = -1.0
        base = ImageList(voc.images, list(range(len(voc.images))), loader)
        return whole(base, targets, [Path(p).stem for p in voc.images], VOC_CLASSES)
