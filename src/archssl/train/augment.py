"""SSL augmentations applied to whole batches on the training device, with per-sample random parameters.

The semantics follow ``torchvision.transforms.v2`` (RandomResizedCrop, RandomHorizontalFlip, ColorJitter
applied with probability p in a random order per sample, RandomGrayscale, GaussianBlur): sampling of the
parameters is split from their application (``sample_params`` / ``apply``), so a test can feed the same
parameters to torchvision's per-sample functional ops and compare the images.

Images are float tensors in [0, 1], shape ``(N, 3, H, W)``.

Whole-image batches (``view="pretrain"`` datasets: every image resized, uncropped, to one square canvas, with
its original size): ``augmenter.for_sizes(sizes)`` samples each crop as RandomResizedCrop on the image at
its original ``(height, width)`` (scale relative to the whole image's area, aspect ratio in its own geometry)
and maps the box onto the canvas (:func:`sample_crop_boxes_per_image`, :func:`boxes_to_canvas`).

The defaults of :class:`AugmentConfig` are the schema's (``pretrain.augment``); kornia's equivalent pipeline
was measured slower and further from torchvision (``benchmarks/augment_kornia_vs_ours.py``, RESULTS.md).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from archssl.runtime import normalize
from archssl.config import load_schema

GREY = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale weights


def _default(key: str):
    """The schema's default of ``pretrain.augment.<key>`` (lists as tuples)."""
    v = load_schema()["properties"]["pretrain"]["properties"]["augment"]["properties"][key]["default"]
    return tuple(v) if isinstance(v, list) else v


def _field(key: str):
    return field(default_factory=lambda: _default(key))


@dataclass
class AugmentConfig:
    """The view pipeline's settings (``pretrain.augment``; defaults from the schema)."""

    crop_scale: tuple[float, float] = _field("crop_scale")
    crop_ratio: tuple[float, float] = _field("crop_ratio")
    flip_p: float = _field("flip_p")
    jitter_strength: float = _field("jitter_strength")  # s: brightness/contrast/saturation 0.8 s, hue 0.2 s
    jitter_p: float = _field("jitter_p")
    grayscale_p: float = _field("grayscale_p")
    blur_p: float = _field("blur_p")
    blur_sigma: tuple[float, float] = _field("blur_sigma")
    blur_kernel_frac: float = _field("blur_kernel_frac")

    @classmethod
    def from_dict(cls, d: dict | None) -> "AugmentConfig":
        d = dict(d or {})
        for k in ("crop_scale", "crop_ratio", "blur_sigma"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)


@dataclass
class AugmentParams:
    """Per-sample parameters of one augmented view (all tensors with leading dim N)."""

    boxes: torch.Tensor  # (N, 4) x0, y0, x1, y1 in pixels (crop region)
    flip: torch.Tensor  # (N,) bool
    jitter: torch.Tensor  # (N,) bool: colour jitter applied
    factors: torch.Tensor  # (N, 4) brightness, contrast, saturation, hue
    order: torch.Tensor  # (N, 4) permutation of (0 brightness, 1 contrast, 2 saturation, 3 hue)
    grayscale: torch.Tensor  # (N,) bool
    blur_sigma: torch.Tensor  # (N,) 0 = no blur
    extra: dict = field(default_factory=dict)


def sample_crop_boxes(n: int, h: int, w: int, scale, ratio, generator=None) -> torch.Tensor:
    """torchvision's RandomResizedCrop.get_params, vectorised: 10 tries per sample, then the centre-crop
    fallback clamped to the ratio range. Returns (n, 4) integer boxes x0, y0, x1, y1."""
    sizes = torch.tensor([[float(h), float(w)]], dtype=torch.float64).expand(n, 2)
    return sample_crop_boxes_per_image(sizes, scale, ratio, generator)


