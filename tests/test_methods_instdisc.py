"""InstDisc: the NCE and the K-negative softmax losses against explicit loops, the memory-bank update,
the one-off estimate of the NCE normaliser Z, and the bank's place in the checkpointed state."""

import math

import pytest
import torch
import torch.nn.functional as F

from archssl.archs import build
from archssl.catalog import METHODS
from archssl.methods import instdisc as instdisc_mod
from archssl.methods.instdisc import bank_logits, bank_update, nce_loss

SPEC = {"family": "resnet", "block": "basic", "depths": [1, 1], "width": 4, "stem": "cifar"}


def nce_loop(f, bank, pos, neg, t, z, n_data):
    """-log h(pos) - sum_j log(1 - h(neg_j)), h = P / (P + K Pn), P = exp(v.f / t) / Z, Pn = 1 / n."""
    k = neg.shape[1]
    total = 0.0
    for i in range(len(f)):
        p_pos = math.exp(float(bank[pos[i]] @ f[i]) / t) / z
        total -= math.log(p_pos / (p_pos + k / n_data))
        for j in neg[i].tolist():
            p = math.exp(float(bank[j] @ f[i]) / t) / z
            total -= math.log(1 - p / (p + k / n_data))
    return total / len(f)


def softmax_loop(f, bank, pos, neg, t):
    total = 0.0
    for i in range(len(f)):
        e_pos = math.exp(float(bank[pos[i]] @ f[i]) / t)
        e_all = e_pos + sum(math.exp(float(bank[j] @ f[i]) / t) for j in neg[i].tolist())
        total -= math.log(e_pos / e_all)
    return total / len(f)


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    n_data, d = 30, 6
    bank = F.normalize(torch.randn(n_data, d, generator=g).double(), dim=1)
    f = F.normalize(torch.randn(5, d, generator=g).double(), dim=1)
    pos = torch.tensor([3, 0, 17, 29, 8])
    neg = torch.randint(0, n_data, (5, 7), generator=g)
    return bank, f, pos, neg, n_data


@pytest.mark.parametrize("factor", [0, 4], ids=["gather-entries", "whole-bank-product"])
def test_bank_logits_put_the_positive_first(data, monkeypatch, factor):
    # n = 30, K + 1 = 8: factor 4 takes the whole-bank product, 0 the gather of the sampled entries
    monkeypatch.setattr(instdisc_mod, "FULL_BANK_FACTOR", factor)
    bank, f, pos, neg, _ = data
    f = f.clone().requires_grad_(True)
    lg = bank_logits(f, bank, pos, neg)
    # the gradient w.r.t. the features: d sum(w * lg) / df_i = sum_c w_ic v_(idx_ic)
    w = torch.linspace(-1, 1, lg.numel(), dtype=lg.dtype).view_as(lg)
    (lg * w).sum().backward()
    idx = torch.cat([pos[:, None], neg], 1)
    torch.testing.assert_close(f.grad, torch.einsum("nk,nkd->nd", w, bank[idx]), rtol=0, atol=1e-12)
    lg = lg.detach()
    assert lg.shape == (5, 8)
    for i in range(5):
        assert abs(float(lg[i, 0] - bank[pos[i]] @ f[i])) < 1e-12
        for c, j in enumerate(neg[i].tolist()):
            assert abs(float(lg[i, c + 1] - bank[j] @ f[i])) < 1e-12


@pytest.mark.parametrize("t,z", [(0.07, 1.0e3), (0.5, 40.0)])
def test_nce_loss_matches_explicit_loop(data, t, z):
    bank, f, pos, neg, n_data = data
    out = torch.exp(bank_logits(f, bank, pos, neg) / t) / z
    assert abs(float(nce_loss(out, n_data)) - nce_loop(f, bank, pos, neg, t, z, n_data)) < 1e-9


def test_softmax_loss_matches_explicit_loop(data):
    bank, f, pos, neg, _ = data
    lg = bank_logits(f, bank, pos, neg) / 0.1
    loss = F.cross_entropy(lg, torch.zeros(5, dtype=torch.long))
    assert abs(float(loss) - softmax_loop(f, bank, pos, neg, 0.1)) < 1e-9


def test_bank_update_is_normalised_momentum_average(data):
    bank, f, pos, _, _ = data
    old = bank.clone()
    bank_update(bank, pos, f, 0.5)
    for i, p in enumerate(pos.tolist()):
        v = 0.5 * old[p] + 0.5 * f[i]
        torch.testing.assert_close(bank[p], v / v.norm())
    untouched = [j for j in range(len(bank)) if j not in pos.tolist()]
    assert torch.equal(bank[untouched], old[untouched])


@pytest.mark.parametrize("loss", ["nce", "softmax"])
def test_instdisc_step_estimates_z_once_and_updates_the_bank(loss):
    torch.manual_seed(0)
    m = METHODS.get("instdisc")(build(SPEC), {"negatives": 16, "loss": loss, "head": {"out": 8}})
    m.setup(list(range(40)))  # any sized dataset
    assert m.bank.shape == (40, 8) and float(m.z) < 0
    x = torch.randint(0, 256, (6, 3, 16, 16), dtype=torch.uint8)
    idx = torch.tensor([1, 5, 9, 11, 30, 39])
    loss_v, metrics = m.training_step(x, lambda _: torch.randn(6, 3, 16, 16), indices=idx)
    assert list(metrics) == ["contrastive_top1"] and torch.isfinite(loss_v)
    z1 = float(m.z)
    assert (z1 > 0) == (loss == "nce")
    before = m.bank.clone()
    f = m._pending[1].clone()
    m.after_step()
    torch.testing.assert_close(m.bank[idx], F.normalize(0.5 * before[idx] + 0.5 * f, dim=1))
    m.training_step(x, lambda _: torch.randn(6, 3, 16, 16), indices=idx)
    assert float(m.z) == z1  # estimated on the first batch only
    assert {"bank", "z"} <= set(m.state_dict())
    with pytest.raises(ValueError, match="indices"):
        m.training_step(x, lambda _: torch.randn(6, 3, 16, 16))


def test_nce_on_a_small_pool_warns_to_use_softmax(caplog):
    m = METHODS.get("instdisc")(build(SPEC), {"negatives": 16, "head": {"out": 8}})
    with caplog.at_level("WARNING", logger="archssl.methods.instdisc"):
        m.setup(list(range(1000)))  # K/n = 0.016: the regime NCE was made for
    assert not caplog.records
    with caplog.at_level("WARNING", logger="archssl.methods.instdisc"):
        m.setup(list(range(40)))  # K/n = 0.4
    assert "loss: softmax" in caplog.text and "K/n = 0.40" in caplog.text
    soft = METHODS.get("instdisc")(build(SPEC), {"negatives": 16, "loss": "softmax", "head": {"out": 8}})
    caplog.clear()
    with caplog.at_level("WARNING", logger="archssl.methods.instdisc"):
        soft.setup(list(range(40)))
    assert not caplog.records
