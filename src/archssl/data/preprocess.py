"""Per-resolution preprocessing of real images: decode, RGB, resize the shorter side, centre crop.

Every dataset item leaves the loader as a ``uint8`` tensor of shape ``(3, S, S)`` where ``S`` is the
study's ``image_size``. The shorter side of the image is first resized to ``round(S * resize)`` (the
classic ImageNet evaluation transform is ``resize = 256/224``: resize to 256, crop 224), then the central
``S x S`` square is cut out. ``resize = 1.0`` resizes the shorter side straight to ``S``; an image that is
already ``S x S`` then passes through bit-exactly (CIFAR at 32 px, STL-10 at 96 px).

Pretraining views (``open(..., view="pretrain")``) instead keep the whole image: :class:`WholeImage` resizes
it, uncropped, to a fixed square canvas and reports its original height and width, so that the batched
augmenter cuts its RandomResizedCrop boxes relative to the whole image, as SimCLR and MoCo do.

Normalisation is *not* applied here: it runs later, on the device, on whole batches. The constants are
exposed (:data:`IMAGENET_MEAN`, :data:`IMAGENET_STD`) together with :func:`normalize`, which turns a
``uint8`` batch into a normalised float batch on whatever device the batch lives.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from archssl.catalog.datasets import DEFAULT_RESIZE
from archssl.catalog.datasets import INTERPOLATIONS as INTERPOLATION_NAMES

#: Per-channel RGB mean and standard deviation of ImageNet, on the 0..1 scale.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

#: The PIL filter of each name option ``interpolation`` takes (the names are the descriptors' fact,
#: :data:`archssl.catalog.datasets.INTERPOLATIONS`): ``nearest`` -> ``Image.Resampling.NEAREST``, ...
INTERPOLATIONS = {name: Image.Resampling[name.upper()] for name in INTERPOLATION_NAMES}


def resized_short_side(image_size: int, resize: float = DEFAULT_RESIZE) -> int:
    """The length the shorter image side is resized to before the ``image_size`` centre crop."""
    if image_size < 1:
        raise ValueError(f"image_size must be a positive integer, got {image_size!r}")
    if resize < 1.0:
        raise ValueError(f"resize must be >= 1.0 (the crop must fit in the resized image), got {resize!r}")
    return max(image_size, int(np.floor(image_size * resize + 0.5)))


def to_rgb(image: Any) -> Image.Image:
    """A PIL RGB image from a PIL image of any mode (grey, palette, CMYK, RGBA...) or an ``HxW[xC]`` uint8 array."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    if not isinstance(image, Image.Image):
        raise TypeError(f"expected a PIL image or a numpy array, got {type(image).__name__}")
    if image.mode != "RGB":
        if image.mode == "P" and "transparency" in image.info:
            image = image.convert("RGBA")  # PIL warns when a palette with transparency goes straight to RGB
        image = image.convert("RGB")
    return image


class Preprocess:
    """Callable turning one image into a ``uint8`` ``(3, image_size, image_size)`` tensor.

    ``resize`` is the ratio between the resized shorter side and the crop (see the module docstring);
    ``interpolation`` one of ``nearest``, ``bilinear`` (default, as torchvision's ``Resize``), ``bicubic``,
    ``lanczos``. PIL antialiases when it downsamples.
    """

    def __init__(self, image_size: int, resize: float = DEFAULT_RESIZE, interpolation: str = "bilinear"):
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"unknown interpolation {interpolation!r}; expected one of {sorted(INTERPOLATIONS)}")
        self.image_size = int(image_size)
        self.resize = float(resize)
        self.interpolation = interpolation
        self.short_side = resized_short_side(self.image_size, self.resize)

    def __repr__(self) -> str:
        return (
            f"Preprocess(image_size={self.image_size}, resize={self.resize:.4g}, interpolation={self.interpolation!r})"
        )

    def loader(self, jpeg_draft: bool = True) -> ImageLoader:
        """An image loader matched to this transform (see :class:`ImageLoader`)."""
        return ImageLoader(self.short_side if jpeg_draft else None)

    def __call__(self, image: Any) -> "torch.Tensor":
        image = to_rgb(image)
        width, height = image.size
        short, size = self.short_side, self.image_size
        if min(width, height) != short:
            # Same output size rule as torchvision's Resize(int): the shorter side becomes ``short``,
            # the longer one ``int(short * long / short_original)``.
            if width <= height:
                new_w, new_h = short, max(short, int(short * height / width))
            else:
                new_w, new_h = max(short, int(short * width / height)), short
            image = image.resize((new_w, new_h), INTERPOLATIONS[self.interpolation])
            width, height = new_w, new_h
        if (width, height) != (size, size):
            left = round((width - size) / 2.0)
            top = round((height - size) / 2.0)
            image = image.crop((left, top, left + size, top + size))
        array = np.asarray(image, dtype=np.uint8)
        import torch

        return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


