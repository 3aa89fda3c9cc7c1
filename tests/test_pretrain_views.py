"""Pretraining views cut from the whole image (``open(..., view="pretrain")``) and the DataLoader helpers.

The fabricated ImageNet folder holds 240x160 JPEGs: grey with a pure red strip, 30 px wide, along the left
and right edges, i.e. outside the evaluation centre crop (at 64 px: resize the short side to 73, crop the
central 64 of the 109 x 73 image, which starts 22 px in, past the strips' 14 resized pixels).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from archssl.catalog.datasets import DATASETS, DatasetError
from archssl.data.loading import EpochOrder, default_workers, job_cpus, loader_kwargs, split_batch
from archssl.data.preprocess import WholeImage
from archssl.train import augment as A

SIZE = 64
W, H, STRIP = 240, 160, 30
WNIDS = ("n01440764", "n01443537")


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for split, per_class in (("train", 6), ("val", 1)):
        for wnid in WNIDS:
            for k in range(per_class):
                img = np.full((H, W, 3), 128, np.uint8)
                img[:, :, :] += rng.integers(-20, 20, size=(1, 1, 3)).astype(np.uint8)  # a grey per image
                img[:, :STRIP] = (255, 0, 0)
                img[:, W - STRIP:] = (255, 0, 0)
                path = tmp_path / split / wnid / f"{wnid}_{k}.JPEG"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(img).save(path, quality=95)
    return tmp_path


def source():
    return dataclasses.replace(DATASETS.get("imagenet"), num_classes=len(WNIDS))


def red(x: torch.Tensor) -> torch.Tensor:
    """Per-pixel mask of the border colour for float (…, 3, H, W) images in [0, 1]."""
    return (x[..., 0, :, :] > 0.8) & (x[..., 1, :, :] < 0.25) & (x[..., 2, :, :] < 0.25)


def test_items_of_both_views(folder):
    ev = source().open("train", folder, SIZE)
    pre = source().open("train", folder, SIZE, view="pretrain")
    assert ev.view == "eval" and pre.view == "pretrain" and pre.ids == ev.ids and pre.image_size == SIZE
    image, target = ev[0]
    assert image.shape == (3, SIZE, SIZE)
    assert not red(image.float() / 255).any()  # the centre crop never reaches the strips
    canvas, target2, size = pre[0]
    assert target2 == target and canvas.dtype == torch.uint8
    assert canvas.shape == (3, 73, 73)  # default canvas: the eval resize's short side, round(64 * 256 / 224)
    # the decoded size: JPEG draft decoding halved the file (both sides stay >= the canvas), the aspect is kept
    assert size.tolist() == [H // 2, W // 2] and size.dtype == torch.int64
    assert source().open("train", folder, SIZE, view="pretrain", jpeg_draft=False)[0][2].tolist() == [H, W]
    mask = red(canvas.float() / 255)
    assert mask[:, :5].all() and mask[:, -5:].all() and not mask[:, 20:-20].any()
    assert source().open("train", folder, SIZE, view="pretrain", pretrain_size=96)[0][0].shape == (3, 96, 96)
    with pytest.raises(DatasetError, match="unknown view"):
        source().open("train", folder, SIZE, view="whole")
    with pytest.raises(DatasetError, match="pretrain_size"):
        source().open("train", folder, SIZE, view="pretrain", pretrain_size=32)
    assert DATASETS.get("imagenet").views == ("eval", "pretrain")
    from archssl.data.mini import POOL

    assert DATASETS.get(POOL).views == ("eval",)  # the built-in arrays have no pretraining view


def _batch(ds):
    loader = torch.utils.data.DataLoader(ds, batch_size=len(ds), **loader_kwargs(0, "cpu"))
    return split_batch(next(iter(loader)))


def test_pretraining_views_reach_outside_the_eval_crop(folder):
    images, _, sizes = _batch(source().open("train", folder, SIZE, view="pretrain"))
    assert sizes.shape == (len(images), 2) and (sizes * 2 == torch.tensor([H, W])).all()
    eval_images, _, none = _batch(source().open("train", folder, SIZE))
    assert none is None
    cfg = A.AugmentConfig(crop_scale=(0.2, 1.0), jitter_p=0.0, grayscale_p=0.0)
    g = torch.Generator().manual_seed(0)
    whole = A.BatchAugment(cfg, 32, g).for_sizes(sizes)
    reps = 8
    seen_whole = torch.stack([red(whole(images)).flatten(1).any(1) for _ in range(reps)])
    seen_eval = torch.stack([red(A.BatchAugment(cfg, 32, g)(eval_images)).flatten(1).any(1) for _ in range(reps)])
    assert not seen_eval.any()  # views of the centre crop never show the border
    assert seen_whole.float().mean() > 0.3  # views of the whole image often do
    assert not seen_whole.all()  # and the crops vary: some stay inside


def test_crop_scale_is_relative_to_the_whole_image(folder):
    images, _, sizes = _batch(source().open("train", folder, SIZE, view="pretrain", pretrain_size=120))
    n, P = len(images), images.shape[-1]
    g = torch.Generator().manual_seed(1)
    # scale 1 at the image's own 3:2: torchvision's RandomResizedCrop takes the whole image (a wider ratio range
    # would also accept, as torchvision does, boxes one pixel short of it: 119 x 80 rounds to the full area)
    full = A.AugmentConfig(crop_scale=(1.0, 1.0), crop_ratio=(1.5, 1.5), flip_p=0.0, jitter_p=0.0, grayscale_p=0.0)
    p = A.sample_params(full, n, P, P, g, sizes)
    assert (p.boxes == torch.tensor([0.0, 0.0, P, P])).all()
    view = A.BatchAugment(full, 48, g).for_sizes(sizes)(images)
    strip = round(48 * STRIP / W)  # the strips keep their share of the view's width: no crop, no letterbox
    mask = red(view)
    assert mask[:, :, : strip - 1].all() and mask[:, :, -(strip - 1):].all()
    assert not mask[:, :, strip + 1: -(strip + 1)].any()
    # a fixed scale of 0.5 covers half of the whole image (half of the canvas), not half of a centre crop
    half = dataclasses.replace(full, crop_scale=(0.5, 0.5))
    b = A.sample_params(half, n, P, P, g, sizes).boxes
    frac = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) / (P * P)
    assert torch.allclose(frac, torch.full_like(frac, 0.5), atol=0.02)
    # in the image's own geometry the box has the sampled aspect ratio 3:2, on the canvas it is stretched back
    orig = A.sample_crop_boxes_per_image(sizes, (0.5, 0.5), (1.5, 1.5), torch.Generator().manual_seed(2))
    assert ((orig[:, 2] - orig[:, 0]) / (orig[:, 3] - orig[:, 1]) - 1.5).abs().max() < 0.02


def test_per_image_boxes_equal_the_shared_size_sampler():
    sizes = torch.tensor([[32, 48]]).repeat(500, 1)
    for scale, ratio in (((0.08, 1.0), (3 / 4, 4 / 3)), ((0.9, 1.0), (3.0, 4.0))):  # the second hits the fallback
        a = A.sample_crop_boxes(500, 32, 48, scale, ratio, torch.Generator().manual_seed(3))
        b = A.sample_crop_boxes_per_image(sizes, scale, ratio, torch.Generator().manual_seed(3))
        assert torch.equal(a, b)
    mixed = torch.tensor([[32, 48], [100, 20], [7, 300]])
    b = A.sample_crop_boxes_per_image(mixed, (0.08, 1.0), (3 / 4, 4 / 3), torch.Generator().manual_seed(4))
    assert (b[:, 2] <= mixed[:, 1]).all() and (b[:, 3] <= mixed[:, 0]).all() and (b[:, :2] >= 0).all()
    c = A.boxes_to_canvas(b, mixed, 16, 16)
    assert (c[:, 2] > c[:, 0]).all() and (c[:, 3] > c[:, 1]).all() and (c <= 16).all() and (c >= 0).all()
    with pytest.raises(ValueError, match="sizes holds 3 image sizes for a batch of 2"):
        A.sample_params(A.AugmentConfig(), 2, 16, 16, None, mixed)


def test_whole_image_transform_passes_a_canvas_sized_image_through():
    arr = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    canvas, size = WholeImage(40, 32)(arr)
    assert torch.equal(canvas, torch.from_numpy(arr).permute(2, 0, 1)) and size.tolist() == [40, 40]
    with pytest.raises(ValueError, match="at least image_size"):
        WholeImage(16, 32)


def test_loader_kwargs(monkeypatch):
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "9")
    assert job_cpus() == 9 and default_workers() == 8
    kw = loader_kwargs("auto", "cuda")
    assert kw == {"num_workers": 8, "pin_memory": True, "persistent_workers": True, "prefetch_factor": 4}
    assert loader_kwargs(0, torch.device("cpu")) == {"num_workers": 0, "pin_memory": False}
    monkeypatch.delenv("SLURM_CPUS_PER_TASK")
    import os

    assert job_cpus() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    assert loader_kwargs(None, "cpu") == {"num_workers": 0, "pin_memory": False}
    with pytest.raises(ValueError, match="num_workers"):
        loader_kwargs(-1, "cpu")


def test_one_persistent_loader_serves_every_epoch_in_its_order(folder):
    ds = source().open("train", folder, SIZE, view="pretrain")
    sampler = EpochOrder(len(ds))
    loader = torch.utils.data.DataLoader(ds, batch_size=4, sampler=sampler, drop_last=True,
                                         **loader_kwargs(1, "cpu"))
    seen = []
    for epoch in range(2):
        order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(epoch)).tolist()
        sampler.set_order(order)
        targets = torch.cat([split_batch(b)[1] for b in loader])
        seen.append(targets.tolist())
        assert seen[-1] == [ds.targets[i] for i in order[: len(targets)]]
    assert loader._iterator is not None  # the persistent workers were reused, not restarted
