"""Spec format, ids, errors, named archs, resolve() and the ``archs`` CLI (archssl.catalog.archs: torch-free)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import archssl.catalog.archs as A
from archssl.catalog.archs.spec import ID_RE

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _env(**extra: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def test_import_is_torch_free_and_fast():
    code = ("import sys, time; t = time.time(); import archssl.catalog.archs as A; "
            "A.arch_id(A.named('resnet50')); A.resolve({'preset': 'girish'}); "
            "print('torch' in sys.modules, time.time() - t)")
    out = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, check=True)
    has_torch, seconds = out.stdout.split()
    assert has_torch == "False"
    assert float(seconds) < 5.0


def test_same_spec_same_id_across_processes():
    specs = [A.named("resnet50"), A.named("mobilenet_v2_1.4"),
             {"family": "resnet", "depths": [1, 1, 1, 1], "width": 16, "stem": "cifar"},
             {"family": "mobilenetv2", "width_mult": 0.5, "depths": [1, 2, 2, 2, 2, 2, 1]}]
    here = [A.arch_id(s) for s in specs]
    code = ("import json, sys; import archssl.catalog.archs as A; "
            "print(json.dumps([A.arch_id(s) for s in json.loads(sys.stdin.read())]))")
    for seed in ("0", "12345"):
        out = subprocess.run([sys.executable, "-c", code], input=json.dumps(specs), env=_env(PYTHONHASHSEED=seed),
                             capture_output=True, text=True, check=True)
        assert json.loads(out.stdout) == here


def test_id_format_and_readability():
    assert A.arch_id(A.named("resnet18")).startswith("resnet-basic-d2222-w64-")
    assert A.arch_id(A.named("resnet101")).startswith("resnet-bottleneck-d3.4.23.3-w64-")
    assert A.arch_id({"family": "mobilenetv2", "width_mult": 0.5}).startswith("mbv2-x0.5-d1234331-")
    assert A.arch_id({"family": "resnet", "depths": [1, 1, 1, 1], "width": 16}).startswith(
        "resnet-basic-d1111-w16-")
    for name in A.NAMED:
        i = A.arch_id(A.named(name))
        assert ID_RE.match(i) and len(i) <= 64, i
        assert re.search(r"-[0-9a-f]{6}$", i)


def test_ids_depend_only_on_content():
    # defaults spelled out, int vs float width_mult, key order, base: NAME -> all the same spec and id
    a = A.arch_id({"family": "mobilenetv2", "width_mult": 1})
    b = A.arch_id({"width_mult": 1.0, "family": "mobilenetv2", "depths": [1, 2, 3, 4, 3, 3, 1], "blocks": None})
    c = A.arch_id(A.named("mobilenet_v2"))
    assert a == b == c
    assert A.arch_id({"base": "resnet50"}) == A.arch_id(A.named("resnet50"))
    assert A.arch_id({"base": "resnet50", "widen": 2}) != A.arch_id(A.named("resnet50"))
    # a default ProxylessNAS block list is the same network as no block list
    n = sum([1, 2, 3, 4, 3, 3, 1][1:])
    assert A.normalize({"family": "mobilenetv2", "blocks": [{"kernel": 3, "expand": 6}] * n})["blocks"] is None
    # different content, different id
    ids = {A.arch_id(A.named(n)) for n in A.NAMED if n != "resnet50_v1"}
    assert len(ids) == len(A.NAMED) - 1


def test_normalize_is_canonical_and_idempotent():
    for name in A.NAMED:
        s = A.named(name)
        assert A.normalize(s) == s
        assert json.loads(json.dumps(s)) == s  # plain JSON types only
    s = A.normalize({"family": "vgg"})
    assert list(s)[0] == "family" and s["depths"] == [2, 2, 4, 4, 4]


@pytest.mark.parametrize("spec, field, text", [
    ({"family": "resnet", "depths": [0, 2]}, "depths", "expected a list of positive ints, got [0, 2]"),
    ({"family": "resnet", "widht": 16}, "widht", "unknown field"),
    ({"family": "resnet", "block": "basic", "groups": 2}, "groups", "basic blocks support only"),
    ({"family": "resnet", "stem": "tiny"}, "stem", "expected one of ['imagenet', 'cifar']"),
    ({"family": "resnet", "final_relu": "no"}, "final_relu", "expected true or false"),
    ({"family": "resnet", "block": "bottleneck", "width": 1, "width_per_group": 1}, "width_per_group",
     "inner width"),
    ({"family": "mobilenetv2", "depths": [1, 2, 3]}, "depths", "expected a list of 7"),
    ({"family": "mobilenetv2", "width_mult": -1}, "width_mult", "positive number"),
    ({"family": "mobilenetv2", "blocks": [{"kernel": 3}]}, "blocks", "expected 16 entries"),
    ({"family": "mobilenetv2", "blocks": [{"kernel": 4}] * 16}, "blocks[0].kernel", "expected one of [3, 5, 7]"),
    ({"family": "mobilenetv2", "blocks": [{"skip": True}] * 16}, "blocks[0].skip", "stride 2"),
    ({"family": "mobilenetv2", "blocks": [{"size": 3}] * 16}, "blocks[0].size", "unknown key"),
    ({"family": "vgg", "fc_dim": -1}, "fc_dim", "non-negative int"),
    ({"family": "revnet", "rep_dim": 0}, "rep_dim", "positive int"),
    ({"depths": [1]}, "family", "known families: mobilenetv2, resnet, revnet, vgg"),
    ({"family": "transformer"}, "family", "known families: mobilenetv2, resnet, revnet, vgg"),
    ({"base": "resnet5"}, "base", "unknown named architecture"),
])
def test_bad_fields_fail_naming_the_field(spec, field, text):
    with pytest.raises(A.ArchSpecError) as info:
        A.normalize(spec, source="archs.specs[3]")
    assert info.value.field == field
    msg = str(info.value)
    assert f"arch spec field {field!r}" in msg and text in msg and msg.startswith("archs.specs[3]")


def test_skip_allowed_where_shapes_match():
    depths = [1, 2, 3, 4, 3, 3, 1]
    blocks = [{"kernel": 5, "expand": 3}] * sum(depths[1:])
    blocks[1] = {"kernel": 3, "expand": 6, "skip": True}  # stage 2, second block: stride 1, 24 -> 24
    s = A.normalize({"family": "mobilenetv2", "blocks": blocks})
    assert s["blocks"][1] == {"kernel": 3, "expand": 6, "skip": True}
    assert "-nas-" in A.arch_id(s)
    full = A.count_params({"family": "mobilenetv2", "blocks": [{"kernel": 5, "expand": 3}] * 16})
    assert A.count_params(s) < full


def test_named():
    assert len(A.NAMED) >= 8
    for name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnext50_32x4d", "wide_resnet50_2",
                 "mobilenet_v2", "mobilenet_v2_1.4"):
        assert name in A.NAMED
        assert A.named(name)["stem"] == "imagenet"
    with pytest.raises(A.ArchSpecError, match="known: resnet18"):
        A.named("resnet19")


def test_counts_of_reference_archs():
    # backbone without classifier (paper-facts A)
    assert A.count_params(A.named("resnet18")) == 11_176_512
    assert A.count_params(A.named("resnet50")) == 23_508_032
    assert A.count_params(A.named("mobilenet_v2")) == 2_223_872
    # well-known MAC counts (torchvision docs: 1.81 / 4.09 GMACs incl. the fc layer)
    assert abs(A.count_flops(A.named("resnet18"), 224) / 2 / 1e9 - 1.81) < 0.01
    assert abs(A.count_flops(A.named("resnet50"), 224) / 2 / 1e9 - 4.09) < 0.01
    # Revisiting: pre-logits 2048 * widen
    assert [A.out_dim({"base": "resnet50_v2", "widen": k}) for k in (1, 2, 3, 4)] == [2048, 4096, 6144, 8192]
    assert A.out_dim({"base": "revnet50", "widen": 4}) == 8192
    assert A.out_dim({"base": "resnet50", "rep_dim": 512}) == 512
    assert A.tap_names(A.named("vgg19_bn")) == ["block1", "block2", "block3", "block4", "block5", "fc6",
                                                "prelogits"]


def test_resolve_orders_dedups_and_names_keys():
    cfg = {
        "named": ["resnet18", "mobilenet_v2"],
        "specs": [{"family": "resnet", "depths": [2, 2, 2, 2]}, "resnet50",
                  {"family": "resnet", "depths": [1, 1, 1, 1], "width": 16, "stem": "cifar"}],
        "sample": {"n": 3, "seed": 1, "space": [
            {"family": "resnet", "fixed": {"stem": "cifar"}, "choices": {"width": [8, 16]},
             "per_stage": {"depths": [[1, 2], [1, 2], [1, 2], [1, 2]]}}]},
    }
    specs = A.resolve(cfg)
    ids = [A.arch_id(s) for s in specs]
    assert len(ids) == len(set(ids)) == 2 + 2 + 3  # resnet18 listed twice
    assert specs[0] == A.named("resnet18") and specs[2] == A.named("resnet50")
    assert A.resolve(cfg) == specs
    assert len(A.resolve({"preset": "girish"})) == 116

    bad = [
        ({"named": ["resnet19"]}, "archs.named[0]"),
        ({"specs": [{"family": "resnet"}, {"family": "resnet", "width": 0}]}, "archs.specs[1]"),
        ({"preset": "nope"}, "archs.preset"),
        ({"colour": 1}, "archs.colour"),
        ({}, "archs: no architectures"),
        ({"sample": {"n": 2, "space": [{"family": "resnet", "choices": {"width": [8, -1]}}]}},
         "archs.sample.space[0].choices.width[1]"),
        ({"sample": {"n": 2, "space": [{"family": "resnet"}, {"family": "resnet", "choices": {"width": 8}}]}},
         "archs.sample.space[1].choices.width"),
        ({"sample": {"n": 2, "space": [{"family": "resnet", "per_stage": {"width": [[8]]}}]}},
         "archs.sample.space[0].per_stage.width"),
        ({"sample": {"n": 2, "space": [{"family": "resnet", "fixed": {"blocks": 1}}]}},
         "archs.sample.space[0].fixed.blocks"),
        ({"sample": {"n": 2, "space": [{"family": "resnt"}]}}, "archs.sample.space[0].family"),
        ({"sample": {"n": 2, "space": [{"family": "resnet"}], "constraints": {"max_param": 1}}},
         "archs.sample.constraints.max_param"),
        ({"sample": {"space": [{"family": "resnet"}]}}, "archs.sample.n"),
    ]
    for cfg, where in bad:
        with pytest.raises(A.ArchSpecError) as info:
            A.resolve(cfg)
        assert str(info.value).startswith(where), (where, str(info.value))


def test_save_and_load_spec(tmp_path):
    spec = A.named("resnext50_32x4d")
    path = A.save_spec(spec, tmp_path / "a" / f"{A.arch_id(spec)}.yaml")
    assert A.load_spec(path) == spec
    assert yaml.safe_load(path.read_text()) == spec
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary left behind
    assert A.load_spec("resnet50") == A.named("resnet50")
    assert A.load_spec("{family: resnet, depths: [1, 1]}")["depths"] == [1, 1]
    with pytest.raises(A.ArchSpecError, match="neither a named architecture"):
        A.load_spec("not-a-spec")


def test_cli(tmp_path, capsys):
    from archssl.archs.cli import main

    assert main(["show", "resnet50", "--image-size", "64"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["id"] == A.arch_id(A.named("resnet50")) and shown["params"] == 23_508_032
    assert shown["flops"] == A.count_flops(A.named("resnet50"), 64) and shown["spec"] == A.named("resnet50")

    assert main(["list", "--preset", "girish"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "id,family,params,flops" and len(lines) == 117

    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"archs": {"named": ["resnet18"], "specs": [{"family": "vgg", "fc_dim": 0}]}}))
    assert main(["list", "--config", str(cfg)]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3
    assert main(["export", "--config", str(cfg), "--out", str(tmp_path / "out")]) == 0
    assert sorted(p.stem for p in (tmp_path / "out").iterdir()) == sorted(
        [A.arch_id(A.named("resnet18")), A.arch_id({"family": "vgg", "fc_dim": 0})])

    assert main(["show", "{family: resnet, depths: [0]}"]) == 2
    assert "arch spec field 'depths'" in capsys.readouterr().err
    assert main(["families"]) == 0
    assert "width_per_group" in capsys.readouterr().out


def test_preset_listing_is_fast():
    code = ("import time; t = time.time(); from archssl.archs.cli import main; "
            "import io, contextlib; f = io.StringIO(); "
            "contextlib.redirect_stdout(f).__enter__(); main(['list', '--preset', 'girish']); "
            "import sys; print(time.time() - t, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, check=True)
    assert float(out.stderr.strip()) < 3.0
