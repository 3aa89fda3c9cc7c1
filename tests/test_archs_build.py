"""Built modules: closed-form counts vs the modules and FlopCounterMode, taps, determinism, channels_last and
bf16 autocast, and a seeded sample of the Girish preset through forward + backward at 32 and 224 px."""

from __future__ import annotations

import random

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import archssl.catalog.archs as A
from archssl.archs import build



@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: these small ops are faster without OpenMP barriers on a shared 2-core machine.
    (Runs after conftest's autouse fixture, which sets 2.)"""
    torch.set_num_threads(1)

SMALL = [
    {"family": "resnet", "depths": [1, 1], "width": 8, "stem": "cifar"},
    {"family": "resnet", "block": "bottleneck", "version": "v2", "depths": [1, 2, 1], "width": 8, "groups": 2,
     "width_per_group": 32, "stem": "cifar", "final_relu": False, "rep_dim": 10},
    {"family": "resnet", "block": "bottleneck", "depths": [1, 1, 1, 1], "width": 4, "widen": 2, "final_relu": False},
    {"family": "resnet", "version": "v2", "depths": [2, 1, 1], "width": 8},
    {"family": "mobilenetv2", "width_mult": 0.25, "depths": [1, 1, 1, 1, 1, 1, 1], "stem": "cifar"},
    {"family": "mobilenetv2", "width_mult": 0.35, "depths": [1, 2, 1, 1, 2, 1, 1], "last_channel": 64,
     "channels": [16, 24, 40, 80, 96, 192, 320], "rep_dim": 12,
     "blocks": [{"kernel": 5, "expand": 3}, {"kernel": 7, "expand": 6, "skip": True}, {"kernel": 3, "expand": 3},
                {"kernel": 7, "expand": 3}, {"kernel": 5, "expand": 6}, {"kernel": 3, "expand": 6, "skip": True},
                {"kernel": 5, "expand": 3}, {"kernel": 3, "expand": 6}]},
    {"family": "vgg", "depths": [1, 1, 2], "width": 8, "fc_dim": 32, "fc_pool": 2},
    {"family": "vgg", "depths": [1, 1, 1, 1, 1], "width": 4, "fc_dim": 0, "widen": 2},
    {"family": "revnet", "depths": [1, 1, 1], "width": 4, "stem": "cifar"},
    {"family": "revnet", "depths": [1, 2], "width": 4, "final_relu": False, "rep_dim": 7},
]


def measured_flops(model: torch.nn.Module, size: int, device: str = "cpu") -> int:
    with torch.device(device):
        x = torch.zeros(1, 3, size, size)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.eval()(x)
    return int(counter.get_total_flops())


@pytest.mark.parametrize("spec", SMALL, ids=lambda s: A.arch_id(s))
def test_small_archs_counts_taps_and_backward(spec):
    torch.manual_seed(0)
    model = build(spec)
    assert sum(p.numel() for p in model.parameters()) == A.count_params(spec)
    assert model.out_dim == A.out_dim(spec)
    assert model.tap_names == A.tap_names(spec)
    assert model.arch_id == A.arch_id(spec) and model.spec == A.normalize(spec)
    for size in (32, 45):  # 45: odd sizes exercise the pooling/stride arithmetic
        assert measured_flops(model, size) == A.count_flops(spec, size), size

    x = torch.randn(3, 3, 40, 40)
    model.eval()
    with torch.no_grad():
        feats = model(x)
        taps = model.forward_taps(x, list(reversed(model.tap_names)))
    assert feats.shape == (3, model.out_dim) and feats.dtype == torch.float32
    assert list(taps) == list(reversed(model.tap_names))
    assert torch.equal(taps["prelogits"], feats)
    for name, t in taps.items():
        assert t.dim() == 2 and t.shape[0] == 3 and torch.isfinite(t).all(), name

    model.train()
    out = model(x)
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_forward_taps_stops_at_the_deepest_requested_tap():
    model = build({"family": "resnet", "depths": [1, 1, 1], "width": 8, "stem": "cifar"}).eval()
    called = []
    for name in model.stage_names:
        model.get_submodule(name).register_forward_hook(lambda m, i, o, name=name: called.append(name))
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        taps = model.forward_taps(x, ["block1", "stem"])
    assert called == ["stem", "block1"]
    assert taps["stem"].shape == (2, 8) and taps["block1"].shape == (2, 8)
    with pytest.raises(ValueError, match="unknown tap 'block9'"):
        model.forward_taps(x, ["block9"])


def test_named_param_counts_match_meta_modules():
    for name in A.NAMED:
        spec = A.named(name)
        with torch.device("meta"):
            model = build(spec)
        assert sum(p.numel() for p in model.parameters()) == A.count_params(spec), name
        assert model.out_dim == A.out_dim(spec), name


# one per code path (block type, grouping, version, stem, family); FlopCounterMode on meta tensors is slowish
@pytest.mark.parametrize("name", ["resnet18", "resnext50_32x4d", "wide_resnet50_2", "resnet50_v2_minus",
                                  "mobilenet_v2_1.4", "mobilenet_v2_cifar", "revnet50", "vgg19_bn"])
def test_named_flops_match_flop_counter(name):
    spec = A.named(name)
    with torch.device("meta"):
        model = build(spec)
    size = 32 if spec.get("stem") == "cifar" else 224
    assert measured_flops(model, size, "meta") == A.count_flops(spec, size)


def test_deterministic_init():
    spec = {"family": "mobilenetv2", "width_mult": 0.25, "depths": [1, 1, 1, 1, 1, 1, 1], "rep_dim": 8}
    states = []
    for seed in (0, 0, 1):
        torch.manual_seed(seed)
        states.append(build(spec).state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert not all(torch.equal(states[0][k], states[2][k]) for k in states[0])


@pytest.mark.parametrize("spec", [SMALL[0], SMALL[1], SMALL[5], SMALL[6], SMALL[8]], ids=lambda s: s["family"])
def test_channels_last_and_bf16_autocast(spec):
    torch.manual_seed(0)
    model = build(spec).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = model(x)
        model = model.to(memory_format=torch.channels_last)
        xc = x.contiguous(memory_format=torch.channels_last)
        cl = model(xc)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf = model(xc)
            taps = model.forward_taps(xc, model.tap_names)
    torch.testing.assert_close(cl, ref, rtol=1e-4, atol=1e-5)
    assert bf.dtype == torch.float32 and all(t.dtype == torch.float32 for t in taps.values())
    # bf16 has an 8-bit mantissa: compare loosely, relative to the feature scale
    assert (bf - ref).abs().max() <= 0.1 * ref.abs().max() + 1e-3


def _girish_ci_sample() -> list[dict]:
    """A seeded pick of one ResNet and one MobileNetV2 among the cheapest tenth of each in the preset."""
    specs = A.preset("girish")
    rng = random.Random(0)
    picks = []
    for family in ("resnet", "mobilenetv2"):
        pool = sorted((s for s in specs if s["family"] == family), key=lambda s: A.count_flops(s, 224))
        picks.append(rng.choice(pool[: max(1, len(pool) // 10)]))
    return picks


@pytest.mark.parametrize("size", [32, 224])
def test_girish_sample_forward_backward(size):
    # batch 2 at 32 px (BN needs > 1 value per channel on the 1x1 final map), batch 1 at 224 px (7x7 map)
    batch = 2 if size == 32 else 1
    for spec in _girish_ci_sample():
        torch.manual_seed(0)
        model = build(spec).train()
        x = torch.randn(batch, 3, size, size)
        out = model(x)
        assert out.shape == (batch, model.out_dim) and torch.isfinite(out).all()
        out.mean().backward()
        for name, p in model.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), (A.arch_id(spec), name)


def test_counts_fall_back_to_meta_modules_without_a_closed_form():
    """A family without ``trace`` still gets exact counts (meta-device build and FlopCounterMode)."""
    from archssl.catalog.archs.families.resnet import ResNetFamily

    class NoClosedForm(ResNetFamily):
        def trace(self, spec, t):
            raise NotImplementedError

    fam = NoClosedForm()
    spec = A.normalize({"family": "resnet", "block": "bottleneck", "depths": [1, 2], "width": 8, "rep_dim": 5})
    assert fam.count_params(spec) == A.count_params(spec)
    assert fam.count_flops(spec, 64) == A.count_flops(spec, 64)
    assert fam.out_dim(spec) == 5
