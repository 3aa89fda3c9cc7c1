"""Large pretraining-scale sets: ImageNet-1K (ILSVRC2012), iNaturalist 2021 and Places205.

Their official validation sets serve as the test split (test labels are not public), and ``val`` is a
seeded, stratified part of train held out for model selection. The default ``val_fraction`` keeps that
part at roughly 50,000 images (4% of ImageNet, 2% of iNat2021 and Places205); it is configurable.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from archssl.data.preprocess import ImageLoader
from archssl.data.real.common import (
    IMAGE_SUFFIXES,
    ImageList,
    RealDatasetSource,
    Selection,
    list_class_dirs,
    list_images,
    read_lines,
    rel_id,
    tv_dataset,
    whole,
)


# --------------------------------------------------------------------------------------------------------
# ImageNet


class ImageNetSource(RealDatasetSource):
    """ILSVRC2012 in one of two layouts (both have ``train/<wnid>/*.JPEG``):

    * torchvision's: ``meta.bin`` (written by ``torchvision.datasets.ImageNet`` from the devkit) next to
      ``train/`` and ``val/``; ``val/`` may then also be flat (the 50,000 files of ILSVRC2012_img_val.tar,
      labelled from ``meta.bin``);
    * the common ImageFolder layout: ``val/<wnid>/*.JPEG`` (as the devkit's valprep script leaves it).

    Classes are the 1,000 WordNet ids, sorted, in both layouts."""

    def _val_is_flat(self, located: Path) -> bool:
        val = located / "val"
        with os.scandir(val) as it:
            return not any(e.is_dir() for e in it)

    def validate(self, located: Path) -> None:
        classes = self.check_class_dirs(located, located / "train", "train/")
        if self._val_is_flat(located):
            if not (located / "meta.bin").is_file():
                raise self.malformed(
                    located,
                    "val/ has no class folders and there is no meta.bin to label its images: sort val/ into "
                    "val/<wnid>/ folders or add torchvision's meta.bin (ImageNet devkit)",
                )
            import torch

            wnids = torch.load(located / "meta.bin", weights_only=True)[1]
            if sorted(set(wnids)) != classes:
                raise self.malformed(located, "the wnids of meta.bin's validation labels differ from train/'s folders")
        else:
            val_classes = self.check_class_dirs(located, located / "val", "val/")
            self.check_same_classes(located, classes, val_classes, "train/", "val/")

    def _flat_val(self, located: Path, loader: ImageLoader, classes: list[str]) -> Selection:
        import torch

        wnids = torch.load(located / "meta.bin", weights_only=True)[1]
        files = list_images(located / "val")
        if len(files) != len(wnids):
            raise self.malformed(located, f"val/ holds {len(files)} images but meta.bin labels {len(wnids)}")
        index = {c: i for i, c in enumerate(classes)}
        labels = [index[w] for w in wnids]
        return whole(ImageList(files, labels, loader), labels, [rel_id(f, located) for f in files], classes)

    def select(self, split: str, located: Path, loader: ImageLoader, opts: dict[str, Any]) -> Selection:
        classes = list_class_dirs(located / "train")
        self.check_class_count(located, classes, "train/")
        with_meta = (located / "meta.bin").is_file()

        def part(folder: str) -> Selection:
            if with_meta:  # torchvision's reader (it leaves existing train/ and val/ folders as they are)
                ds = tv_dataset("ImageNet")(str(located), split=folder, loader=loader)
                found = ds.wnids
            else:
                ds = tv_dataset("ImageFolder")(str(located / folder), loader=loader)
                found = ds.classes
            self.check_same_classes(located, classes, found, "train/", f"{folder}/")
            return whole(ds, ds.targets, [rel_id(p, located) for p, _ in ds.samples], classes)

        def test() -> Selection:
            if with_meta and self._val_is_flat(located):
                return self._flat_val(located, loader, classes)
            return part("val")

        return self.with_heldout_val(split, lambda: part("train"), test, opts)


# --------------------------------------------------------------------------------------------------------
# iNaturalist 2021


@functools.cache
def _inat2021_reader() -> type:
    """torchvision's iNaturalist reader (2021 naming rules, ``full`` species targets) pointed at one split
    directory (defined on first use: torchvision is imported only when a real dataset is read).
    torchvision's own constructor only finds ``<root>/2021_train``-style names; the official archives
    extract to ``train/``, ``train_mini/`` and ``val/``. The file index is sorted, so item order does not
    depend on the file system."""
    from torchvision.datasets.vision import VisionDataset

    class _INat2021Dir(tv_dataset("INaturalist")):
        def __init__(self, split_dir: str, loader: ImageLoader):
            VisionDataset.__init__(self, split_dir)
            self.version = "2021_train"
            self.target_type = ["full"]
            self.all_categories: list[str] = []
            self.categories_index: dict[str, dict[str, int]] = {}
            self.categories_map: list[dict[str, int]] = []
            self._init_2021()  # lists and validates the category folders ('00000_Animalia_..._species')
            self.index = [
                (i, name)
                for i, category in enumerate(self.all_categories)
                for name in sorted(os.listdir(os.path.join(self.root, category)))
                if Path(name).suffix.lower() in IMAGE_SUFFIXES
            ]
            self.loader = loader

    return _INat2021Dir


_INAT_DIRS = {  # train_set option -> (official name, torchvision name)
    "train": ("train", "2021_train"),
    "train_mini": ("train_mini", "2021_train_mini"),
    "val": ("val", "2021_valid"),
}


class INat2021Source(RealDatasetSource):
    """iNaturalist 2021 (10,000 species). Option ``train_set``: ``"train"`` (2.7M images) or ``"train_mini"``
    (500,000). test is the official validation set (100,000)."""

    def split_dir(self, root: Path, which: str) -> Path | None:
        for name in _INAT_DIRS[which]:
            if (root / name).is_dir():
                return root / name
        return None

    def locate(self, root: Path) -> Path:
        root = Path(root).expanduser()
        missing = []
        if self.split_dir(root, "train") is None and self.split_dir(root, "train_mini") is None:
            missing.append(root / "train (or train_mini)")
        if self.split_dir(root, "val") is None:
            missing.append(root / "val")
        if missing:
            raise self.missing_error(root, missing)
        return root

    def validate(self, located: Path) -> None:
        val = self.split_dir(located, "val")
        classes = self.check_class_dirs(located, val, val.name)
        for which in ("train", "train_mini"):
            train = self.split_dir(located, which)
            if train is not None:
                self.check_same_classes(
                    located, self.check_class_dirs(located, train, train.name), classes, train.name, val.name
                )

    def select(self, split: str, located: Path, loader: ImageLoader, opts: dict[str, Any]) -> Selection:
        train_set = opts["train_set"]
        if train_set not in ("train", "train_mini"):
            raise self.malformed(located, f"option train_set must be 'train' or 'train_mini', got {train_set!r}")
        train_dir = self.split_dir(located, train_set)
        if train_dir is None:
            raise self.missing_error(located, [located / _INAT_DIRS[train_set][0]])
        val_dir = self.split_dir(located, "val")
        train_classes = list_class_dirs(train_dir)
        self.check_class_count(located, train_classes, train_dir.name)

        def part(directory: Path) -> Selection:
            ds = _inat2021_reader()(str(directory), loader)
            self.check_same_classes(located, train_classes, ds.all_categories, train_dir.name, directory.name)
            # ids leave out the split folder's name, so both layouts hold out the same images
            ids = [f"{ds.all_categories[c]}/{name}" for c, name in ds.index]
            return whole(ds, [c for c, _ in ds.index], ids, ds.all_categories)

        return self.with_heldout_val(split, lambda: part(train_dir), lambda: part(val_dir), opts)


# --------------------------------------------------------------------------------------------------------
# Places205

_PLACES_IMAGE_DIRS = ("images256", "data/vision/torralba/deeplearning/images256", "images")
_PLACES_LISTS = "trainvalsplit_places205"


class Places205Source(RealDatasetSource):
    """Places205 from its list files (``<letter>/<class>/<file>.jpg <label>`` per line). torchvision has no
    reader for it (its Places365 class is a different set)."""

    def image_dir(self, root: Path) -> Path | None:
        for rel in _PLACES_IMAGE_DIRS:
            if (root / rel).is_dir():
                return root / rel
        return None

    def locate(self, root: Path) -> Path:
        root = Path(root).expanduser()
        lists = [root / _PLACES_LISTS / f"{s}_places205.csv" for s in ("train", "val")]
        missing = [p for p in lists if not p.is_file()]
        if self.image_dir(root) is None:
            missing.append(root / "images256")
        if missing:
            raise self.missing_error(root, missing)
        return root

    def read_list(self, located: Path, split: str) -> tuple[list[str], list[int]]:
        path = located / _PLACES_LISTS / f"{split}_places205.csv"
        rels, labels = [], []
        for number, line in enumerate(read_lines(path), start=1):
            parts = line.split()
            if len(parts) != 2 or not parts[1].isdigit():
                raise self.malformed(
                    located, f"{path.name} line {number}: expected '<relative path> <label>', got {line!r}"
                )
            rels.append(parts[0].lstrip("/"))
            labels.append(int(parts[1]))
        return rels, labels

    def classes(self, located: Path, rels: list[str], labels: list[int]) -> list[str]:
        names: dict[int, str] = {}
        for rel, label in zip(rels, labels):
            name = "/".join(Path(rel).parts[1:-1])
            if names.setdefault(label, name) != name:
                raise self.malformed(located, f"label {label} is used for both {names[label]!r} and {name!r}")
        if sorted(names) != list(range(len(names))):
            raise self.malformed(located, "train_places205.csv labels are not 0..K-1")
        return [names[i] for i in range(len(names))]

    def validate(self, located: Path) -> None:
        rels, labels = self.read_list(located, "train")
        classes = self.classes(located, rels, labels)
        self.check_class_count(located, classes, "train_places205.csv")
        images = self.image_dir(located)
        for split in ("train", "val"):
            rels, _ = self.read_list(located, split)
            self.require_images(located, [images / r for r in rels], f"{split}_places205.csv")

    def select(self, split: str, located: Path, loader: ImageLoader, opts: dict[str, Any]) -> Selection:
        images = self.image_dir(located)
        train_rels, train_labels = self.read_list(located, "train")
        classes = self.classes(located, train_rels, train_labels)
        self.check_class_count(located, classes, "train_places205.csv")

        def part(rels: list[str], labels: list[int]) -> Selection:
            base = ImageList([images / r for r in rels], labels, loader)
            return whole(base, labels, rels, classes)

        return self.with_heldout_val(
            split, lambda: part(train_rels, train_labels), lambda: part(*self.read_list(located, "val")), opts
        )
