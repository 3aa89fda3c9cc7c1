"""Patch sampling shared by the patch-based pretext tasks (Jigsaw, Relative Patch Location), following the
Revisiting study's code (``resize, to_gray, crop, crop_patches, standardization``):

1. a random square crop of ``crop`` x the image side (the study: 255 of 292 px, 0.873);
2. a ``grid`` x ``grid`` grid of cells (cell = crop // grid px); from every cell a random
   (cell - gap) x (cell - gap) tile, ``gap = round(jitter x cell)`` (the study: 21 of 85 px, 0.25), so
   neighbouring patches are separated by a random gap and cannot be matched by continuing edges;
3. each patch independently to grayscale with probability ``grayscale_p`` (the study: 2/3; the mean of R, G,
   B as in the study's code, which greys the whole image before cropping: the paper says per patch, and so
   do we);
4. each patch standardised to zero mean and unit variance (``tf.image.per_image_standardization``: the std
   is floored at 1/sqrt(numel)); ``normalize: imagenet`` uses the ImageNet mean/std instead;
5. optionally resized to ``patch_size`` (bilinear); null keeps the tile size.

Patches are ordered row-major: position p = 3 i + j for row i, column j (4 = centre).

Sizes: at the mini study's 32 px the crop is 28 px, the cells 9 px and the patches 7 px (the study: 64 px
patches of 255-px crops). Networks with many poolings (VGG: five) need larger inputs: set ``patch_size``
(patches are resized to it) or a larger image size; a too-small patch stops with an error naming the fix.

Evaluation features. The study averages the representations of the 9 patches of an image;
:func:`patch_average_features` implements that (centre crop, centre tile of every cell, no grayscale), and
the workflow uses it with ``features.patch_eval: patch_average``. The default, ``full_image``, applies the
backbone to the full image (as for every other method): patch-trained backbones are fully convolutional
with global pooling, so they accept it, and all methods are then probed on identical inputs.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import torch
import torch.nn.functional as F

from archssl.catalog.methods.patches import PatchConfig
from archssl.runtime import IMAGENET_MEAN, IMAGENET_STD, normalize, to_float

CENTRE = 4


def sample_patch_boxes(n: int, size: int, pc: PatchConfig, generator=None, train: bool = True) -> torch.Tensor:
    """Top-left corners (n, grid*grid, 2) as (row, col) of every patch, in image pixels.

    Training: random crop origin in [0, size - crop] and random tile offset in [0, cell - patch] per patch
    (both inclusive, as tf.random_crop). Evaluation (``train=False``): centred crop, centred tiles."""
    crop, cell, patch = pc.geometry(size)
    g2 = pc.grid * pc.grid
    if train:
        origin = torch.randint(0, size - crop + 1, (n, 1, 2), generator=generator)
        offset = torch.randint(0, cell - patch + 1, (n, g2, 2), generator=generator)
    else:
        origin = torch.full((n, 1, 2), (size - crop) // 2)
        offset = torch.full((n, g2, 2), (cell - patch) // 2)
    ij = torch.tensor([(i, j) for i in range(pc.grid) for j in range(pc.grid)]) * cell  # (g2, 2)
    return origin + ij[None] + offset


def extract_patches(x: torch.Tensor, corners: torch.Tensor, patch: int) -> torch.Tensor:
    """Gather (N, P, C, patch, patch) tiles at ``corners`` (N, P, 2) (row, col) from x (N, C, H, W)."""
    n, p = corners.shape[:2]
    corners = corners.to(x.device)
    ar = torch.arange(patch, device=x.device)
    rows = corners[..., 0:1] + ar  # (N, P, patch)
    cols = corners[..., 1:2] + ar
    b = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    # advanced indices (b, rows, cols) around the channel slice: result (N, P, patch, patch, C)
    out = x[b, :, rows[:, :, :, None], cols[:, :, None, :]]
    return out.permute(0, 1, 4, 2, 3)


def per_patch_standardize(x: torch.Tensor) -> torch.Tensor:
    """(x - mean) / max(std, 1/sqrt(numel)) over each patch's (C, H, W) (tf.image.per_image_standardization)."""
    dims = tuple(range(x.dim() - 3, x.dim()))
    numel = x.shape[-1] * x.shape[-2] * x.shape[-3]
    mean = x.mean(dim=dims, keepdim=True)
    std = x.std(dim=dims, keepdim=True, unbiased=False).clamp(min=1.0 / math.sqrt(numel))
    return (x - mean) / std


