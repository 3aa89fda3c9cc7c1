"""Folder-per-class datasets: CUB-200-2011, Stanford Dogs, MIT Indoor-67, UIUC Sports-8.

Each accepts the plain ImageFolder layout (read with ``torchvision.datasets.ImageFolder``)::

    <root>/train/<class>/*.jpg
    <root>/test/<class>/*.jpg
    <root>/val/<class>/*.jpg      optional; without it val is a seeded, stratified part of train

and, as an alternative, the layout of the dataset's own archive (CUB's ``images.txt`` lists, Stanford
Dogs' ``train_list.mat``, MIT Indoor's ``TrainImages.txt``, UIUC Sports' ``event_img`` folders). Class
indices follow the sorted class-folder names in both layouts.
"""

from __future__ import annotations

from collections.abc import Callable
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
    read_lines,
    rel_id,
    tv_dataset,
    whole,
)


Parts = dict[str, Callable[[], Selection]]


class FolderSource(RealDatasetSource):
    """ImageFolder layout, or the dataset's own layout (implemented by subclasses in :meth:`official_root`,
    :meth:`validate_official` and :meth:`official_parts`)."""

    def is_folder_layout(self, root: Path) -> bool:
        return (root / "train").is_dir() and (root / "test").is_dir()

    def official_root(self, root: Path) -> Path | None:
        """Where the dataset's own layout is found from ``root``, or ``None``."""
        return None

    def official_missing(self, root: Path) -> list[Path]:
        return []

    def locate(self, root: Path) -> Path:
        root = Path(root).expanduser()
        if self.is_folder_layout(root):
            return root
        official = self.official_root(root)
        if official is not None:
            return official
        raise self.missing_error(root, [root / "train", root / "test"] + self.official_missing(root))

    def validate(self, located: Path) -> None:
        if not self.is_folder_layout(located):
            return self.validate_official(located)
        classes = self.check_class_dirs(located, located / "train", "train/")
        for folder in ("val", "test"):
            if (located / folder).is_dir():
                found = self.check_class_dirs(located, located / folder, f"{folder}/")
                self.check_same_classes(located, classes, found, "train/", f"{folder}/")

    def validate_official(self, located: Path) -> None:
        raise NotImplementedError

    def official_parts(self, located: Path, loader: ImageLoader, opts: dict[str, Any]) -> Parts:
        """``{"train": ..., "test": ...}`` (and ``"val"`` where the dataset has one) for the own layout."""
        raise NotImplementedError

    def folder_parts(self, located: Path, loader: ImageLoader) -> Parts:
        classes = list_class_dirs(located / "train")
        self.check_class_count(located, classes, "train/")

        def part(folder: str) -> Selection:
            ds = tv_dataset("ImageFolder")(str(located / folder), loader=loader)
            self.check_same_classes(located, classes, ds.classes, "train/", f"{folder}/")
            return whole(ds, ds.targets, [rel_id(p, located) for p, _ in ds.samples], classes)

        parts = {name: (lambda name=name: part(name)) for name in ("train", "test")}
        if (located / "val").is_dir():
            parts["val"] = lambda: part("val")
        return parts

    def select(self, split: str, located: Path, loader: ImageLoader, opts: dict[str, Any]) -> Selection:
        if self.is_folder_layout(located):
            parts = self.folder_parts(located, loader)
        else:
            parts = self.official_parts(located, loader, opts)
        if "val" in parts or split == "test":
            return parts[split]()
        kept, held = holdout(parts["train"](), float(opts["val_fraction"]), int(opts["seed"]))
        return kept if split == "train" else held


def _image_list(
    located: Path, files: list[Path], labels: list[int], classes: list[str], loader: ImageLoader
) -> Selection:
    return whole(ImageList(files, labels, loader), labels, [rel_id(f, located) for f in files], classes)


# --------------------------------------------------------------------------------------------------------
# CUB-200-2011

_CUB_FILES = ("images.txt", "image_class_labels.txt", "train_test_split.txt", "images")


class CubSource(FolderSource):
    def official_root(self, root: Path) -> Path | None:
        for candidate in (root, root / "CUB_200_2011"):
            if all((candidate / f).exists() for f in _CUB_FILES):
                return candidate
        return None

    def official_missing(self, root: Path) -> list[Path]:
        return [root / "CUB_200_2011" / f for f in _CUB_FILES]

    def _read(self, located: Path) -> tuple[list[Path], list[int], list[bool], list[str]]:
        def table(name: str) -> dict[str, str]:
            rows = [line.split(maxsplit=1) for line in read_lines(located / name)]
            if any(len(r) != 2 for r in rows):
                raise self.malformed(located, f"{name}: expected '<image id> <value>' per line")
            return dict(rows)

        paths, labels, split = table("images.txt"), table("image_class_labels.txt"), table("train_test_split.txt")
        if not (paths.keys() == labels.keys() == split.keys()):
            raise self.malformed(
                located, "images.txt, image_class_labels.txt and train_test_split.txt list different image ids"
            )
        classes = list_class_dirs(located / "images")
        ids = sorted(paths, key=int)
        files = [located / "images" / paths[i] for i in ids]
        targets = [int(labels[i]) - 1 for i in ids]
        for f, t in zip(files, targets):  # labels follow the sorted folder names ('001.Black_footed_Albatross', ...)
            if not 0 <= t < len(classes) or f.parent.name != classes[t]:
                raise self.malformed(
                    located, f"image_class_labels.txt gives {f.name} label {t + 1}, but it lies in {f.parent.name}/"
                )
        return files, targets, [split[i] == "1" for i in ids], classes

    def validate_official(self, located: Path) -> None:
        files, _, _, classes = self._read(located)
        self.check_class_count(located, classes, "images/")
        self.require_images(located, files, "images.txt")

    def official_parts(self, located: Path, loader: ImageLoader, opts: dict[str, Any]) -> Parts:
        files, targets, is_train, classes = self._read(located)
        self.check_class_count(located, classes, "images/")

        def part(train: bool) -> Selection:
            keep = [k for k, t in enumerate(is_train) if t == train]
            return _image_list(located, [files[k] for k in keep], [targets[k] for k in keep], classes, loader)

        return {"train": lambda: part(True), "test": lambda: part(False)}


