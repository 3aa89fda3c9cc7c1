"""Feature extraction: the stored features are the backbone's own pooled outputs, with their metadata."""

import numpy as np
import torch

from archssl.archs import build, normalize
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
