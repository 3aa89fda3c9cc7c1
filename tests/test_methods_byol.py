"""BYOL: the loss against the explicit normalised-MSE formula, the target's EMA with the cosine tau schedule."""

import math

import torch
import torch.nn.functional as F

from archssl.archs import build
from archssl.catalog import METHODS
from archssl.methods.byol import byol_loss, tau_at

SPEC = {"family": "resnet", "block": "basic", "depths": [1, 1], "width": 4, "stem": "cifar"}


def test_byol_loss_is_normalised_mse():
    g = torch.Generator().manual_seed(0)
    p, z = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    ref = [float(((p[i] / p[i].norm() - z[i] / z[i].norm()) ** 2).sum()) for i in range(5)]
    torch.testing.assert_close(byol_loss(p, z), torch.tensor(ref), atol=1e-6, rtol=0)
    torch.testing.assert_close(byol_loss(p, z), 2 - 2 * F.cosine_similarity(p, z), atol=1e-6, rtol=0)
    pp, zz = p.clone().requires_grad_(True), z.clone().requires_grad_(True)
    byol_loss(pp, zz).sum().backward()
    assert pp.grad is not None and zz.grad is None  # the target side takes no gradient


def test_tau_schedule():
    assert tau_at(0, 100, 0.996, "cosine") == 0.996
    assert abs(tau_at(100, 100, 0.996, "cosine") - 1.0) < 1e-12
    assert abs(tau_at(50, 100, 0.996, "cosine") - (1 - 0.004 / 2)) < 1e-12
    assert abs(tau_at(25, 100, 0.99, "cosine") - (1 - 0.01 * (math.cos(math.pi / 4) + 1) / 2)) < 1e-12
    assert tau_at(70, 100, 0.99, "constant") == 0.99


def test_byol_step_symmetric_loss_and_target_ema():
    torch.manual_seed(0)
    m = METHODS.get("byol")(build(SPEC), {"projector": {"hidden": 16, "out": 8}, "predictor": {"hidden": 16},
                                          "tau_base": 0.9})
    m.eval()  # BN on running statistics: the loss below is then a plain function of the two views
    v1, v2 = torch.randn(4, 3, 16, 16), torch.randn(4, 3, 16, 16)
    views = iter([v1, v2])
    loss, metrics = m.training_step(torch.zeros(4, 3, 16, 16, dtype=torch.uint8), lambda _: next(views))
    p = lambda v: m.predictor(m.projector(m.backbone(v)))  # noqa: E731
    t = lambda v: m.target_projector(m.target_backbone(v))  # noqa: E731
    ref = (2 - 2 * F.cosine_similarity(p(v1), t(v2)) + 2 - 2 * F.cosine_similarity(p(v2), t(v1))).mean()
    torch.testing.assert_close(loss, ref, atol=1e-5, rtol=0)
    assert list(metrics) == ["cosine_sim"]
    assert abs(metrics["cosine_sim"] - (1 - float(ref.detach()) / 4)) < 1e-5
    m.on_step_start(0, 10)
    with torch.no_grad():
        for q in m.backbone.parameters():
            q.add_(0.05)
    old = [q.clone() for q in m.target_backbone.parameters()]
    m.after_step()
    for o, t_old, t_new in zip(m.backbone.parameters(), old, m.target_backbone.parameters()):
        torch.testing.assert_close(t_new, 0.9 * t_old + 0.1 * o.detach())
    assert all(not q.requires_grad for q in m.target_backbone.parameters())
