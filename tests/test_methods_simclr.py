"""NT-Xent against an explicit loop over positive pairs; LARS and the schedule against hand computation."""

import math

import pytest
import torch
import torch.nn.functional as F

from archssl.methods.heads import build_head
from archssl.methods.simclr import nt_xent
from archssl.train.optim import LARS, lr_at


def nt_xent_loop(z1, z2, t):
    z = F.normalize(torch.cat([z1, z2]).double(), dim=1)
    n2 = len(z)
    n = n2 // 2
    total = 0.0
    for i in range(n2):
        j = (i + n) % n2
        denom = sum(math.exp(float(z[i] @ z[k]) / t) for k in range(n2) if k != i)
        total += -math.log(math.exp(float(z[i] @ z[j]) / t) / denom)
    return total / n2


def test_nt_xent_matches_explicit_loop():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    for t in (0.1, 0.5, 1.0):
        loss, _ = nt_xent(z1, z2, t)
        assert abs(float(loss) - nt_xent_loop(z1, z2, t)) < 1e-5


def test_nt_xent_accuracy_is_one_for_identical_views():
    z = torch.eye(8) * 3
    loss, acc = nt_xent(z, z.clone(), 0.5)
    assert float(acc) == 1.0
    _, acc = nt_xent(z, z[torch.randperm(8, generator=torch.Generator().manual_seed(1))], 0.5)
    assert float(acc) < 1.0


def test_heads_shapes_and_frozen_random_head():
    x = torch.randn(4, 32)
    for kind, out in [("none", 32), ("linear", 16), ("mlp", 16), ("deep", 16), ("narrow", 16), ("fixed_random", 16)]:
        head, dim = build_head(kind, 32, 64, 16, True)
        assert dim == out and head(x).shape == (4, out)
    head, _ = build_head("fixed_random", 32, 64, 16, True)
    assert not any(p.requires_grad for p in head.parameters())


def test_lars_step_matches_hand_computation():
    w = torch.nn.Parameter(torch.tensor([[3.0, 4.0]]))  # ||w|| = 5
    b = torch.nn.Parameter(torch.tensor([1.0]))
    w.grad = torch.tensor([[0.6, 0.8]])  # ||g|| = 1
    b.grad = torch.tensor([0.5])
    opt = LARS([w, b], lr=0.1, momentum=0.9, weight_decay=0.0, trust_coefficient=0.001)
    opt.step()
    trust = 0.001 * 5 / 1
    torch.testing.assert_close(w.data, torch.tensor([[3.0 - 0.1 * trust * 0.6, 4.0 - 0.1 * trust * 0.8]]))
    torch.testing.assert_close(b.data, torch.tensor([1.0 - 0.1 * 0.5]))  # 1-d: plain SGD, no adaptation


def test_warmup_cosine_schedule():
    assert lr_at(0, 100, 10, 1.0) == 0.1
    assert lr_at(9, 100, 10, 1.0) == 1.0
    assert abs(lr_at(10, 100, 10, 1.0, 0.0) - 1.0) < 1e-12
    assert abs(lr_at(55, 100, 10, 1.0, 0.0) - 0.5) < 1e-12  # half way through the cosine
    assert abs(lr_at(100, 100, 10, 1.0, 0.01) - 0.01) < 1e-12
    assert lr_at(50, 100, 10, 1.0, cosine=False) == 1.0


def test_losses_run_in_float32_under_autocast():
    """Autocast would run the similarity matmuls in bf16; the losses switch it off (fp32 results)."""
    from archssl.methods.exemplar import triplet_semihard_loss
    from archssl.methods.moco import info_nce_queue

    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(8, 16, generator=g), torch.randn(8, 16, generator=g)
    queue = F.normalize(torch.randn(32, 16, generator=g), dim=1)
    q, k = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    labels = torch.arange(4).repeat(2)
    ref = [nt_xent(z1, z2, 0.1)[0], info_nce_queue(q, k, queue, 0.07)[0], triplet_semihard_loss(q, labels, 0.5)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = [nt_xent(z1, z2, 0.1)[0], info_nce_queue(q, k, queue, 0.07)[0], triplet_semihard_loss(q, labels, 0.5)]
        bf = (q @ queue.t()).dtype
    assert bf == torch.bfloat16  # what autocast does to a plain matmul
    for r, o in zip(ref, got):
        assert o.dtype == torch.float32
        torch.testing.assert_close(o, r)


def test_head_config_merges_over_method_defaults():
    from archssl.archs import build
    from archssl.catalog import METHODS

    bb = lambda: build({"family": "resnet", "block": "basic", "depths": [1, 1], "width": 4, "stem": "cifar"})  # noqa: E731
    moco = METHODS.get("moco")(bb(), {"queue_size": 8, "head": {"hidden": 16}})
    assert moco.cfg["head"] == {"kind": "mlp", "hidden": 16, "out": 128, "bn": False}  # MoCo v2: no BN in the head
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in moco.head.modules())
    simclr = METHODS.get("simclr")(bb(), {"head": {"hidden": 16, "out": 8}})
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in simclr.head.modules())
    with pytest.raises(ValueError, match="simclr.head.width': unknown key"):
        METHODS.get("simclr")(bb(), {"head": {"width": 3}})
