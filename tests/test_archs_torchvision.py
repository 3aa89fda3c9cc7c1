"""Named archs against torchvision (an independent reference): same parameter count without the classifier,
and the same outputs once torchvision's weights are loaded into ours.

Outputs are compared in eval mode at 64 px after randomising torchvision's BN statistics and affine
parameters (with freshly initialised BN the deep features are ~1e-9 and any comparison would pass). Tolerance:
``rtol=1e-4, atol=1e-5 * max|feature|``; in practice the outputs agree exactly (same ops in the same order).
"""

from __future__ import annotations

import pytest
import torch
import torchvision

import archssl.catalog.archs as A
from archssl.archs import build
from archssl.archs.nets import mobilenetv2 as mbv2_net
from archssl.archs.nets import resnet as resnet_net

CASES = [
    ("resnet18", "resnet18", {}),
    ("resnet34", "resnet34", {}),
    ("resnet50", "resnet50", {}),
    ("resnet101", "resnet101", {}),
    ("resnext50_32x4d", "resnext50_32x4d", {}),
    ("wide_resnet50_2", "wide_resnet50_2", {}),
    ("mobilenet_v2", "mobilenet_v2", {}),
    ("mobilenet_v2_1.4", "mobilenet_v2", {"width_mult": 1.4}),
]


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _randomise_bn(model: torch.nn.Module, gen: torch.Generator) -> None:
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=gen) * 0.5 + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(c, generator=gen) * 0.1)


@pytest.mark.parametrize("name, tv_name, kwargs", CASES, ids=[c[0] for c in CASES])
def test_matches_torchvision(name, tv_name, kwargs):
    torch.manual_seed(0)
    spec = A.named(name)
    with torch.no_grad():
        tv = getattr(torchvision.models, tv_name)(weights=None, **kwargs).eval()
        _randomise_bn(tv, torch.Generator().manual_seed(1))
        if spec["family"] == "resnet":
            tv.fc = torch.nn.Identity()
            key_map = resnet_net.torchvision_key_map
        else:
            tv.classifier = torch.nn.Identity()
            key_map = mbv2_net.torchvision_key_map(spec)

        tv_params = sum(p.numel() for p in tv.parameters())
        assert A.count_params(spec) == tv_params

        # ours on the meta device (no init cost), then torchvision's tensors assigned: strict key match
        with torch.device("meta"):
            ours = build(spec)
        assert sum(p.numel() for p in ours.parameters()) == tv_params
        state = {key_map(k): v for k, v in tv.state_dict().items()}
        ours.load_state_dict(state, strict=True, assign=True)
        ours.eval()

        x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
        expected = tv(x)
        got = ours(x)
        assert got.shape == expected.shape == (2, ours.out_dim)
        scale = expected.abs().max().item()
        assert scale > 1e-3  # a meaningful comparison, not two vanishing tensors
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5 * scale)
        # the tap API sees the same features
        torch.testing.assert_close(ours.forward_taps(x, ["prelogits"])["prelogits"], expected,
                                   rtol=1e-4, atol=1e-5 * scale)


def test_reference_param_counts():
    # paper-facts A: backbone without classifier
    assert round(A.count_params(A.named("resnet18")) / 1e6, 2) == 11.18
    assert round(A.count_params(A.named("resnet50")) / 1e6, 2) == 23.51
    assert round(A.count_params(A.named("mobilenet_v2")) / 1e6, 2) == 2.22
