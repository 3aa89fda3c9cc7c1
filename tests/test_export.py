"""``archssl export``: our backbones as torchvision state_dicts (archssl.archs.export).

Each exportable case builds our backbone with random weights and randomised BN statistics and affine
parameters (fresh BN makes deep features vanish and any comparison pass), exports it, loads the state_dict
into the torchvision model the export names (strict: the only missing keys are the classifier's), and
compares the pooled pre-classifier features (classifier replaced by Identity) in eval mode at 64 px.
"""

from __future__ import annotations

import json
import re

import pytest
import torch

import archssl.catalog.archs as A
from archssl.archs import build
from archssl.archs.export import ExportError, main, to_torchvision


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _randomise(model: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=g) * 0.5 + 0.5)
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.randn(c, generator=g) * 0.1)
                m.num_batches_tracked.fill_(7)


def _ours(spec: dict, seed: int = 0):
    torch.manual_seed(seed)
    net = build(spec)
    _randomise(net, seed + 1)
    return net.eval()


CASES = {
    "resnet18": A.named("resnet18"),
    "resnet_basic_like18": {"family": "resnet", "block": "basic", "depths": [2, 1, 1, 2]},
    "resnet_bottleneck_groups": {"family": "resnet", "block": "bottleneck", "depths": [1, 2, 1, 1], "groups": 4,
                                 "width_per_group": 16},
    "resnet_cifar_stem": {"family": "resnet", "block": "basic", "depths": [1, 1, 1, 1], "stem": "cifar"},
    "mbv2_x0.5_custom_depths": {"family": "mobilenetv2", "width_mult": 0.5, "depths": [1, 2, 2, 1, 2, 1, 1]},
    "mbv2_proxyless_expand_skip_small": {
        "family": "mobilenetv2", "width_mult": 0.5, "depths": [1, 2, 2, 1, 1, 1, 1], "stem": "small",
        "channels": [16, 24, 40, 80, 96, 192, 320],
        "blocks": [{"expand": 3}, {"expand": 6, "skip": True}, {"expand": 6}, {"expand": 3}, {}, {"expand": 4},
                   {}, {}]},
    "mbv2_cifar_stem": {"family": "mobilenetv2", "width_mult": 0.5, "depths": [1, 1, 1, 1, 1, 1, 1],
                        "stem": "cifar"},
}


@pytest.mark.parametrize("name", list(CASES))
def test_export_matches_torchvision_features(name):
    spec = A.normalize(CASES[name])
    ours = _ours(spec)
    target, state = to_torchvision(ours)
    assert all(isinstance(v, torch.Tensor) and v.device.type == "cpu" for v in state.values())
    tv = target.build(num_classes=10).eval()
    missing, unexpected = tv.load_state_dict(state, strict=False)
    assert sorted(missing) == sorted(target.classifier) and not unexpected
    if spec["family"] == "resnet":
        tv.fc = torch.nn.Identity()
    else:
        tv.classifier = torch.nn.Identity()
    x = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected, got = ours(x), tv(x)
    assert got.shape == expected.shape == (3, ours.out_dim)
    assert expected.abs().max() > 1e-2  # a meaningful comparison, not two vanishing tensors
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    # the plain-torchvision snippet recorded in the export's JSON builds the same model
    import torchvision

    scope = {"torch": torch, "torchvision": torchvision}
    exec(target.code(10), scope)
    snippet = {k: tuple(v.shape) for k, v in scope["model"].state_dict().items()}
    assert snippet == {k: tuple(v.shape) for k, v in target.build(num_classes=10).state_dict().items()}
    assert repr(scope["model"]) == repr(target.build(num_classes=10))


def test_named_builders_and_zero_classifier():
    spec = A.named("resnet50")
    with torch.device("meta"):
        net = build(spec)
    target, _ = to_torchvision(net.to_empty(device="cpu").state_dict(), spec)  # a bare state_dict with its spec
    assert target.name == "resnet50"
    assert to_torchvision(_ours(A.named("mobilenet_v2")))[0].name == "mobilenet_v2"
    assert to_torchvision(_ours(CASES["mbv2_x0.5_custom_depths"]))[0].name is None
    assert to_torchvision(_ours(CASES["resnet_cifar_stem"]))[0].name is None
    # --num-classes: a zero classifier, strict=True into torchvision's own builder
    import torchvision

    target, state = to_torchvision(_ours(A.named("resnet18")), num_classes=7)
    assert torch.equal(state["fc.weight"], torch.zeros(7, 512)) and torch.equal(state["fc.bias"], torch.zeros(7))
    torchvision.models.resnet18(num_classes=7).load_state_dict(state, strict=True)


