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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from archssl.data.base import DATASETS
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

_HELD_OUT = "val: seeded stratified val_fraction of train"


def _file_selection(ds: Any, files: list[Any], labels: list[int], located: Path, classes: list[str]) -> Selection:
    return whole(ds, labels, [rel_id(f, located) for f in files], classes)


# --------------------------------------------------------------------------------------------------------
# FGVC Aircraft


@dataclass
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


DATASETS.add(
    "fgvc_aircraft",
    AircraftSource(
        name="fgvc_aircraft",
        num_classes=100,
        metric="mean_per_class",
        description="FGVC Aircraft 2013b, variant level (100 classes), 3,334 train / 3,333 val / 3,333 test",
        layout="""
{root}/fgvc-aircraft-2013b/data/images/<image id>.jpg
{root}/fgvc-aircraft-2013b/data/variants.txt
{root}/fgvc-aircraft-2013b/data/images_variant_{train,val,test}.txt   ('<image id> <variant>' per line)
(the archive fgvc-aircraft-2013b.tar.gz extracted into {root})""",
        split_rule="train/val/test as distributed (variant level)",
        markers=(
            "fgvc-aircraft-2013b/data/variants.txt",
            "fgvc-aircraft-2013b/data/images",
            "fgvc-aircraft-2013b/data/images_variant_train.txt",
            "fgvc-aircraft-2013b/data/images_variant_val.txt",
            "fgvc-aircraft-2013b/data/images_variant_test.txt",
        ),
    ),
)


# --------------------------------------------------------------------------------------------------------
# Stanford Cars


@dataclass
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


DATASETS.add(
    "stanford_cars",
    CarsSource(
        name="stanford_cars",
        num_classes=196,
        description="Stanford Cars, 196 classes, 8,144 train / 8,041 test",
        layout="""
{root}/stanford_cars/devkit/{cars_meta.mat, cars_train_annos.mat}
{root}/stanford_cars/cars_train/*.jpg
{root}/stanford_cars/cars_test/*.jpg
{root}/stanford_cars/cars_test_annos_withlabels.mat
(torchvision's StanfordCars layout: car_devkit.tgz, cars_train.tgz and cars_test.tgz extracted into
{root}/stanford_cars, plus cars_test_annos_withlabels.mat)""",
        split_rule=f"train/test as distributed; {_HELD_OUT}",
        markers=(
            "stanford_cars/devkit/cars_meta.mat",
            "stanford_cars/devkit/cars_train_annos.mat",
            "stanford_cars/cars_train",
            "stanford_cars/cars_test",
            "stanford_cars/cars_test_annos_withlabels.mat",
        ),
        val_fraction=0.2,
    ),
)


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


@dataclass
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


DATASETS.add(
    "flowers102",
    FlowersSource(
        name="flowers102",
        num_classes=102,
        metric="mean_per_class",
        description="Oxford Flowers-102, 1,020 train / 1,020 val / 6,149 test",
        layout="""
{root}/flowers-102/jpg/image_00001.jpg ... image_08189.jpg
{root}/flowers-102/imagelabels.mat
{root}/flowers-102/setid.mat   (trnid, valid, tstid)
(102flowers.tgz extracted into {root}/flowers-102, next to the two .mat files)""",
        split_rule="train/val/test as distributed (setid.mat trnid/valid/tstid)",
        markers=("flowers-102/jpg", "flowers-102/imagelabels.mat", "flowers-102/setid.mat"),
    ),
)


# --------------------------------------------------------------------------------------------------------
# Oxford-IIIT Pets


@dataclass
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


DATASETS.add(
    "oxford_pets",
    PetsSource(
        name="oxford_pets",
        num_classes=37,
        metric="mean_per_class",
        description="Oxford-IIIT Pets, 37 breeds, 3,680 trainval / 3,669 test",
        layout="""
{root}/oxford-iiit-pet/images/*.jpg
{root}/oxford-iiit-pet/annotations/{trainval.txt, test.txt}   ('<image> <class id> <species> <breed id>')
(images.tar.gz and annotations.tar.gz extracted into {root}/oxford-iiit-pet)""",
        split_rule="trainval/test as distributed; train = trainval minus val; val: seeded stratified val_fraction of trainval",
        markers=(
            "oxford-iiit-pet/images",
            "oxford-iiit-pet/annotations/trainval.txt",
            "oxford-iiit-pet/annotations/test.txt",
        ),
        val_fraction=0.2,
    ),
)


# --------------------------------------------------------------------------------------------------------
# DTD