def sample_crop_boxes_per_image(sizes: torch.Tensor, scale, ratio, generator=None) -> torch.Tensor:
    """:func:`sample_crop_boxes` for images of different sizes: ``sizes`` (n, 2) holds each image's
    ``(height, width)``; box k follows torchvision's RandomResizedCrop.get_params on an image of that size
    (area fraction in ``scale`` of the image's own area, aspect ratio in ``ratio``, 10 tries, then the
    whole image clamped to the ratio range, centred). Returns (n, 4) float boxes x0, y0, x1, y1 with integer
    values, in each image's own pixel coordinates. The random draws are those of :func:`sample_crop_boxes`
    (which is this function with one size for all), so equal sizes give equal boxes."""
    sizes = torch.as_tensor(sizes, dtype=torch.float64).cpu()
    n = sizes.shape[0]
    h, w = sizes[:, 0:1], sizes[:, 1:2]
    area = h * w
    tries = 10
    log_r = torch.log(torch.tensor(ratio, dtype=torch.float64))
    target = area * torch.empty(n, tries, dtype=torch.float64).uniform_(scale[0], scale[1], generator=generator)
    ar = torch.exp(torch.empty(n, tries, dtype=torch.float64).uniform_(log_r[0], log_r[1], generator=generator))
    cw = torch.round(torch.sqrt(target * ar))
    ch = torch.round(torch.sqrt(target / ar))
    ok = (cw > 0) & (cw <= w) & (ch > 0) & (ch <= h)
    u = torch.rand(n, tries, 2, dtype=torch.float64, generator=generator)
    i = torch.floor(u[..., 0] * (h - ch + 1))
    j = torch.floor(u[..., 1] * (w - cw + 1))
    first = torch.where(ok.any(1), ok.float().argmax(1), torch.full((n,), -1))
    # fallback: whole image, clamped to the ratio range, centred
    h, w = h[:, 0], w[:, 0]
    in_ratio = w / h
    narrow, wide = in_ratio < ratio[0], in_ratio > ratio[1]
    fw = torch.where(wide, torch.round(h * ratio[1]), w)
    fh = torch.where(narrow, torch.round(w / ratio[0]), h)
    fi, fj = torch.floor((h - fh) / 2), torch.floor((w - fw) / 2)
    idx = first.clamp(min=0)[:, None]
    sel = lambda t: t.gather(1, idx)[:, 0]  # noqa: E731
    has = first >= 0
    y0 = torch.where(has, sel(i), fi)
    x0 = torch.where(has, sel(j), fj)
    hh = torch.where(has, sel(ch), fh)
    ww = torch.where(has, sel(cw), fw)
    return torch.stack([x0, y0, x0 + ww, y0 + hh], 1).float()


def boxes_to_canvas(boxes: torch.Tensor, sizes: torch.Tensor, canvas_h: int, canvas_w: int) -> torch.Tensor:
    """Map boxes in each image's own pixel coordinates (``sizes`` (n, 2): height, width) to a
    ``canvas_h x canvas_w`` copy of the whole image resized without keeping the aspect ratio (what
    ``view="pretrain"`` datasets store, :class:`archssl.data.preprocess.WholeImage`): the box covers the same
    part of the image, rounded to whole canvas pixels and at least one pixel wide and high."""
    sizes = torch.as_tensor(sizes, dtype=torch.float64).cpu()
    b = boxes.to(torch.float64)
    sx = (canvas_w / sizes[:, 1])[:, None]
    sy = (canvas_h / sizes[:, 0])[:, None]
    xs = torch.floor(b[:, 0::2] * sx + 0.5)
    ys = torch.floor(b[:, 1::2] * sy + 0.5)
    x0 = xs[:, 0].clamp(0, canvas_w - 1)
    y0 = ys[:, 0].clamp(0, canvas_h - 1)
    x1 = torch.maximum(xs[:, 1], x0 + 1).clamp(max=canvas_w)
    y1 = torch.maximum(ys[:, 1], y0 + 1).clamp(max=canvas_h)
    return torch.stack([x0, y0, x1, y1], 1).float()


def sample_params(cfg: AugmentConfig, n: int, h: int, w: int, generator=None,
                  sizes: torch.Tensor | None = None) -> AugmentParams:
    """Per-sample parameters for ``n`` images of ``h x w``. ``sizes`` (n, 2): the images are whole images of
    these (height, width) stored resized to ``h x w`` (``view="pretrain"`` datasets): the crop boxes are then
    sampled as RandomResizedCrop on each image at its own size (scale relative to its whole area, ratio in
    its own geometry) and mapped onto the ``h x w`` canvas (:func:`boxes_to_canvas`)."""
    g = generator
    s = cfg.jitter_strength
    b, c, sat, hue = 0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s
    lo = torch.tensor([max(0, 1 - b), max(0, 1 - c), max(0, 1 - sat), -hue])
    hi = torch.tensor([1 + b, 1 + c, 1 + sat, hue])
    factors = lo + (hi - lo) * torch.rand(n, 4, generator=g)
    order = torch.argsort(torch.rand(n, 4, generator=g), dim=1)
    blur_on = torch.rand(n, generator=g) < cfg.blur_p
    sigma = torch.empty(n).uniform_(cfg.blur_sigma[0], cfg.blur_sigma[1], generator=g) * blur_on
    if sizes is None:
        boxes = sample_crop_boxes(n, h, w, cfg.crop_scale, cfg.crop_ratio, g)
    else:
        if len(sizes) != n:
            raise ValueError(f"sizes holds {len(sizes)} image sizes for a batch of {n}")
        boxes = boxes_to_canvas(sample_crop_boxes_per_image(sizes, cfg.crop_scale, cfg.crop_ratio, g), sizes, h, w)
    return AugmentParams(
        boxes=boxes,
        flip=torch.rand(n, generator=g) < cfg.flip_p,
        jitter=torch.rand(n, generator=g) < cfg.jitter_p,
        factors=factors,
        order=order,
        grayscale=torch.rand(n, generator=g) < cfg.grayscale_p,
        blur_sigma=sigma,
    )


