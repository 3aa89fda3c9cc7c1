"""Optimisers and learning-rate schedules for SSL pretraining."""

from __future__ import annotations

import math

import torch

from archssl.plan import section


class LARS(torch.optim.Optimizer):
    """LARS (You et al. 2017) as used by SimCLR: SGD with momentum whose per-layer learning rate is scaled
    by ``trust_coefficient * ||w|| / (||g|| + weight_decay * ||w||)``. Biases and normalisation parameters
    (1-d tensors) are excluded from both weight decay and the adaptation, as in SimCLR."""

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 1e-6,
                 trust_coefficient: float = 1e-3, eps: float = 1e-8):
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                        trust_coefficient=trust_coefficient, eps=eps)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = p.grad
                if p.ndim > 1:
                    wd = group["weight_decay"]
                    if wd:
                        d = d.add(p, alpha=wd)
                    w_norm = torch.linalg.vector_norm(p)
                    g_norm = torch.linalg.vector_norm(d)
                    trust = torch.where((w_norm > 0) & (g_norm > 0),
                                        group["trust_coefficient"] * w_norm / (g_norm + group["eps"]),
                                        torch.ones_like(w_norm))
                    d = d.mul(trust)
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = torch.clone(d).detach()
                else:
                    buf.mul_(group["momentum"]).add_(d)
                p.add_(buf, alpha=-group["lr"])
        return loss


def build_optimizer(params, cfg: dict, batch_size: int) -> torch.optim.Optimizer:
    """``cfg``: a ``pretrain.optimizer`` mapping {name: lars|sgd|adamw, lr, scale_lr_by_batch (lr * batch/256),
    weight_decay, momentum, trust_coefficient, nesterov}; unset keys take the schema's defaults."""
    cfg = section("pretrain", {"optimizer": cfg})["optimizer"]
    name = cfg["name"]
    lr = float(cfg["lr"])
    if cfg["scale_lr_by_batch"]:
        lr = lr * batch_size / 256
    wd = float(cfg["weight_decay"])
    if name == "lars":
        return LARS(params, lr=lr, momentum=float(cfg["momentum"]), weight_decay=wd,
                    trust_coefficient=float(cfg["trust_coefficient"]))
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=float(cfg["momentum"]), weight_decay=wd,
                               nesterov=bool(cfg["nesterov"]))
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    raise ValueError(f"pretrain.optimizer.name: unknown optimizer {name!r}; known: lars, sgd, adamw")


def lr_at(step: int, total: int, warmup: int, base_lr: float, final_lr: float = 0.0, cosine: bool = True) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay from ``base_lr`` to ``final_lr`` (or constant)."""
    if warmup > 0 and step < warmup:
        return base_lr * (step + 1) / warmup
    if not cosine:
        return base_lr
    t = (step - warmup) / max(1, total - warmup)
    return final_lr + 0.5 * (base_lr - final_lr) * (1 + math.cos(math.pi * min(1.0, t)))
