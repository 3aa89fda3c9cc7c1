"""The sampler and the Girish preset: seeded determinism (also across processes), no duplicates, constraints,
stratified family mix, clear errors."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import archssl.catalog.archs as A
from archssl.catalog.archs.presets import GIRISH_SAMPLE
from archssl.catalog.archs.sample import lazy_permutation, quotas

SPACE = [
    {"family": "resnet", "weight": 1.0, "fixed": {"stem": "cifar", "block": "basic"},
     "choices": {"width": [8, 16]}, "per_stage": {"depths": [[1, 2], [1, 2], [1, 2], [1, 2]]}},
    {"family": "mobilenetv2", "weight": 1.0, "fixed": {"stem": "cifar"},
     "choices": {"width_mult": [0.25, 0.5]},
     "per_stage": {"depths": [[1], [1, 2], [1, 2], [1, 2], [1, 2], [1, 2], [1]]}},
]


def test_seeded_determinism_and_no_duplicates():
    a = A.sample(SPACE, 20, seed=3)
    assert a == A.sample(SPACE, 20, seed=3)
    assert a != A.sample(SPACE, 20, seed=4)
    ids = [A.arch_id(s) for s in a]
    assert len(set(ids)) == 20
    assert all(A.normalize(s) == s for s in a)


def test_same_draws_in_another_process():
    code = ("import json, sys; import archssl.catalog.archs as A; space = json.loads(sys.stdin.read()); "
            "print(json.dumps([[A.arch_id(s) for s in A.sample(space, 12, 7)], "
            "[A.arch_id(s) for s in A.preset('girish')]]))")
    env = dict(os.environ, PYTHONHASHSEED="99")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1] / "src") + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(SPACE), env=env, capture_output=True,
                         text=True, check=True)
    theirs = json.loads(out.stdout)
    assert theirs[0] == [A.arch_id(s) for s in A.sample(SPACE, 12, 7)]
    assert theirs[1] == [A.arch_id(s) for s in A.preset("girish")]


def test_family_mix_is_stratified():
    space = [dict(SPACE[0], weight=1), dict(SPACE[1], weight=3)]
    specs = A.sample(space, 12, seed=0)
    assert Counter(s["family"] for s in specs) == {"resnet": 3, "mobilenetv2": 9}
    assert [s["family"] for s in specs] == ["resnet"] * 3 + ["mobilenetv2"] * 9  # entry order, then draw order
    assert quotas([1, 1, 1], 10) == [4, 3, 3]
    assert quotas([16, 16, 12, 10, 4, 58], 116) == [16, 16, 12, 10, 4, 58]
    assert quotas([0.5, 0.25, 0.25], 3) == [1, 1, 1]  # largest remainders: 0.5 < 0.75 = 0.75
    assert quotas([2, 1], 0) == [0, 0]


def test_prefix_property_and_exclude():
    small = A.sample([SPACE[0]], 5, seed=1)
    large = A.sample([SPACE[0]], 9, seed=1)
    assert large[:5] == small
    rest = A.sample([SPACE[0]], 4, seed=1, exclude=small)
    assert rest == large[5:]


def test_constraints_respected():
    c = {"min_params": 60_000, "max_params": 400_000, "max_flops": "30M", "image_size": 32}
    specs = A.sample(SPACE, 10, seed=0, constraints=c)
    for s in specs:
        assert 60_000 <= A.count_params(s) <= 400_000
        assert A.count_flops(s, 32) <= 30e6
    # per-entry constraints override the global ones key by key
    space = [dict(SPACE[0], constraints={"max_params": 200_000}), SPACE[1]]
    specs = A.sample(space, 10, seed=0, constraints={"max_params": 1e9})
    assert all(A.count_params(s) <= 200_000 for s in specs if s["family"] == "resnet")


def test_impossible_requests_fail_clearly():
    # 2 widths x 2^4 depths = 32 resnet combinations; asking 40 of them cannot work
    with pytest.raises(A.ArchSpecError, match=r"space\[0\]: can yield only 32 distinct specs but its share of "
                                              r"n=40 is 40"):
        A.sample([SPACE[0]], 40, seed=0)
    with pytest.raises(A.ArchSpecError, match=r"archs.sample.space\[0\]: can yield only 0 distinct specs"):
        A.sample(SPACE, 4, seed=0, constraints={"max_params": 1000}, where="archs.sample.space")
    with pytest.raises(A.ArchSpecError, match=r"space\[0\] \(a drawn candidate\).*'groups'"):
        A.sample([{"family": "resnet", "choices": {"groups": [1, 2]}}], 2, seed=0)
    with pytest.raises(A.ArchSpecError, match=r"sample.constraints: min_params 5 > max_params 1"):
        A.sample(SPACE, 2, seed=0, constraints={"min_params": 5, "max_params": 1})


def test_lazy_permutation():
    for n in (0, 1, 7, 100):
        perm = list(lazy_permutation(n, random.Random(n)))
        assert sorted(perm) == list(range(n))


def test_girish_preset():
    specs = A.preset("girish")
    assert len(specs) == 116
    assert len({A.arch_id(s) for s in specs}) == 116
    assert specs == A.resolve({"preset": "girish"})
    assert [s["stem"] for s in specs] == ["imagenet"] * 116
    fam = Counter(s["family"] for s in specs)
    assert fam == {"resnet": 58, "mobilenetv2": 58}
    shares = quotas([e["weight"] for e in GIRISH_SAMPLE["space"]], 116)
    blocks = Counter(s["block"] for s in specs if s["family"] == "resnet")
    assert blocks == {"basic": shares[0], "bottleneck": sum(shares[1:5])}
    for s in specs:
        if s["family"] == "resnet":
            assert A.count_params(s) <= 30_000_000
            d = s["depths"]
            assert len(d) == 4 and s["width"] == 64
            assert all(x in (2, 3, 4) for x in d) or (all(x in (5, 6) for x in d[:2])
                                                      and all(x in (2, 3, 4) for x in d[2:]))
            assert s["width_per_group"] in (32, 64, 128, 256) and s["groups"] in (1, 2, 4, 8)
        else:
            assert A.count_params(s) <= 10_000_000
            d = s["depths"]
            assert d[0] == 1 and d[6] == 1 and d[1] in (2, 3) and d[2] in (3, 4) and d[3] in (4, 5)
            assert d[4] in (3, 4, 5, 6, 8, 10, 14, 20) and d[5] in (3, 4, 5, 6, 8, 10, 14, 20)
            assert 1.0 <= s["width_mult"] <= 3.0
    # the plain torchvision references are reachable with the same id
    assert A.arch_id(A.named("resnet18")) in {A.arch_id(s) for s in A.resolve(
        {"preset": "girish", "named": ["resnet18"]})}


def test_other_presets():
    assert len(A.preset("revisiting")) == 6
    assert len(A.preset("revisiting_widths")) == 12
    assert [A.out_dim(s) for s in A.preset("revisiting_widths")[::3]] == [2048, 4096, 6144, 8192]
    assert A.preset("girish_references") == [A.named(n) for n in ("resnet18", "resnet50", "mobilenet_v2")]
    with pytest.raises(A.ArchSpecError, match="known presets: girish"):
        A.preset("kolesnikov")
