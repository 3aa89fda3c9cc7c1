"""MoCo: InfoNCE with a queue against an explicit loop, the FIFO queue, the EMA update, shuffled split BN,
and the skew-normal hard-negative sampler (against scipy.stats.skewnorm)."""

import math
from collections import deque

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from archssl.archs import build
from archssl.catalog import METHODS
from archssl.methods.common import ema_update
from archssl.methods.moco import (KeyQueue, hard_negative_ranks, info_nce_queue, sample_hard_negatives,
                                 skewnorm_sample)

SPEC = {"family": "resnet", "block": "basic", "depths": [1, 1], "width": 4, "stem": "cifar"}


def info_nce_loop(q, k, queue, t):
    total, hits = 0.0, 0
    for i in range(len(q)):
        pos = math.exp(float(q[i] @ k[i]) / t)
        negs = [math.exp(float(q[i] @ queue[j]) / t) for j in range(len(queue))]
        total += -math.log(pos / (pos + sum(negs)))
        hits += float(q[i] @ k[i]) > max(float(q[i] @ queue[j]) for j in range(len(queue)))
    return total / len(q), hits / len(q)


def test_info_nce_with_queue_matches_explicit_loop():
    g = torch.Generator().manual_seed(0)
    q = F.normalize(torch.randn(6, 8, generator=g).double(), dim=1)
    k = F.normalize(q + 0.7 * torch.randn(6, 8, generator=g).double(), dim=1)
    queue = F.normalize(torch.randn(11, 8, generator=g).double(), dim=1)
    for t in (0.07, 0.2, 1.0):
        loss, acc = info_nce_queue(q, k, queue, t)
        ref_loss, ref_acc = info_nce_loop(q, k, queue, t)
        assert abs(float(loss) - ref_loss) < 1e-4 * max(1.0, ref_loss)
        assert abs(float(acc) - ref_acc) < 1e-6
    assert 0 < ref_acc < 1  # both outcomes occur in the accuracy check


def test_info_nce_uses_the_given_negatives_for_the_loss():
    g = torch.Generator().manual_seed(1)
    q = F.normalize(torch.randn(4, 5, generator=g), dim=1)
    k = F.normalize(torch.randn(4, 5, generator=g), dim=1)
    queue = F.normalize(torch.randn(7, 5, generator=g), dim=1)
    negs = torch.randn(4, 3, generator=g) * 0.3
    loss, _ = info_nce_queue(q, k, queue, 0.5, negatives=negs)
    pos = (q * k).sum(1)
    ref = -(pos / 0.5 - torch.logsumexp(torch.cat([pos[:, None], negs], 1) / 0.5, 1)).mean()
    torch.testing.assert_close(loss, ref)


def test_queue_is_fifo_with_wrap_around():
    torch.manual_seed(0)
    q = KeyQueue(5, 2)
    model = deque([tuple(r) for r in q.keys.tolist()], maxlen=5)  # the initial keys, oldest (slot 0) first
    counter = 0
    for n in (2, 2, 2, 1, 3, 7, 5, 4):  # crosses the end repeatedly, once longer than the queue
        k = torch.arange(counter, counter + n, dtype=torch.float32)[:, None].repeat(1, 2)
        counter += n
        q.enqueue(k)
        model.extend(tuple(r) for r in k.tolist())
        assert [tuple(r) for r in q.ordered().tolist()] == list(model)
    assert int(q.ptr) == counter % 5
    assert set(q.state_dict()) == {"keys", "ptr"}  # checkpointed with the model


def test_ema_update_formula():
    torch.manual_seed(0)
    online, target = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    before = [p.clone() for p in target.parameters()]
    ema_update(target, online, 0.9)
    for b, o, t in zip(before, online.parameters(), target.parameters()):
        torch.testing.assert_close(t, 0.9 * b + 0.1 * o.detach())
    ema_update(target, online, 0.0)
    for o, t in zip(online.parameters(), target.parameters()):
        torch.testing.assert_close(t, o.detach())


def test_moco_step_updates_key_encoder_and_enqueues_the_keys():
    torch.manual_seed(0)
    m = METHODS.get("moco")(build(SPEC), {"queue_size": 24, "momentum": 0.5, "head": {"hidden": 16, "out": 8}})
    # key encoder (backbone and head) starts as a copy, takes no gradient
    for a, b in zip(m.backbone.parameters(), m.key_backbone.parameters()):
        assert torch.equal(a, b) and not b.requires_grad
    x = torch.randint(0, 256, (8, 3, 16, 16), dtype=torch.uint8)
    views = iter([torch.randn(8, 3, 16, 16), torch.randn(8, 3, 16, 16)])
    loss, metrics = m.training_step(x, lambda _: next(views))
    assert list(metrics) == ["contrastive_top1"]
    loss.backward()
    keys = m._pending[0].clone()
    with torch.no_grad():
        for p in list(m.backbone.parameters()) + list(m.head.parameters()):
            p.add_(0.1)
    old_key = [p.clone() for p in list(m.key_backbone.parameters()) + list(m.key_head.parameters())]
    m.after_step()
    new_online = list(m.backbone.parameters()) + list(m.head.parameters())
    for o, k_old, k_new in zip(new_online, old_key, list(m.key_backbone.parameters()) + list(m.key_head.parameters())):
        torch.testing.assert_close(k_new, 0.5 * k_old + 0.5 * o.detach())
    torch.testing.assert_close(m.queue.keys[:8], keys)
    assert int(m.queue.ptr) == 8
    sd = m.state_dict()
    assert "queue.keys" in sd and "queue.ptr" in sd
    assert any(k.startswith("key_backbone.") for k in sd) and any(k.startswith("key_head.") for k in sd)


