"""The built-in mini suite: generated offline and deterministically from data that ships inside
scikit-learn and scikit-image, plus procedural generators.

Eight labelled downstream tasks of clearly different kinds and one unlabeled pretraining pool:

=============  =======  ===================================================================
name           classes  what decides the label
=============  =======  ===================================================================
digits         10       the handwritten digit (scikit-learn ``load_digits``), recoloured, jittered
faces          2        face vs non-face (``skimage.data.lfw_subset``), split by source image
textures       8        brick / grass / gravel photos and five procedural textures
photo_source   9        which bundled colour photo a crop comes from (disjoint regions per split)
shape          5        circle, square, triangle, cross, ring on a cluttered background
count          4        how many objects (1-4) a scene holds
position       4        which quadrant holds the single object
orientation    4        the angle of an elongated bar (0, 45, 90, 135 degrees)
pool           -        >= 5,000 unlabeled images: photo crops, textures and procedural scenes
=============  =======  ===================================================================

Each task has fixed train/val/test splits. Where images are cut from a few large photos, the splits
come from disjoint regions of each photo, so no test crop overlaps a training crop.

Storage: one HDF5 file per dataset, ``<root>/<name>/images.h5``, with one group per split holding
``images`` (uint8, N x 3 x S x S) and ``labels`` (int64, N); root attributes ``name``, ``num_classes``,
``class_names`` (JSON), ``image_size``, ``seed``, ``generator_version``, ``description``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from archssl.catalog.datasets import SPLITS, DatasetError
from archssl.catalog.datasets.mini import POOL, MiniTaskInfo
from archssl.catalog.datasets.mini import TASKS as TASK_INFOS
from archssl.data.base import DatasetSource, check_split
from archssl.utils import atomic_path

GENERATOR_VERSION = 1

# --------------------------------------------------------------------------------------------------
# bundled images


def _colour_photos() -> dict[str, np.ndarray]:
    import skimage.data as sk
    from sklearn.datasets import load_sample_images

    photos = {
        "astronaut": sk.astronaut(),
        "coffee": sk.coffee(),
        "chelsea": sk.chelsea(),
        "rocket": sk.rocket(),
        "hubble": sk.hubble_deep_field(),
        "retina": sk.retina(),
        "ihc": sk.immunohistochemistry(),
    }
    china, flower = load_sample_images().images
    photos["china"] = china
    photos["flower"] = flower
    return photos


def _grey_photos() -> dict[str, np.ndarray]:
    import skimage.data as sk

    return {n: getattr(sk, n)() for n in ("camera", "coins", "moon", "page", "text", "clock", "cell")}


def _texture_photos() -> dict[str, np.ndarray]:
    import skimage.data as sk

    return {n: getattr(sk, n)() for n in ("brick", "grass", "gravel")}


def _to_rgb_float(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    img = img[..., :3].astype(np.float32)
    return img / 255.0 if img.max() > 1.5 else img


def _crops(img: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Crop ``boxes`` (K x 4: x0, y0, x1, y1 in pixels) out of ``img`` (H x W x 3 float) and resize
    each to ``size`` x ``size`` with area averaging (``roi_align`` with dense sampling)."""
    import torch
    from torchvision.ops import roi_align

    t = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]
    b = torch.cat([torch.zeros(len(boxes), 1), torch.from_numpy(boxes.astype(np.float32))], dim=1)
    out = roi_align(t, b, output_size=size, spatial_scale=1.0, sampling_ratio=-1, aligned=True)
    return out.numpy().transpose(0, 2, 3, 1)


def _random_boxes(rng, h: int, w: int, n: int, scale: tuple[float, float], x_range=(0.0, 1.0)) -> np.ndarray:
    """Square boxes whose side is a fraction ``scale`` of min(h, w), lying inside columns ``x_range``."""
    side = rng.uniform(*scale, size=n) * min(h, w)
    lo, hi = x_range[0] * w, x_range[1] * w
    side = np.minimum(side, hi - lo)
    x0 = rng.uniform(lo, hi - side)
    y0 = rng.uniform(0, h - side)
    return np.stack([x0, y0, x0 + side, y0 + side], axis=1)