@dataclass
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


DATASETS.add(
    "dtd",
    DtdSource(
        name="dtd",
        num_classes=47,
        description="Describable Textures Dataset r1.0.1, 47 classes, 1,880 / 1,880 / 1,880 per partition",
        layout="""
{root}/dtd/dtd/images/<class>/*.jpg
{root}/dtd/dtd/labels/{train,val,test}{1..10}.txt   ('<class>/<file>.jpg' per line)
(torchvision's layout: the archive dtd-r1.0.1.tar.gz extracted into {root}/dtd; a {root} that is itself
named 'dtd' and holds the extracted dtd/ folder also works)""",
        split_rule="train/val/test of partition 1 (option partition: 1..10)",
        markers=("dtd/dtd/images", "dtd/dtd/labels"),
        options={"partition": 1},
    ),
)


# --------------------------------------------------------------------------------------------------------
# Food-101


@dataclass
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


DATASETS.add(
    "food101",
    FoodSource(
        name="food101",
        num_classes=101,
        description="Food-101, 75,750 train / 25,250 test",
        layout="""
{root}/food-101/images/<class>/<id>.jpg
{root}/food-101/meta/{train.json, test.json, classes.txt}
(the archive food-101.tar.gz extracted into {root})""",
        split_rule=f"train/test as distributed; {_HELD_OUT}",
        markers=("food-101/images", "food-101/meta/train.json", "food-101/meta/test.json"),
    ),
)


# --------------------------------------------------------------------------------------------------------
# Caltech-101


@dataclass
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


DATASETS.add(
    "caltech101",
    CaltechSource(
        name="caltech101",
        num_classes=102,
        metric="mean_per_class",
        description="Caltech-101 with BACKGROUND_Google (102 classes), 30 train per class, rest test",
        layout="""
{root}/101_ObjectCategories/<category>/image_0001.jpg ...   (102 folders incl. BACKGROUND_Google)
(or torchvision's layout {root}/caltech101/101_ObjectCategories/...; 101_ObjectCategories.tar.gz extracted)""",
        split_rule=(
            "seeded per class: train_per_class (30) images -> train+val, the rest -> test; "
            "val: seeded stratified val_fraction (1/6 = 5 per class) of those"
        ),
        val_fraction=1 / 6,
        options={"train_per_class": 30},
    ),
)


# --------------------------------------------------------------------------------------------------------
# SUN397


@dataclass
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


DATASETS.add(
    "sun397",
    Sun397Source(
        name="sun397",
        num_classes=397,
        description="SUN397 scenes, partition 1: 19,850 train+val / 19,850 test",
        layout="""
{root}/SUN397/ClassName.txt
{root}/SUN397/<letter>/<class>[/<subclass>]/sun_*.jpg
{root}/SUN397/Partitions/{Training_01.txt, Testing_01.txt, ...}   (optional: Partitions.zip extracted;
    also looked for in {root}/Partitions and {root}/SUN397; without them a seeded 50/50 per-class split)
(SUN397.tar.gz extracted into {root})""",
        split_rule=(
            "train/test of partition 1 when the partition files exist, else seeded 50 + 50 per class; "
            "val: seeded stratified val_fraction of train"
        ),
        markers=("SUN397/ClassName.txt",),
        val_fraction=0.2,
        options={"partition": 1},
    ),
)


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


@dataclass
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


DATASETS.add(
    "voc2007",
    Voc2007Source(
        name="voc2007",
        num_classes=20,
        metric="map11",
        multilabel=True,
        description="PASCAL VOC 2007 classification (multi-label), 2,501 train / 2,510 val / 4,952 test",
        layout="""
{root}/VOCdevkit/VOC2007/JPEGImages/<id>.jpg
{root}/VOCdevkit/VOC2007/Annotations/<id>.xml
{root}/VOCdevkit/VOC2007/ImageSets/Main/{train,val,test}.txt
(VOCtrainval_06-Nov-2007.tar and VOCtest_06-Nov-2007.tar extracted into {root})""",
        split_rule="train/val/test as distributed (ImageSets/Main)",
        markers=(
            "VOCdevkit/VOC2007/JPEGImages",
            "VOCdevkit/VOC2007/Annotations",
            "VOCdevkit/VOC2007/ImageSets/Main/train.txt",
            "VOCdevkit/VOC2007/ImageSets/Main/val.txt",
            "VOCdevkit/VOC2007/ImageSets/Main/test.txt",
        ),
        options={"difficult": "positive"},
    ),
)