class WholeImage:
    """Callable for pretraining views (``open(..., view="pretrain")``): the WHOLE image, resized to
    ``canvas_size x canvas_size`` without cropping and without keeping its aspect ratio, plus its size before
    that resize. ``__call__(image) -> (uint8 (3, canvas_size, canvas_size) tensor, int64 tensor [height,
    width])``.

    Why a stretched square and not a letterbox: the batched augmenter needs one tensor size per batch, and
    :func:`archssl.train.augment.sample_params` (given the sizes) samples each RandomResizedCrop box on the
    original ``height x width`` grid (scale relative to the whole image's area, aspect ratio in the image's
    own geometry, exactly torchvision's rule) and maps it onto the canvas, so the stretch is undone when the
    box is resized to the view: no distortion remains, and every canvas pixel holds image content (a 4:3
    letterbox would spend a quarter of the canvas, its transfer and its resampling on padding, and keep
    fewer pixels along the short side). ``image_size`` is the size of the views cut later (recorded for the
    dataset's ``image_size``); ``canvas_size`` bounds the detail small crops can have (a crop of 8% of the
    area spans ``0.28 * canvas_size`` pixels before it is resized to ``image_size``). An image that is
    already ``canvas_size x canvas_size`` passes through bit-exactly."""

    def __init__(self, canvas_size: int, image_size: int, interpolation: str = "bilinear"):
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"unknown interpolation {interpolation!r}; expected one of {sorted(INTERPOLATIONS)}")
        if int(image_size) < 1 or int(canvas_size) < int(image_size):
            raise ValueError(f"pretrain_size (the pretraining canvas) must be at least image_size {image_size}, "
                             f"got {canvas_size!r}: a smaller canvas upsamples every view")
        self.canvas_size = int(canvas_size)
        self.image_size = int(image_size)
        self.interpolation = interpolation

    def __repr__(self) -> str:
        return (f"WholeImage(canvas_size={self.canvas_size}, image_size={self.image_size}, "
                f"interpolation={self.interpolation!r})")

    def loader(self, jpeg_draft: bool = True) -> ImageLoader:
        """An image loader matched to this transform: JPEG draft decoding keeps both sides >= the canvas."""
        return ImageLoader(self.canvas_size if jpeg_draft else None)

    def __call__(self, image: Any) -> tuple["torch.Tensor", "torch.Tensor"]:
        import torch

        image = to_rgb(image)
        width, height = image.size
        size = self.canvas_size
        if (width, height) != (size, size):
            image = image.resize((size, size), INTERPOLATIONS[self.interpolation])
        array = np.asarray(image, dtype=np.uint8)
        canvas = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
        return canvas, torch.tensor([height, width], dtype=torch.int64)


class ImageLoader:
    """Open an image file as RGB, letting the JPEG decoder downscale by 1/2, 1/4 or 1/8 when that still
    leaves the shorter side at least ``min_short_side`` pixels (PIL's ``draft``; a large speed-up when
    small resolutions are read from full-size photos). ``min_short_side=None`` decodes at full size.
    Picklable, so it works in DataLoader worker processes."""

    def __init__(self, min_short_side: int | None = None):
        self.min_short_side = min_short_side

    def __call__(self, path: str | Path) -> Image.Image:
        with open(path, "rb") as f:
            image = Image.open(f)
            if self.min_short_side is not None and image.format == "JPEG":
                image.draft("RGB", (self.min_short_side, self.min_short_side))
            image.load()  # decode while the file is open
        return to_rgb(image)

    def __repr__(self) -> str:
        return f"ImageLoader(min_short_side={self.min_short_side})"


def normalize(
    batch: "torch.Tensor",
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    dtype: "torch.dtype | None" = None,
) -> "torch.Tensor":
    """``uint8`` images ``(..., 3, H, W)`` -> float ``(x / 255 - mean) / std`` (float32 unless ``dtype``), on the
    batch's device."""
    import torch

    dtype = torch.float32 if dtype is None else dtype
    if batch.dtype != torch.uint8:
        raise TypeError(f"normalize expects uint8 images, got {batch.dtype}")
    m = torch.as_tensor(mean, dtype=dtype, device=batch.device).view(3, 1, 1)
    s = torch.as_tensor(std, dtype=dtype, device=batch.device).view(3, 1, 1)
    return (batch.to(dtype) / 255.0 - m) / s