# --------------------------------------------------------------------------------------------------
# procedural drawing (supersampled 2x, then averaged: anti-aliased shapes)

SHAPES = TASK_INFOS["shape"].class_names


def _grid(size: int):
    s = 2 * size
    c = (np.arange(s) + 0.5) / s
    return np.meshgrid(c, c, indexing="xy")  # x, y in [0, 1]


def _shape_mask(kind: str, x, y, cx, cy, r, angle) -> np.ndarray:
    ca, sa = math.cos(angle), math.sin(angle)
    u = (x - cx) * ca + (y - cy) * sa
    v = -(x - cx) * sa + (y - cy) * ca
    if kind == "circle":
        return u * u + v * v <= r * r
    if kind == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.8 * r
    if kind == "triangle":
        # equilateral, circumradius r
        m = np.ones_like(u, dtype=bool)
        for k in range(3):
            a = k * 2 * math.pi / 3
            m &= (u * math.cos(a) + v * math.sin(a)) <= r / 2
        return m
    if kind == "cross":
        t = r / 3
        return ((np.abs(u) <= t) & (np.abs(v) <= r)) | ((np.abs(v) <= t) & (np.abs(u) <= r))
    if kind == "ring":
        d = u * u + v * v
        return (d <= r * r) & (d >= (0.55 * r) ** 2)
    if kind == "bar":
        return (np.abs(u) <= r) & (np.abs(v) <= r / 4.5)
    raise ValueError(kind)


