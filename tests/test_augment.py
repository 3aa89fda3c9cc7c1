"""Batched augmentations against torchvision's per-sample functional transforms (the reference)."""

import pytest
import torch
import torchvision.transforms.v2.functional as TF

from archssl.train import augment as A

N = 12


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
    names = ["brightness", "contrast", "saturation", "hue"]
    refs = []
    for i in range(N):
        x = images[i]
        if p.flip[i]:
            x = TF.horizontal_flip(x)
        if p.jitter[i]:
            for op in p.order[i].tolist():
                x = getattr(TF, f"adjust_{names[op]}")(x, float(p.factors[i, op]))
        if p.grayscale[i]:
            x = TF.rgb_to_grayscale(x, num_output_channels=3)
        refs.append(x)
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


def test_upsampling_crop_matches_torchvision_in_the_interior(images, params):
    """Crops no larger than the output are bilinear upsamplings: equal to torchvision away from the border
    (within 1e-4); at the border roi_align and torchvision clamp differently (mean error stated below)."""
    out = A.resized_crop(images, params.boxes, 32)
    ref = torch.stack([
        TF.resized_crop(images[i], int(params.boxes[i, 1]), int(params.boxes[i, 0]),
                        int(params.boxes[i, 3] - params.boxes[i, 1]), int(params.boxes[i, 2] - params.boxes[i, 0]),
                        [32, 32], antialias=True)
        for i in range(N)
    ])
    assert (out - ref).abs().mean() < 0.01
    torch.testing.assert_close(out[..., 4:-4, 4:-4], ref[..., 4:-4, 4:-4], atol=1e-4, rtol=0)


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