def test_proxyless_rows_split_per_block_expansion():
    target, _ = to_torchvision(_ours(CASES["mbv2_proxyless_expand_skip_small"]))
    # stage 2: expand 3 then a skip (left out); stage 3: expand 6, then 3; 'small' keeps stage 2 at stride 1
    assert target.kwargs["inverted_residual_setting"] == [
        [1, 16, 1, 1], [3, 24, 1, 1], [6, 40, 1, 2], [3, 40, 1, 1], [6, 80, 1, 2], [4, 96, 1, 1], [6, 192, 1, 2],
        [6, 320, 1, 1]]


@pytest.mark.parametrize("spec, key", [
    ({"family": "revnet"}, "family"),
    ({"family": "vgg"}, "family"),
    ({"family": "resnet", "version": "v2"}, "version"),
    ({"family": "resnet", "width": 32}, "width"),
    ({"family": "resnet", "widen": 2}, "widen"),
    ({"family": "resnet", "final_relu": False}, "final_relu"),
    ({"family": "resnet", "rep_dim": 128}, "rep_dim"),
    ({"family": "resnet", "depths": [2, 2, 2]}, "depths"),
    ({"family": "mobilenetv2", "last_channel": 640}, "last_channel"),
    ({"family": "mobilenetv2", "depths": [1, 1, 1, 1, 1, 1, 1],
      "blocks": [{}, {"kernel": 5}, {}, {}, {}, {}]}, "blocks[1]"),
])
def test_refused_specs_name_the_key(spec, key):
    spec = A.normalize(spec)
    with torch.device("meta"):
        net = build(spec)
    with pytest.raises(ExportError, match=re.escape(f"spec key '{key}'")) as info:
        to_torchvision(net)
    assert A.arch_id(spec) in str(info.value)


def _write_backbone(path, spec, net):
    """A backbone.pt as archssl.train.loop.pretrain writes it."""
    torch.save({"format": 2, "spec": spec, "method": "simclr", "fingerprint": "f" * 12, "epochs": 3,
                "code_version": "test", "state_dict": {k: v.contiguous() for k, v in net.state_dict().items()}},
               path)


def test_cli_writes_plain_state_dict_and_metadata(tmp_path, capsys):
    spec = A.normalize(CASES["resnet_bottleneck_groups"])
    net = _ours(spec)
    _write_backbone(tmp_path / "backbone.pt", spec, net)
    assert main(["--backbone", str(tmp_path / "backbone.pt"), "--out", str(tmp_path / "tv.pt")]) == 0
    state = torch.load(tmp_path / "tv.pt", weights_only=True)  # tensors only: no pickled classes
    meta = json.loads((tmp_path / "tv.json").read_text())
    assert meta["torchvision"]["kwargs"] == {"block": "Bottleneck", "layers": [1, 2, 1, 1], "groups": 4,
                                             "width_per_group": 16}
    assert meta["method"] == "simclr" and meta["arch_id"] == A.arch_id(spec) and meta["spec"] == spec
    assert "strict=False" in meta["load"] and "fc.weight" in meta["classifier"]
    # the recorded snippet builds the model (plain torchvision) and loads the file
    import torchvision  # noqa: F401  (used by the snippet)

    scope = {"torch": torch, "torchvision": torchvision}
    exec(meta["load"].replace("'tv.pt'", repr(str(tmp_path / "tv.pt"))), scope)
    assert set(scope["model"].state_dict()) - set(state) == {"fc.weight", "fc.bias"}

    revnet = A.normalize({"family": "revnet"})
    with torch.device("meta"):
        rn = build(revnet)
    rn = rn.to_empty(device="cpu")
    with torch.no_grad():
        for t in rn.state_dict().values():
            t.zero_()  # to_empty leaves uninitialised memory (NaN at times), which load_backbone refuses
    _write_backbone(tmp_path / "rev.pt", revnet, rn)
    assert main(["--backbone", str(tmp_path / "rev.pt"), "--out", str(tmp_path / "rev_tv.pt")]) == 2
    assert "spec key 'family'" in capsys.readouterr().err
    assert not (tmp_path / "rev_tv.pt").exists()
