"""Feature extraction: the stored features are the backbone's own pooled outputs, with their metadata."""

import numpy as np
import torch

from archssl.archs import build
from archssl.catalog.archs import normalize
from archssl.evaluate.features import extract_to_file
from archssl.evaluate.featurestore import read_features
from archssl.data.mini import ArrayDataset

SPEC = normalize({"family": "resnet", "block": "basic", "depths": [1, 1], "width": 4, "stem": "cifar"})


def test_extracted_features_equal_a_plain_forward(tmp_path):
    torch.manual_seed(0)
    net = build(SPEC).eval()
    rng = np.random.default_rng(0)
    data = {s: ArrayDataset(rng.integers(0, 256, (n, 3, 16, 16), dtype=np.uint8), rng.integers(0, 3, n))
            for s, n in (("train", 37), ("val", 11), ("test", 13))}
    out = extract_to_file(net, lambda split: data[split], tmp_path / "f.h5", ["block1", "prelogits"],
                          {"arch": "a", "method": "random", "dataset": "d", "preprocessing": {"image_size": 16},
                           "code_version": "t", "config_hash": "h"}, batch_size=8)
    fs = read_features(out, tap="prelogits")
    assert fs.attrs["arch"] == "a" and fs.attrs["taps"] == ["block1", "prelogits"]
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    for split, ds in data.items():
        x = (ds.images.float() / 255 - mean) / std
        with torch.no_grad():
            ref = net(x).numpy()
        np.testing.assert_allclose(fs[split].X, ref, rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(fs[split].y, ds.labels.numpy())
        np.testing.assert_array_equal(fs[split].indices, np.arange(len(ds)))
    shallow = read_features(out, tap="block1")
    assert shallow["train"].X.shape == (37, 4)


def test_patch_average_features_are_the_mean_over_the_nine_centred_patches(tmp_path):
    """features.patch_eval: patch_average (the Revisiting study's evaluation of Jigsaw / RelPatch): every tap is
    the mean of the backbone's outputs on the 9 centred tiles of the centre crop, each standardised on its own
    (checked against slicing written out by hand and numpy standardisation)."""
    from archssl.methods.patches import PatchConfig

    torch.manual_seed(1)
    net = build(SPEC).eval()
    rng = np.random.default_rng(1)
    size = 32
    data = {s: ArrayDataset(rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8), rng.integers(0, 3, n))
            for s, n in (("train", 9), ("val", 5), ("test", 6))}
    pc = PatchConfig()  # 32 px: crop 28, cell 9, patch 7 (gap 2)
    out = extract_to_file(net, lambda split: data[split], tmp_path / "p.h5", ["block1", "prelogits"],
                          {"arch": "a", "method": "jigsaw", "dataset": "d", "preprocessing": {"image_size": size},
                           "code_version": "t", "config_hash": "h"}, batch_size=4, patches=pc)
    crop, cell, patch = 28, 9, 7
    o, off = (size - crop) // 2, (cell - patch) // 2
    for tap in ("block1", "prelogits"):
        fs = read_features(out, tap=tap)
        for split, ds in data.items():
            imgs = ds.images.numpy().astype(np.float64) / 255
            ref = []
            for img in imgs:
                tiles = []
                for i in range(3):
                    for j in range(3):
                        r, c = o + i * cell + off, o + j * cell + off
                        t = img[:, r:r + patch, c:c + patch]
                        t = (t - t.mean()) / max(t.std(), 1 / np.sqrt(t.size))
                        tiles.append(t)
                with torch.no_grad():
                    f = net.forward_taps(torch.tensor(np.stack(tiles), dtype=torch.float32), [tap])[tap]
                ref.append(f.mean(0).numpy())
            np.testing.assert_allclose(fs[split].X, np.stack(ref), rtol=1e-4, atol=1e-5)