def test_symmetric_moco_enqueues_both_key_batches():
    torch.manual_seed(0)
    m = METHODS.get("moco")(build(SPEC), {"queue_size": 32, "symmetric": True, "head": {"hidden": 16, "out": 8}})
    x = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    loss, _ = m.training_step(x, lambda _: torch.randn(4, 3, 16, 16))
    loss.backward()
    m.after_step()
    assert int(m.queue.ptr) == 8


def test_shuffled_split_bn_restores_the_key_order():
    """With BN in eval mode (no batch dependence) the split + shuffle + unshuffle path must equal one pass."""
    torch.manual_seed(0)
    m = METHODS.get("moco")(build(SPEC), {"queue_size": 16, "bn_splits": 4, "head": {"hidden": 16, "out": 8}})
    m.eval()
    x = torch.randn(8, 3, 16, 16)
    one = F.normalize(m.key_head(m.key_backbone(x)), dim=1)
    torch.testing.assert_close(m.key(x), one, atol=1e-5, rtol=0)
    torch.testing.assert_close(m.query(x), F.normalize(m.head(m.backbone(x)), dim=1), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="bn_splits"):
        m.key(torch.randn(6, 3, 16, 16))


def test_skewnorm_sampler_matches_scipy():
    g = torch.Generator().manual_seed(0)
    for a, loc, scale in [(4.0, 0.0, 0.2), (-2.0, 1.0, 3.0), (0.0, 0.5, 1.0)]:
        y = skewnorm_sample((200_000,), a, loc, scale, generator=g).double().numpy()
        ks = stats.kstest(y, stats.skewnorm(a, loc, scale).cdf)
        assert ks.statistic < 0.006, (a, ks)
        ref_mean, ref_var = stats.skewnorm.stats(a, loc, scale, moments="mv")
        assert abs(y.mean() - ref_mean) < 0.01 * scale and abs(y.var() / ref_var - 1) < 0.02


def test_hard_negative_ranks_follow_the_folded_skew_normal():
    k, a, loc, scale = 50, 4.0, 0.0, 0.2
    ranks = hard_negative_ranks(400, k, a, loc, scale, generator=torch.Generator().manual_seed(1)).flatten()
    assert ranks.min() >= 0 and ranks.max() <= k - 1
    emp = np.bincount(ranks.numpy(), minlength=k) / len(ranks)
    cdf = stats.skewnorm(a, loc, scale).cdf
    edges = np.arange(k + 1) / k
    folded = lambda t: cdf(t) - cdf(-t)  # noqa: E731  P(|Y| < t)
    expected = np.diff(folded(edges))
    expected[-1] += 1 - folded(1.0)  # clamped to the last rank
    assert abs(expected.sum() - 1) < 1e-9
    assert np.abs(emp - expected).max() < 0.004


def test_hard_negative_sampling_keeps_size_and_favours_the_most_similar():
    g = torch.Generator().manual_seed(2)
    n, k = 64, 256
    l_neg = torch.rand(n, k, generator=g) * 2 - 1
    neg = sample_hard_negatives(l_neg, 4.0, 0.0, 0.2, generator=torch.Generator().manual_seed(3))
    assert neg.shape == (n, k)  # as many negatives as the queue holds
    # exact semantics: the sorted similarities at the sampled ranks
    ranks = hard_negative_ranks(n, k, 4.0, 0.0, 0.2, generator=torch.Generator().manual_seed(3))
    srt = l_neg.sort(1, descending=True).values
    assert torch.equal(neg, srt.gather(1, ranks))
    # skewed toward the hard end: most draws from the most similar quarter, few from the easiest half
    frac_top = (ranks < k // 4).float().mean()
    frac_easy = (ranks >= k // 2).float().mean()
    assert frac_top > 0.6 and frac_easy < 0.05
    assert neg.mean() > l_neg.mean() + 0.5
    # gradients reach the similarities
    l = l_neg.clone().requires_grad_(True)
    sample_hard_negatives(l, 4.0, 0.0, 0.2).sum().backward()
    assert l.grad.abs().sum() > 0


def test_moco_with_hard_negatives_trains_a_step():
    torch.manual_seed(0)
    m = METHODS.get("moco")(build(SPEC), {"queue_size": 40, "hard_negatives": True, "head": {"hidden": 16, "out": 8}})
    x = torch.randint(0, 256, (8, 3, 16, 16), dtype=torch.uint8)
    loss, metrics = m.training_step(x, lambda _: torch.randn(8, 3, 16, 16))
    loss.backward()
    assert torch.isfinite(loss) and 0 <= metrics["contrastive_top1"] <= 1
    assert m.backbone.stem[0].weight.grad.abs().sum() > 0


def test_unknown_method_param_is_an_error():
    with pytest.raises(ValueError, match="'pretrain.method_params.moco.temprature': unknown key"):
        METHODS.get("moco")(build(SPEC), {"temprature": 0.1})