def _background(rng, size: int, textures: list[np.ndarray]) -> np.ndarray:
    """A random background at 2x resolution: flat colour, gradient, smooth noise or a texture crop."""
    s = 2 * size
    kind = rng.integers(4)
    if kind == 0:
        return np.broadcast_to(rng.uniform(0, 1, 3), (s, s, 3)).copy()
    if kind == 1:
        x, y = _grid(size)
        a, b = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
        t = (x * math.cos(rng.uniform(0, 6.3)) + y * math.sin(rng.uniform(0, 6.3)))[..., None]
        t = (t - t.min()) / (np.ptp(t) + 1e-6)
        return a * (1 - t) + b * t
    if kind == 2:
        low = rng.uniform(0, 1, (4, 4, 3))
        up = np.kron(low, np.ones((s // 4 + 1, s // 4 + 1, 1)))[:s, :s]
        return 0.5 * up + 0.5 * rng.uniform(0, 1, 3)
    tex = textures[rng.integers(len(textures))]
    h, w = tex.shape[:2]
    y0, x0 = rng.integers(0, h - s), rng.integers(0, w - s)
    crop = tex[y0 : y0 + s, x0 : x0 + s]
    return 0.6 * crop * rng.uniform(0.3, 1, 3) + 0.4 * rng.uniform(0, 1, 3)


def _paint(canvas: np.ndarray, mask: np.ndarray, rng) -> None:
    colour = rng.uniform(0, 1, 3)
    # keep the object visible against the local background
    under = canvas[mask].mean(axis=0) if mask.any() else colour
    if np.abs(colour - under).sum() < 0.6:
        colour = 1.0 - under
    canvas[mask] = colour


def _downsample(canvas: np.ndarray) -> np.ndarray:
    s = canvas.shape[0] // 2
    return canvas.reshape(s, 2, s, 2, 3).mean(axis=(1, 3))


def _scene(rng, size, textures, objects: list[tuple[str, float, float, float, float]]) -> np.ndarray:
    canvas = _background(rng, size, textures)
    x, y = _grid(size)
    for kind, cx, cy, r, angle in objects:
        _paint(canvas, _shape_mask(kind, x, y, cx, cy, r, angle), rng)
    return _downsample(canvas)


def _place(rng, n: int, rmin: float, rmax: float, region=(0.0, 1.0, 0.0, 1.0), tries: int = 200):
    """``n`` non-overlapping discs (cx, cy, r) inside ``region`` = (x0, x1, y0, y1)."""
    out: list[tuple[float, float, float]] = []
    for _ in range(tries):
        if len(out) == n:
            break
        r = rng.uniform(rmin, rmax)
        x0, x1, y0, y1 = region
        if x1 - x0 < 2 * r or y1 - y0 < 2 * r:
            continue
        cx, cy = rng.uniform(x0 + r, x1 - r), rng.uniform(y0 + r, y1 - r)
        if all((cx - a) ** 2 + (cy - b) ** 2 > (r + c + 0.02) ** 2 for a, b, c in out):
            out.append((cx, cy, r))
    if len(out) < n:
        raise RuntimeError(f"could not place {n} objects")
    return out


# --------------------------------------------------------------------------------------------------
# procedural textures


def _procedural_texture(kind: str, rng, size: int) -> np.ndarray:
    x, y = _grid(size)
    ang = rng.uniform(0, math.pi)
    u = x * math.cos(ang) + y * math.sin(ang)
    v = -x * math.sin(ang) + y * math.cos(ang)
    f = rng.uniform(4, 7)
    if kind == "stripes":
        t = (np.sin(2 * math.pi * f * u) > 0).astype(np.float32)
    elif kind == "checker":
        t = ((np.floor(f * u) + np.floor(f * v)) % 2).astype(np.float32)
    elif kind == "dots":
        t = ((np.mod(f * u, 1) - 0.5) ** 2 + (np.mod(f * v, 1) - 0.5) ** 2 < 0.08).astype(np.float32)
    elif kind == "noise":
        t = np.kron(rng.uniform(0, 1, (size // 2, size // 2)), np.ones((4, 4)))[: 2 * size, : 2 * size]
    elif kind == "waves":
        t = 0.5 + 0.5 * np.sin(2 * math.pi * f * u + 2.0 * np.sin(2 * math.pi * 2 * v))
    else:
        raise ValueError(kind)
    a, b = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
    if np.abs(a - b).sum() < 0.6:
        b = 1 - a
    img = a * (1 - t[..., None]) + b * t[..., None]
    return _downsample(img)


# --------------------------------------------------------------------------------------------------
# the tasks


@dataclass(frozen=True)
class MiniTask:
    """How one task is generated; its class names, description and metric are its descriptor's
    (:data:`archssl.catalog.datasets.mini.TASKS`)."""

    info: MiniTaskInfo
    per_split: tuple[int, int, int]  # images per class in train, val, test
    generate: Callable  # (rng, size, split_index, n_per_class, assets) -> (images float NHWC, labels)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.info.class_names

    @property
    def description(self) -> str:
        return self.info.description

    @property
    def metric(self) -> str:
        return self.info.metric


def _gen_digits(rng, size, split, n, assets):
    from sklearn.datasets import load_digits

    d = load_digits()
    # fixed, stratified split of the 1,797 digits: 60/20/20
    order = np.random.default_rng(1234).permutation(len(d.target))
    cut = [int(0.6 * len(order)), int(0.8 * len(order))]
    idx = np.split(order, cut)[split]
    imgs, labels = [], []
    for i in idx:
        g = d.images[i] / 16.0
        big = np.kron(g, np.ones((4, 4)))  # 32 x 32
        canvas = _background(rng, size, assets["textures"]) * 0.5
        fg = rng.uniform(0.5, 1, 3)
        pad = rng.integers(0, 9, 2)
        s = 2 * size
        scale = (s - 8) / 32
        yy, xx = np.meshgrid(np.arange(s), np.arange(s), indexing="ij")
        src_y = ((yy - pad[0]) / scale).astype(int)
        src_x = ((xx - pad[1]) / scale).astype(int)
        ok = (src_y >= 0) & (src_y < 32) & (src_x >= 0) & (src_x < 32)
        alpha = np.zeros((s, s))
        alpha[ok] = big[src_y[ok], src_x[ok]]
        canvas = canvas * (1 - alpha[..., None]) + fg * alpha[..., None]
        imgs.append(_downsample(canvas))
        labels.append(d.target[i])
    return np.stack(imgs), np.asarray(labels)


def _gen_faces(rng, size, split, n, assets):
    from skimage.data import lfw_subset

    faces = lfw_subset()  # 100 faces then 100 non-faces, 25 x 25 grey
    order = np.random.default_rng(4321).permutation(100)
    cut = np.split(order, [60, 80])[split]
    imgs, labels = [], []
    for label, offset in ((1, 0), (0, 100)):
        for i in cut:
            src = _to_rgb_float(faces[offset + i])
            for _ in range(n // len(cut)):
                j = 25 * rng.uniform(0.0, 0.12, 2)
                side = 25 * rng.uniform(0.85, 1.0)
                box = np.array([[j[0], j[1], min(25, j[0] + side), min(25, j[1] + side)]])
                img = _crops(src, box, size)[0]
                if rng.uniform() < 0.5:
                    img = img[:, ::-1]
                img = img * rng.uniform(0.6, 1.2, 3) + rng.uniform(-0.1, 0.1)
                imgs.append(np.clip(img, 0, 1))
                labels.append(label)
    return np.stack(imgs), np.asarray(labels)


TEXTURE_CLASSES = TASK_INFOS["textures"].class_names
SPLIT_BANDS = ((0.0, 0.6), (0.6, 0.8), (0.8, 1.0))


def _gen_textures(rng, size, split, n, assets):
    imgs, labels = [], []
    for label, kind in enumerate(TEXTURE_CLASSES):
        if kind in assets["texture_photos"]:
            src = assets["texture_photos"][kind]
            h, w = src.shape[:2]
            boxes = _random_boxes(rng, h, w, n, (0.12, 0.3), SPLIT_BANDS[split])
            crops = _crops(src, boxes, size) * rng.uniform(0.6, 1.1, (n, 1, 1, 3))
            imgs.extend(np.clip(crops, 0, 1))
        else:
            imgs.extend(_procedural_texture(kind, rng, size) for _ in range(n))
        labels.extend([label] * n)
    return np.stack(imgs), np.asarray(labels)


def _gen_photo_source(rng, size, split, n, assets):
    imgs, labels = [], []
    for label, name in enumerate(sorted(assets["photos"])):
        src = assets["photos"][name]
        h, w = src.shape[:2]
        boxes = _random_boxes(rng, h, w, n, (0.15, 0.35), SPLIT_BANDS[split])
        imgs.extend(_crops(src, boxes, size))
        labels.extend([label] * n)
    return np.stack(imgs), np.asarray(labels)


def _gen_shape(rng, size, split, n, assets):
    imgs, labels = [], []
    for label, kind in enumerate(SHAPES):
        for _ in range(n):
            (cx, cy, r), = _place(rng, 1, 0.16, 0.3)
            imgs.append(_scene(rng, size, assets["textures"], [(kind, cx, cy, r, rng.uniform(0, 2 * math.pi))]))
            labels.append(label)
    return np.stack(imgs), np.asarray(labels)


def _gen_count(rng, size, split, n, assets):
    imgs, labels = [], []
    for label in range(4):
        for _ in range(n):
            discs = _place(rng, label + 1, 0.08, 0.14)
            objs = [(SHAPES[rng.integers(len(SHAPES))], cx, cy, r, rng.uniform(0, 6.3)) for cx, cy, r in discs]
            imgs.append(_scene(rng, size, assets["textures"], objs))
            labels.append(label)
    return np.stack(imgs), np.asarray(labels)


QUADRANTS = ((0.0, 0.5, 0.0, 0.5), (0.5, 1.0, 0.0, 0.5), (0.0, 0.5, 0.5, 1.0), (0.5, 1.0, 0.5, 1.0))


def _gen_position(rng, size, split, n, assets):
    imgs, labels = [], []
    for label, region in enumerate(QUADRANTS):
        for _ in range(n):
            (cx, cy, r), = _place(rng, 1, 0.09, 0.16, region)
            kind = SHAPES[rng.integers(len(SHAPES))]
            imgs.append(_scene(rng, size, assets["textures"], [(kind, cx, cy, r, rng.uniform(0, 6.3))]))
            labels.append(label)
    return np.stack(imgs), np.asarray(labels)


def _gen_orientation(rng, size, split, n, assets):
    imgs, labels = [], []
    for label in range(4):
        for _ in range(n):
            (cx, cy, r), = _place(rng, 1, 0.25, 0.38)
            angle = label * math.pi / 4 + rng.uniform(-0.12, 0.12)
            imgs.append(_scene(rng, size, assets["textures"], [("bar", cx, cy, r, angle)]))
            labels.append(label)
    return np.stack(imgs), np.asarray(labels)


_GENERATORS = {  # name: (images per class in train, val, test; the generator)
    "digits": ((0, 0, 0), _gen_digits),
    "faces": ((180, 60, 60), _gen_faces),
    "textures": ((100, 40, 40), _gen_textures),
    "photo_source": ((100, 40, 40), _gen_photo_source),
    "shape": ((120, 40, 40), _gen_shape),
    "count": ((120, 40, 40), _gen_count),
    "position": ((120, 40, 40), _gen_position),
    "orientation": ((120, 40, 40), _gen_orientation),
}
TASKS: dict[str, MiniTask] = {name: MiniTask(info, *_GENERATORS[name]) for name, info in TASK_INFOS.items()}


def _assets() -> dict:
    textures = [_to_rgb_float(t) for t in _texture_photos().values()]
    return {
        "photos": {k: _to_rgb_float(v) for k, v in _colour_photos().items()},
        "grey_photos": {k: _to_rgb_float(v) for k, v in _grey_photos().items()},
        "texture_photos": {k: _to_rgb_float(v) for k, v in _texture_photos().items()},
        "textures": textures,
    }


def _to_uint8_chw(images: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8).transpose(0, 3, 1, 2).copy()


def _split_seed(seed: int, name: str, split: int) -> np.random.Generator:
    # a stable per-(dataset, split) stream: independent of which other datasets are generated
    key = [seed, split] + [ord(c) for c in name]
    return np.random.default_rng(key)


def generate_task(name: str, size: int = 32, seed: int = 0, assets: dict | None = None) -> dict:
    """Generate one task; returns {split: (uint8 N x 3 x S x S, int64 labels)}."""
    task = TASKS[name]
    assets = assets or _assets()
    out = {}
    for i, split in enumerate(SPLITS):
        rng = _split_seed(seed, name, i)
        imgs, labels = task.generate(rng, size, i, task.per_split[i], assets)
        out[split] = (_to_uint8_chw(imgs), labels.astype(np.int64))
    return out


def generate_pool(size: int = 32, seed: int = 0, n: int = 6000, assets: dict | None = None) -> np.ndarray:
    """The unlabeled pretraining pool: 45% photo crops, 15% texture crops, 40% procedural scenes."""
    assets = assets or _assets()
    rng = _split_seed(seed, POOL, 0)
    n_photo, n_tex = int(0.45 * n), int(0.15 * n)
    n_scene = n - n_photo - n_tex
    photos = list(assets["photos"].values()) + list(assets["grey_photos"].values())
    parts = []
    per = np.bincount(rng.integers(len(photos), size=n_photo), minlength=len(photos))
    for img, k in zip(photos, per):
        h, w = img.shape[:2]
        parts.append(_crops(img, _random_boxes(rng, h, w, int(k), (0.1, 0.6)), size))
    texs = list(assets["texture_photos"].values())
    per = np.bincount(rng.integers(len(texs), size=n_tex), minlength=len(texs))
    for img, k in zip(texs, per):
        h, w = img.shape[:2]
        parts.append(_crops(img, _random_boxes(rng, h, w, int(k), (0.05, 0.4)), size) * rng.uniform(0.5, 1.1, (int(k), 1, 1, 3)))
    scenes = []
    for _ in range(n_scene):
        k = int(rng.integers(1, 5))
        discs = _place(rng, k, 0.07, 0.3 if k == 1 else 0.16)
        objs = [(SHAPES[rng.integers(len(SHAPES))], cx, cy, r, rng.uniform(0, 6.3)) for cx, cy, r in discs]
        scenes.append(_scene(rng, size, assets["textures"], objs))
    parts.append(np.stack(scenes))
    images = np.concatenate(parts)
    images = images[rng.permutation(len(images))]
    return _to_uint8_chw(np.clip(images, 0, 1))


def write_dataset(path: Path, splits: dict, attrs: dict) -> None:
    import h5py

    path = Path(path)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for split, (images, labels) in splits.items():
                g = f.create_group(split)
                g.create_dataset("images", data=images, chunks=(min(256, len(images)),) + images.shape[1:])
                g.create_dataset("labels", data=labels)
            for k, v in attrs.items():
                f.attrs[k] = v
            f.attrs["complete"] = 1


def prepare(name: str, out: Path, size: int = 32, seed: int = 0, pool_size: int = 6000) -> Path:
    """Generate built-in dataset ``name`` (a task or ``pool``) into ``out`` (an ``images.h5`` path)."""
    assets = _assets()
    if name == POOL:
        images = generate_pool(size, seed, pool_size, assets)
        splits = {"train": (images, np.full(len(images), -1, dtype=np.int64))}
        attrs = dict(num_classes=0, class_names="[]", description="unlabeled pretraining pool")
    elif name in TASKS:
        splits = generate_task(name, size, seed, assets)
        t = TASKS[name]
        attrs = dict(num_classes=len(t.class_names), class_names=json.dumps(list(t.class_names)),
                     description=t.description)
    else:
        raise DatasetError(f"unknown built-in dataset {name!r}; known: {', '.join([POOL, *TASKS])}")
    attrs.update(name=name, image_size=size, seed=seed, generator_version=GENERATOR_VERSION)
    write_dataset(out, splits, attrs)
    return Path(out)


# --------------------------------------------------------------------------------------------------
# reading


class ArrayDataset:
    """A map-style torch Dataset over in-memory uint8 images (N x 3 x S x S) and int labels."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        import torch

        self.images = torch.from_numpy(np.ascontiguousarray(images))
        self.labels = torch.from_numpy(np.ascontiguousarray(labels))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], int(self.labels[i])


def read_split(path: Path, split: str, name: str = "?") -> tuple[np.ndarray, np.ndarray]:
    import h5py

    path = Path(path)
    if not path.exists():
        raise DatasetError(f"dataset {name!r}: {path} does not exist; run the workflow's prepare_data rule "
                           f"(or `archssl data prepare {name} --out {path}`)")
    try:
        with h5py.File(path, "r") as f:
            if int(f.attrs.get("complete", 0)) != 1:
                raise DatasetError(f"dataset {name!r}: {path} is incomplete (no 'complete' flag); delete it and rerun")
            if split not in f:
                raise DatasetError(f"dataset {name!r}: {path} has no split {split!r} (has {sorted(f)})")
            return f[split]["images"][()], f[split]["labels"][()]
    except OSError as e:
        raise DatasetError(f"dataset {name!r}: {path} is not a readable HDF5 file ({e}); delete it and rerun") from e


class MiniSource(DatasetSource):
    """The reader of a generated set (the ``impl`` of the mini suite's descriptors): ``<root>/<name>/images.h5``."""

    def open(self, split: str, root: Path, image_size: int, **options):
        name, splits = self.info.name, self.info.splits
        check_split(name, split)
        if split not in splits:
            raise DatasetError(f"dataset {name!r} has only the split(s) {splits}, not {split!r}")
        path = Path(root) / name / "images.h5"
        images, labels = read_split(path, split, name)
        if images.shape[-1] != image_size:
            raise DatasetError(f"dataset {name!r}: {path} holds {images.shape[-1]}px images, "
                               f"but the study asks for {image_size}px; regenerate it")
        return ArrayDataset(images, labels)