def _grey(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x.unbind(1)
    return (GREY[0] * r + GREY[1] * g + GREY[2] * b).unsqueeze(1)


def _blend(a: torch.Tensor, b: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    ratio = ratio.view(-1, 1, 1, 1)
    return (ratio * a + (1.0 - ratio) * b).clamp(0, 1)


def _rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x.unbind(1)
    maxc = x.amax(1)
    minc = x.amin(1)
    eqc = maxc == minc
    cr = maxc - minc
    ones = torch.ones_like(maxc)
    s = cr / torch.where(eqc, ones, maxc)
    cr_div = torch.where(eqc, ones, cr)
    rc, gc, bc = (maxc - r) / cr_div, (maxc - g) / cr_div, (maxc - b) / cr_div
    hr = (maxc == r) * (bc - gc)
    hg = ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
    hb = ((maxc != g) & (maxc != r)) * (4.0 + gc - rc)
    h = torch.fmod((hr + hg + hb) / 6.0 + 1.0, 1.0)
    return torch.stack((h, s, maxc), 1)


def _hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Branch-free HSV -> RGB: channel n in (R, G, B) = v - v s clamp(min(k, 4 - k), 0, 1) with
    k = (n' + 6 h) mod 6 and n' = (5, 3, 1): the same values as torchvision's sector-wise formula."""
    h, s, v = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    n = torch.tensor([5.0, 3.0, 1.0], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    k = torch.remainder(n + 6.0 * h, 6.0)
    return v - v * s * torch.minimum(k, 4.0 - k).clamp(0.0, 1.0)


def adjust_brightness(x, f):
    return (x * f.view(-1, 1, 1, 1)).clamp(0, 1)


def adjust_contrast(x, f):
    mean = _grey(x).mean(dim=(1, 2, 3), keepdim=True)
    return _blend(x, mean, f)


def adjust_saturation(x, f):
    return _blend(x, _grey(x), f)


def adjust_hue(x, f):
    hsv = _rgb_to_hsv(x)
    h = torch.remainder(hsv[:, 0] + f.view(-1, 1, 1), 1.0)
    return _hsv_to_rgb(torch.stack((h, hsv[:, 1], hsv[:, 2]), 1))


_OPS = (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)


def resize_weights(start: torch.Tensor, length: torch.Tensor, in_size: int, out_size: int) -> torch.Tensor:
    """(N, out_size, in_size) resampling matrices of torchvision's antialiased bilinear resize
    (``aten::_upsample_bilinear2d_aa``, the PIL algorithm) applied to the crop ``[start, start + length)``
    of each sample: output pixel o averages input pixels j with the triangle filter
    ``max(0, 1 - |j - c + 0.5| / s)`` over ``[trunc(c - s + 0.5), trunc(c + s + 0.5))``, normalised, where
    ``c = scale (o + 0.5)`` (crop-relative), ``scale = length / out_size`` and ``s = max(scale, 1)``."""
    dt = torch.float64
    start = start.to(dt).view(-1, 1, 1)
    length = length.to(dt).view(-1, 1, 1)
    scale = length / out_size
    o = torch.arange(out_size, dtype=dt, device=start.device).view(1, -1, 1)
    j = torch.arange(in_size, dtype=dt, device=start.device).view(1, 1, -1) - start  # crop-relative index
    center = scale * (o + 0.5)
    support = scale.clamp(min=1.0)
    lo = torch.trunc(center - support + 0.5).clamp(min=0)
    hi = torch.minimum(torch.trunc(center + support + 0.5), length)
    w = (1 - ((j - center + 0.5) / support).abs()).clamp(min=0) * ((j >= lo) & (j < hi))
    return w / w.sum(-1, keepdim=True)


def resized_crop(x: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Crop each image to its integer box (x0, y0, x1, y1) and resize it to size x size exactly as
    torchvision's ``resized_crop(..., antialias=True)``: separable per-sample resampling matrices
    (:func:`resize_weights`), applied as two batched matmuls ``Wy @ x @ Wx^T``."""
    n, c, h, w = x.shape
    boxes = boxes.to(x.device)
    wy = resize_weights(boxes[:, 1], boxes[:, 3] - boxes[:, 1], h, size).to(x.dtype)
    wx = resize_weights(boxes[:, 0], boxes[:, 2] - boxes[:, 0], w, size).to(x.dtype)
    return wy[:, None] @ x @ wx[:, None].transpose(-1, -2)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, kernel_frac: float) -> torch.Tensor:
    """Per-sample Gaussian blur (separable, reflect padding, as torchvision); sigma 0 leaves a sample as is."""
    n, c, h, w = x.shape
    k = max(3, int(round(kernel_frac * min(h, w))) // 2 * 2 + 1)
    r = torch.arange(k, device=x.device, dtype=x.dtype) - k // 2
    sig = sigma.to(x).clamp(min=1e-6).view(-1, 1)
    ker = torch.exp(-0.5 * (r / sig) ** 2)
    ker = ker / ker.sum(1, keepdim=True)
    ker = torch.where((sigma.to(x) > 0).view(-1, 1), ker, (r == 0).to(x).expand_as(ker))
    ker = ker.repeat_interleave(c, 0)  # (n*c, k)
    y = F.pad(x.reshape(1, n * c, h, w), (k // 2, k // 2, k // 2, k // 2), mode="reflect")
    y = F.conv2d(y, ker.view(n * c, 1, 1, k), groups=n * c)
    y = F.conv2d(y, ker.view(n * c, 1, k, 1), groups=n * c)
    return y.view(n, c, h, w)


def apply(x: torch.Tensor, p: AugmentParams, size: int, blur_kernel_frac: float = 0.1) -> torch.Tensor:
    """Apply sampled parameters to a batch ``x`` (N, 3, H, W float in [0, 1]); returns (N, 3, size, size)."""
    dev = x.device
    x = resized_crop(x, p.boxes.to(dev), size).clamp_(0, 1)
    x = torch.where(p.flip.to(dev).view(-1, 1, 1, 1), x.flip(-1), x)
    jit = p.jitter.to(dev)
    if bool(jit.any()):
        order = p.order.to(dev)
        factors = p.factors.to(dev)
        for step in range(4):
            for op in range(4):
                idx = torch.nonzero(jit & (order[:, step] == op)).flatten()
                if len(idx):  # in place: x is a fresh tensor here (the crop's output), never the caller's
                    x.index_copy_(0, idx, _OPS[op](x.index_select(0, idx), factors.index_select(0, idx)[:, op]))
    g = p.grayscale.to(dev).view(-1, 1, 1, 1)
    x = torch.where(g, _grey(x).expand_as(x), x)
    if bool((p.blur_sigma > 0).any()):
        x = gaussian_blur(x, p.blur_sigma.to(dev), blur_kernel_frac)
    return x


class BatchAugment:
    """Callable batch augmenter: ``aug(x_uint8_or_float) -> view`` with fresh per-sample parameters.

    ``sizes`` (None, or (N, 2) per-image height, width): set by :meth:`for_sizes` for batches of whole images
    stored on a fixed canvas (``view="pretrain"`` datasets); crops then follow RandomResizedCrop on each
    original image (see :func:`sample_params`)."""

    sizes: torch.Tensor | None = None

    def __init__(self, cfg: AugmentConfig, size: int, generator: torch.Generator | None = None):
        self.cfg = cfg
        self.size = size
        self.generator = generator

    def for_sizes(self, sizes: torch.Tensor | None):
        """A copy of this augmenter (same config, output size and generator, which it advances) for one batch
        of whole images whose sizes before the canvas resize are ``sizes`` (N, 2) (height, width); ``None``
        gives a copy that crops the batch's own pixel grid."""
        out = copy.copy(self)
        out.sizes = None if sizes is None else torch.as_tensor(sizes).cpu()
        return out

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            x = x.float().div_(255.0)
        p = sample_params(self.cfg, x.shape[0], x.shape[-2], x.shape[-1], self.generator, self.sizes)
        return apply(x, p, self.size, self.cfg.blur_kernel_frac)


class ViewMaker(BatchAugment):
    """What the training loop hands to ``SSLMethod.training_step`` as ``augment``: ``view(x_uint8)`` is a
    fresh augmented view, ImageNet-normalised, in ``memory_format``. ``raw(x)`` is the view before
    normalisation; ``cfg``, ``size`` and ``generator`` (seeded per epoch) are there for methods that build
    their own inputs."""

    def __init__(self, cfg: AugmentConfig, size: int, generator: torch.Generator | None = None,
                 memory_format: torch.memory_format = torch.contiguous_format):
        super().__init__(cfg, size, generator)
        self.memory_format = memory_format

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        # augmentations stay in float32 when the training step runs under autocast
        with torch.autocast(device_type=x.device.type, enabled=False):
            return super().__call__(x)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return normalize(self.raw(x)).contiguous(memory_format=self.memory_format)


__all__ = ["AugmentConfig", "AugmentParams", "BatchAugment", "ViewMaker", "sample_params", "apply", "resized_crop", "resize_weights", "gaussian_blur", "sample_crop_boxes",
           "sample_crop_boxes_per_image", "boxes_to_canvas"]
