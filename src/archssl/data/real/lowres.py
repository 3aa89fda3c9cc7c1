"""Small-image datasets stored as arrays: CIFAR-10, CIFAR-100, SVHN, STL-10.

Read with torchvision's classes (``download=False``). torchvision checks the MD5 of every file on every
construction (hashing 2.6 GB for STL-10's unlabeled part) and rejects re-packed copies; the subclasses
below check that the files exist instead, and damaged files are reported when they fail to parse.
Images are already tight crops, so these sources default to ``resize=1.0`` (resize the shorter side
straight to the study's resolution; at the native size the pixels pass through unchanged).
"""

from __future__ import annotations

import functools
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from scipy.io.matlab import MatReadError

from archssl.data.preprocess import ImageLoader
from archssl.data.real.common import RealDatasetSource, Selection, read_lines, tv_dataset, whole

# --------------------------------------------------------------------------------------------------------
# torchvision readers without MD5 verification (built on first use: importing torchvision costs ~2 s, and
# every workflow job and snakemake start imports this registry)


class _ExistenceCheckedCIFAR:
    """Mixin: existence instead of MD5 checks for torchvision's CIFAR readers."""

    root: str
    base_folder: str
    train_list: list
    test_list: list
    meta: dict

    def _check_integrity(self) -> bool:
        folder = Path(self.root) / self.base_folder
        return all((folder / name).is_file() for name, _ in self.train_list + self.test_list)

    def _load_meta(self) -> None:
        with open(Path(self.root) / self.base_folder / self.meta["filename"], "rb") as f:
            data = pickle.load(f, encoding="latin1")
        self.classes = list(data[self.meta["key"]])
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}


_STL_FILES = {
    "train": ("train_X.bin", "train_y.bin"),
    "test": ("test_X.bin", "test_y.bin"),
    "unlabeled": ("unlabeled_X.bin",),
    "train+unlabeled": ("train_X.bin", "train_y.bin", "unlabeled_X.bin"),
}


@functools.cache
def _readers() -> dict[str, type]:
    class _CIFAR10(_ExistenceCheckedCIFAR, tv_dataset("CIFAR10")):
        pass

    class _CIFAR100(_ExistenceCheckedCIFAR, tv_dataset("CIFAR100")):
        pass

    class _SVHN(tv_dataset("SVHN")):
        def _check_integrity(self) -> bool:
            return os.path.isfile(os.path.join(self.root, self.filename))

    class _STL10(tv_dataset("STL10")):
        def _check_integrity(self) -> bool:
            folder = Path(self.root) / self.base_folder
            return all((folder / name).is_file() for name in _STL_FILES[self.split])

    return {"cifar10": _CIFAR10, "cifar100": _CIFAR100, "svhn": _SVHN, "stl10": _STL10}


# --------------------------------------------------------------------------------------------------------
# Sources


class CifarSource(RealDatasetSource):
    """CIFAR-10 / CIFAR-100 (python pickles). ``val`` is held out from the 50,000 training images. Read by
    the reader of the dataset's name in :func:`_readers`."""

    def validate(self, located: Path) -> None:
        reader = _readers()[self.info.name]
        folder = located / reader.base_folder
        with open(folder / reader.meta["filename"], "rb") as f:
            meta = pickle.load(f, encoding="latin1")
        self.check_class_count(located, meta[reader.meta["key"]], f"{folder / reader.meta['filename']}")

    def select(self, split: str, located: Path, loader: ImageLoader, opts: dict[str, Any]) -> Selection:
        def part(train: bool) -> Selection:
            ds = _readers()[self.info.name](str(located), train=train, download=False)
            self.check_class_count(located, ds.classes, "the meta file")
            prefix = "train" if train else "test"
            return whole(ds, ds.targets, [f"{prefix}/{i:05d}" for i in range(len(ds))], ds.classes)

        return self.with_heldout_val(split, lambda: part(True), lambda: part(False), opts)


