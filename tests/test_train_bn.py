import torch
from torch import nn

from archssl.train.bn import recalibrate_batchnorm


def test_recalibrated_statistics_are_the_exact_batch_moments():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4))
    xs = [torch.randn(8, 3, 6, 6) * 3 + 1 for _ in range(3)]
    w = net[0].weight.clone()
    assert recalibrate_batchnorm(net, xs) == 1
    h = torch.cat([net[0](x) for x in xs])  # (24, 4, 4, 4)
    torch.testing.assert_close(net[1].running_mean, h.mean(dim=(0, 2, 3)), rtol=1e-5, atol=1e-5)
    # BN keeps the unbiased per-batch variance; the cumulative average is their mean
    per_batch = torch.stack([net[0](x).var(dim=(0, 2, 3), unbiased=True) for x in xs]).mean(0)
    torch.testing.assert_close(net[1].running_var, per_batch, rtol=1e-5, atol=1e-5)
    assert torch.equal(net[0].weight, w) and not net.training and net[1].momentum == 0.1


def test_random_baseline_gets_data_statistics_and_usable_features(tmp_path):
    import numpy as np

    from archssl.data.mini import ArrayDataset
    from archssl.plan import PretrainJob
    from archssl.archs.checkpoint import load_backbone
    from archssl.train.loop import pretrain

    spec = {"family": "mobilenetv2", "width_mult": 0.25, "depths": [1, 1, 1, 1, 1, 1, 1], "stem": "small"}
    rng = np.random.default_rng(0)
    ds = ArrayDataset(rng.integers(0, 256, (64, 3, 16, 16), dtype=np.uint8), np.full(64, -1))
    path = pretrain(spec, ds, PretrainJob.build("random", image_size=16, pretrain={"batch_size": 32}), tmp_path)
    net, _ = load_backbone(path)
    bn = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(not torch.allclose(m.running_var, torch.ones_like(m.running_var)) for m in bn)
    with torch.no_grad():
        feats = net.eval()(torch.randn(8, 3, 16, 16))
    # with the initial statistics the pooled features of a random MobileNetV2 are ~1e-9; calibrated, O(0.1-1)
    assert feats.abs().mean() > 1e-2