def make_patches(images: torch.Tensor, pc: PatchConfig, generator=None, train: bool = True) -> torch.Tensor:
    """uint8 or [0, 1] images (N, 3, S, S) -> processed patches (N, grid*grid, 3, P, P) (steps 1-5 above)."""
    x = to_float(images)
    n, _, h, w = x.shape
    if h != w:
        raise ValueError(f"patch tasks need square images, got {h}x{w}")
    _, _, patch = pc.geometry(h)
    corners = sample_patch_boxes(n, h, pc, generator, train)
    p = extract_patches(x, corners, patch)  # (N, P, 3, patch, patch)
    if train and pc.grayscale_p > 0:
        grey = (torch.rand(n, p.shape[1], generator=generator) < pc.grayscale_p).to(x.device)
        p = torch.where(grey[:, :, None, None, None], p.mean(2, keepdim=True).expand_as(p), p)
    if pc.patch_size and pc.patch_size != patch:
        flat = F.interpolate(p.flatten(0, 1), size=(pc.patch_size, pc.patch_size), mode="bilinear",
                             align_corners=False, antialias=pc.patch_size < patch)
        p = flat.view(n, p.shape[1], 3, pc.patch_size, pc.patch_size)
    if pc.normalize == "standardize":
        return per_patch_standardize(p)
    return normalize(p.flatten(0, 1), IMAGENET_MEAN, IMAGENET_STD).view_as(p)


def embed_patches(backbone, head, p: torch.Tensor, method: str) -> torch.Tensor:
    """``head(backbone(patch))`` for patches (N, K, 3, s, s) -> (N, K, E), with a clear error when the patches
    are too small for the architecture (e.g. VGG's five poolings need >= 32 px)."""
    n, k = p.shape[:2]
    try:
        return head(backbone(p.flatten(0, 1))).view(n, k, -1)
    except RuntimeError as e:
        if "too small" not in str(e):
            raise
        raise ValueError(f"{method}: {p.shape[-1]}-px patches are too small for this architecture ({e}); set "
                         f"method_params.{method}.patch_size (the Revisiting study used 64-px patches) or raise "
                         f"the image size") from e


@torch.no_grad()
def patch_average_features(backbone, images: torch.Tensor, pc: PatchConfig | None = None,
                           taps: list[str] | None = None) -> dict[str, torch.Tensor]:
    """The Revisiting study's evaluation features for patch-based methods: for every tap (default: the
    backbone's last), the mean of its pooled representations of the grid*grid centred patches of the centre
    crop (evaluation patches: centred, no grayscale, normalised as in training). ``{tap: (N, D)}``."""
    pc = pc or PatchConfig()
    taps = list(taps or backbone.tap_names[-1:])
    p = make_patches(images, pc, train=False)
    n, k = p.shape[:2]
    x = p.flatten(0, 1).contiguous(memory_format=torch.channels_last)
    out = backbone.forward_taps(x, taps)
    return {t: v.float().view(n, k, -1).mean(1) for t, v in out.items()}


# ------------------------------------------------------------------------------------------------ jigsaw


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances between every row of a (m, L) and every row of b (n, L): (m, n)."""
    return (a[:, None, :] != b[None, :, :]).sum(-1)


@functools.lru_cache(maxsize=8)
def max_hamming_permutations(n: int, length: int, seed: int) -> np.ndarray:
    """``n`` permutations of ``range(length)`` chosen greedily for maximal Hamming distance (Noroozi & Favaro
    2016): start from a seeded random permutation, then repeatedly add the permutation whose *minimum*
    distance to those chosen is largest (ties: the largest mean distance, then the first in lexicographic
    order). Returns (n, length) int64; row i is the i-th class. Deterministic for (n, length, seed)."""
    allp = np.array(list(itertools.permutations(range(length))), dtype=np.int8)
    if n > len(allp):
        raise ValueError(f"only {len(allp)} permutations of {length} exist, asked for {n}")
    cols = np.ascontiguousarray(allp.T)  # column-wise distances: one fast pass per position

    def dist_to(j: int) -> np.ndarray:
        d = np.zeros(len(allp), dtype=np.int32)
        for pos in range(length):
            d += cols[pos] != allp[j, pos]
        return d

    rng = np.random.default_rng(seed)
    first = int(rng.integers(len(allp)))
    chosen = [first]
    min_d = dist_to(first)
    sum_d = min_d.astype(np.int64)
    min_d[first] = -1
    for _ in range(n - 1):
        score = min_d.astype(np.int64) * (length * n + 1) + sum_d  # lexicographic (min, sum)
        j = int(np.argmax(score))
        chosen.append(j)
        d = dist_to(j)
        np.minimum(min_d, d, out=min_d)
        sum_d += d
        min_d[chosen] = -1
    return allp[chosen].astype(np.int64)


# ------------------------------------------------------------------------------------------------ RPL

def relative_pairs(grid: int) -> np.ndarray:
    """(grid*grid - 1, 2) pairs (neighbour position, centre position); row index = class label.
    For 3x3: labels 0..7 are positions 0, 1, 2, 3, 5, 6, 7, 8 (row-major), the centre is 4."""
    c = (grid * grid) // 2
    return np.array([(i, c) for i in range(grid * grid) if i != c], dtype=np.int64)