class SvhnSource(RealDatasetSource):
    """SVHN cropped digits (format 2). Label 10 of the .mat files is digit 0 (torchvision maps it)."""

    def validate(self, located: Path) -> None:
        from scipy.io import whosmat

        for name in ("train_32x32.mat", "test_32x32.mat"):
            try:
                shapes = {var: shape for var, shape, _ in whosmat(str(located / name))}
            except (OSError, ValueError, MatReadError) as exc:
                raise self.malformed(located, f"{name} is not a readable .mat file ({exc})") from exc
            if "X" not in shapes or "y" not in shapes:
                raise self.malformed(located, f"{name} lacks the variables X and y (found {sorted(shapes)})")
            x, y = shapes["X"], shapes["y"]
            if len(x) != 4 or x[:3] != (32, 32, 3) or x[3] != y[0]:
                raise self.malformed(
                    located, f"{name}: expected X of shape (32, 32, 3, N) and y (N, 1), got {x} and {y}"
                )

    def select(self, split: str, located: Path, loader: ImageLoader, opts: dict[str, Any]) -> Selection:
        classes = [str(d) for d in range(10)]

        def part(name: str) -> Selection:
            ds = _readers()["svhn"](str(located), split=name, download=False)
            return whole(ds, ds.labels.tolist(), [f"{name}/{i:06d}" for i in range(len(ds))], classes)

        return self.with_heldout_val(split, lambda: part("train"), lambda: part("test"), opts)


STL10_CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
_STL_IMAGE_BYTES = 3 * 96 * 96


class Stl10Source(RealDatasetSource):
    """STL-10 binary version. Besides train/val/test it has ``unlabeled`` (100,000 images, target -1)
    and ``train+unlabeled`` (all 105,000, for self-supervised pretraining). Option ``fold`` (0-9) restricts
    train to one of the ten predefined 1,000-image folds (``val`` is then held out from that fold)."""

    def validate(self, located: Path) -> None:
        folder = located / "stl10_binary"
        self.require(located, *(f"stl10_binary/{n}" for n in _STL_FILES["train+unlabeled"] + _STL_FILES["test"]))
        for part in ("train", "test"):
            n_labels = (folder / f"{part}_y.bin").stat().st_size
            n_bytes = (folder / f"{part}_X.bin").stat().st_size
            if n_bytes != n_labels * _STL_IMAGE_BYTES:
                raise self.malformed(
                    located, f"{part}_X.bin holds {n_bytes} bytes, expected {n_labels} images x {_STL_IMAGE_BYTES}"
                )
        if (folder / "unlabeled_X.bin").stat().st_size % _STL_IMAGE_BYTES:
            raise self.malformed(located, "unlabeled_X.bin is not a whole number of 96x96x3 images")

    def _classes(self, located: Path) -> list[str]:
        path = located / "stl10_binary" / "class_names.txt"
        return read_lines(path) if path.is_file() else list(STL10_CLASSES)

    def _fold(self, located: Path, fold: int | None) -> list[int] | None:
        if fold is None:
            return None
        if not (isinstance(fold, int) and 0 <= fold < 10):
            raise self.malformed(located, f"option fold must be an integer 0..9 or None, got {fold!r}")
        self.require(located, "stl10_binary/fold_indices.txt")
        lines = (located / "stl10_binary" / "fold_indices.txt").read_text().splitlines()
        return [int(v) for v in lines[fold].split()]

    def select(self, split: str, located: Path, loader: ImageLoader, opts: dict[str, Any]) -> Selection:
        classes = self._classes(located)
        self.check_class_count(located, classes, "class_names.txt")
        fold = self._fold(located, opts["fold"])
        for name in _STL_FILES["test" if split == "test" else "train" if split in ("train", "val") else split]:
            self.require(located, f"stl10_binary/{name}")

        if split == "unlabeled":
            ds = _readers()["stl10"](str(located), split="unlabeled", download=False)
            return Selection(
                ds, np.arange(len(ds)), [-1] * len(ds), [f"unlabeled/{i:06d}" for i in range(len(ds))], classes
            )
        if split == "train+unlabeled":
            ds = _readers()["stl10"](str(located), split="train+unlabeled", download=False)
            n_train = int(np.sum(ds.labels >= 0))
            ids = [f"train/{i:05d}" if i < n_train else f"unlabeled/{i - n_train:06d}" for i in range(len(ds))]
            positions = (fold if fold is not None else list(range(n_train))) + list(range(n_train, len(ds)))
            return Selection(ds, np.arange(len(ds)), ds.labels.tolist(), ids, classes).take(positions)

        def train() -> Selection:
            ds = _readers()["stl10"](str(located), split="train", download=False)
            sel = whole(ds, ds.labels.tolist(), [f"train/{i:05d}" for i in range(len(ds))], classes)
            return sel if fold is None else sel.take(fold)

        def test() -> Selection:
            ds = _readers()["stl10"](str(located), split="test", download=False)
            return whole(ds, ds.labels.tolist(), [f"test/{i:05d}" for i in range(len(ds))], classes)

        return self.with_heldout_val(split, train, test, opts)
