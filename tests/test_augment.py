"""Batched augmentations against torchvision's per-sample functional transforms (the reference)."""

import pytest
import torch
import torchvision.transforms.v2.functional as TF

from archssl.runtime import normalize
from archssl.train import augment as A

N = 12


JITTER_OPS = ["brightness", "contrast", "saturation", "hue"]


def _tv_flip_jitter_grey(x, p, i):
    """torchvision's per-sample flip, colour jitter in the sample's own order, and grayscale."""
    if p.flip[i]:
        x = TF.horizontal_flip(x)
    if p.jitter[i]:
        for op in p.order[i].tolist():
            x = getattr(TF, f"adjust_{JITTER_OPS[op]}")(x, float(p.factors[i, op]))
    if p.grayscale[i]:
        x = TF.rgb_to_grayscale(x, num_output_channels=3)
    return x


@pytest.fixture
def images():
    g = torch.Generator().manual_seed(0)
    return torch.nn.functional.avg_pool2d(torch.rand(N, 3, 64, 64, generator=g), 2)


@pytest.fixture
def params():
    return A.sample_params(A.AugmentConfig(jitter_strength=1.0), N, 32, 32, torch.Generator().manual_seed(1))


@pytest.mark.parametrize("k,name", list(enumerate(["brightness", "contrast", "saturation", "hue"])))
def test_colour_ops_match_torchvision(images, params, k, name):
    f = params.factors[:, k]
    ours = getattr(A, f"adjust_{name}")(images, f)
    ref = torch.stack([getattr(TF, f"adjust_{name}")(images[i], float(f[i])) for i in range(N)])
    torch.testing.assert_close(ours, ref, atol=2e-6, rtol=0)


def test_jitter_in_per_sample_order_matches_torchvision(images, params):
    """Flip, colour jitter in each sample's own random order, grayscale: same as torchvision per sample."""
    p = params
    p.boxes = torch.tensor([[0.0, 0.0, 32.0, 32.0]]).repeat(N, 1)  # identity crop
    ours = A.apply(images, p, 32)
    refs = [_tv_flip_jitter_grey(images[i], p, i) for i in range(N)]
    torch.testing.assert_close(ours, torch.stack(refs), atol=1e-5, rtol=0)
    assert p.jitter.any() and (~p.jitter).any()


def test_crop_boxes_follow_random_resized_crop_rules():
    cfg = A.AugmentConfig(crop_scale=(0.2, 1.0))
    b = A.sample_crop_boxes(5000, 32, 48, cfg.crop_scale, cfg.crop_ratio, torch.Generator().manual_seed(3))
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all() and (b[:, 2] <= 48).all() and (b[:, 3] <= 32).all()
    area = w * h / (32 * 48)
    # integer rounding of width and height moves the area a little outside the sampled range
    assert area.min() > 0.2 * 0.8 and area.max() <= 1.0
    ratio = w / h
    assert ratio.min() > 0.75 * 0.85 and ratio.max() < 4 / 3 * 1.15
    assert (b == b.round()).all()


def _tv_crop(x, b, size):
    return TF.resized_crop(x, int(b[1]), int(b[0]), int(b[3] - b[1]), int(b[2] - b[0]), [size, size], antialias=True)


@pytest.mark.parametrize("size", [32, 20, 48])
def test_crop_matches_torchvision_resized_crop(images, size):
    """Up- and down-sampling crops equal torchvision's antialiased resized_crop (float32 rounding: 2e-5)."""
    p = A.sample_params(A.AugmentConfig(crop_scale=(0.08, 1.0)), N, 32, 32, torch.Generator().manual_seed(4))
    w = p.boxes[:, 2] - p.boxes[:, 0]
    if size == 20:  # this case has both upsampled and downsampled (antialiased) crops
        assert (w < size).any() and (w > size).any()
    out = A.resized_crop(images, p.boxes, size)
    ref = torch.stack([_tv_crop(images[i], p.boxes[i].tolist(), size) for i in range(N)])
    torch.testing.assert_close(out, ref, atol=2e-5, rtol=0)


def test_resize_weights_rows_are_normalised_and_inside_the_crop():
    wts = A.resize_weights(torch.tensor([3.0, 0.0]), torch.tensor([10.0, 32.0]), 32, 16)
    torch.testing.assert_close(wts.sum(-1), torch.ones(2, 16, dtype=wts.dtype))
    assert (wts[0, :, :3] == 0).all() and (wts[0, :, 13:] == 0).all() and (wts >= 0).all()


def test_full_pipeline_matches_torchvision_per_sample(images):
    """Crop, flip, colour jitter in each sample's own order, grayscale and blur: torchvision's
    transforms.v2.functional per sample with the same parameters, within 5e-5 (float32 rounding)."""
    size = 24
    p = A.sample_params(A.AugmentConfig(jitter_strength=1.0, blur_p=0.5), N, 32, 32, torch.Generator().manual_seed(1))
    assert p.flip.any() and p.jitter.any() and p.grayscale.any() and (p.blur_sigma > 0).any()
    out = A.apply(images, p, size, 0.1)
    k = max(3, int(round(0.1 * size)) // 2 * 2 + 1)
    refs = []
    for i in range(N):
        x = _tv_flip_jitter_grey(_tv_crop(images[i], p.boxes[i].tolist(), size), p, i)
        if p.blur_sigma[i] > 0:
            x = TF.gaussian_blur(x, [k, k], [float(p.blur_sigma[i])] * 2)
        refs.append(x)
    torch.testing.assert_close(out, torch.stack(refs), atol=5e-5, rtol=0)


def test_view_maker_normalises_and_sets_memory_format():
    x = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    v = A.ViewMaker(A.AugmentConfig(), 12, torch.Generator().manual_seed(0), torch.channels_last)(x)
    raw = A.BatchAugment(A.AugmentConfig(), 12, torch.Generator().manual_seed(0))(x)
    assert v.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(v, normalize(raw))


def test_batch_augment_is_seeded_and_in_range():
    x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    a = A.BatchAugment(A.AugmentConfig(), 24, torch.Generator().manual_seed(5))(x)
    b = A.BatchAugment(A.AugmentConfig(), 24, torch.Generator().manual_seed(5))(x)
    assert a.shape == (8, 3, 24, 24)
    assert torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1


def test_blur_with_zero_sigma_is_identity_and_matches_torchvision(images):
    sigma = torch.tensor([0.0, 1.0] * (N // 2))
    out = A.gaussian_blur(images, sigma, 0.1)
    torch.testing.assert_close(out[0::2], images[0::2])
    k = max(3, int(round(0.1 * 32)) // 2 * 2 + 1)
    ref = TF.gaussian_blur(images[1], [k, k], [1.0, 1.0])
    torch.testing.assert_close(out[1], ref, atol=1e-5, rtol=0)


def test_view_maker_stays_float32_under_autocast():
    x = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    ref = A.ViewMaker(A.AugmentConfig(jitter_p=1.0), 12, torch.Generator().manual_seed(0))(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        v = A.ViewMaker(A.AugmentConfig(jitter_p=1.0), 12, torch.Generator().manual_seed(0))(x)
    assert v.dtype == torch.float32
    torch.testing.assert_close(v, ref)