# --------------------------------------------------------------------------------------------------------
# Stanford Dogs


class DogsSource(FolderSource):
    def official_root(self, root: Path) -> Path | None:
        ok = all((root / f).exists() for f in ("Images", "train_list.mat", "test_list.mat"))
        return root if ok else None

    def official_missing(self, root: Path) -> list[Path]:
        return [root / "Images", root / "train_list.mat", root / "test_list.mat"]

    def _read(self, located: Path, split: str) -> tuple[list[Path], list[int]]:
        from scipy.io import loadmat

        mat = loadmat(str(located / f"{split}_list.mat"), squeeze_me=True)
        if "file_list" not in mat or "labels" not in mat:
            raise self.malformed(located, f"{split}_list.mat lacks the variables file_list and labels")
        rels = [str(r) for r in np.atleast_1d(mat["file_list"])]
        labels = [int(v) - 1 for v in np.atleast_1d(mat["labels"])]
        return [located / "Images" / r for r in rels], labels

    def _classes(self, located: Path) -> list[str]:
        classes = list_class_dirs(located / "Images")
        self.check_class_count(located, classes, "Images/")
        return classes

    def _consistent(self, located: Path, files: list[Path], labels: list[int], classes: list[str], what: str) -> None:
        self.check_targets(located, labels, what)
        wrong = [f.name for f, t in zip(files, labels) if f.parent.name != classes[t]]
        if wrong:
            raise self.malformed(located, f"{what} labels disagree with the Images/ folders for {wrong[:3]}")

    def validate_official(self, located: Path) -> None:
        classes = self._classes(located)
        for split in ("train", "test"):
            files, labels = self._read(located, split)
            self._consistent(located, files, labels, classes, f"{split}_list.mat")
            self.require_images(located, files, f"{split}_list.mat")

    def official_parts(self, located: Path, loader: ImageLoader, opts: dict[str, Any]) -> Parts:
        classes = self._classes(located)

        def part(split: str) -> Selection:
            files, labels = self._read(located, split)
            self._consistent(located, files, labels, classes, f"{split}_list.mat")
            return _image_list(located, files, labels, classes, loader)

        return {"train": lambda: part("train"), "test": lambda: part("test")}


# --------------------------------------------------------------------------------------------------------
# MIT Indoor-67


class IndoorSource(FolderSource):
    def official_root(self, root: Path) -> Path | None:
        ok = all((root / f).exists() for f in ("Images", "TrainImages.txt", "TestImages.txt"))
        return root if ok else None

    def official_missing(self, root: Path) -> list[Path]:
        return [root / "Images", root / "TrainImages.txt", root / "TestImages.txt"]

    def _read(self, located: Path, split: str, classes: list[str]) -> tuple[list[Path], list[int]]:
        name = f"{split.capitalize()}Images.txt"
        index = {c: i for i, c in enumerate(classes)}
        rels = read_lines(located / name)
        unknown = sorted({r.split("/")[0] for r in rels} - set(index))
        if unknown or any("/" not in r for r in rels):
            raise self.malformed(
                located, f"{name}: expected '<class>/<file>' lines naming Images/ folders; unknown: {unknown[:5]}"
            )
        return [located / "Images" / r for r in rels], [index[r.split("/")[0]] for r in rels]

    def validate_official(self, located: Path) -> None:
        classes = list_class_dirs(located / "Images")
        self.check_class_count(located, classes, "Images/")
        for split in ("train", "test"):
            files, _ = self._read(located, split, classes)
            self.require_images(located, files, f"{split.capitalize()}Images.txt")

    def official_parts(self, located: Path, loader: ImageLoader, opts: dict[str, Any]) -> Parts:
        classes = list_class_dirs(located / "Images")
        self.check_class_count(located, classes, "Images/")

        def part(split: str) -> Selection:
            return _image_list(located, *self._read(located, split, classes), classes, loader)

        return {"train": lambda: part("train"), "test": lambda: part("test")}


# --------------------------------------------------------------------------------------------------------
# UIUC Sports-8


class SportsSource(FolderSource):
    """The archive has no split: as in Li & Fei-Fei (2007), ``train_per_class`` (70) images of each event
    are chosen for train (by a seeded hash) and ``test_per_class`` (60) of the rest for test."""

    def official_root(self, root: Path) -> Path | None:
        return root if (root / "event_img").is_dir() else None

    def official_missing(self, root: Path) -> list[Path]:
        return [root / "event_img"]

    def validate_official(self, located: Path) -> None:
        self.check_class_dirs(located, located / "event_img", "event_img/")

    def official_parts(self, located: Path, loader: ImageLoader, opts: dict[str, Any]) -> Parts:
        classes = list_class_dirs(located / "event_img")
        self.check_class_count(located, classes, "event_img/")
        files, labels = [], []
        for label, name in enumerate(classes):
            images = list_images(located / "event_img" / name)
            files += images
            labels += [label] * len(images)
        everything = _image_list(located, files, labels, classes, loader)
        train, test = per_class_split(
            everything,
            int(opts["train_per_class"]),
            seed=f"partition-{opts['seed']}",
            n_second=int(opts["test_per_class"]),
        )
        return {"train": lambda: train, "test": lambda: test}
