"""Batch-norm statistics of an untrained network.

A freshly initialised network has BN running statistics mean 0, variance 1, which in eval mode leave the
activations unnormalised: features of a random deep net then shrink or blow up layer by layer (a random
MobileNetV2's pooled features are ~1e-9), and a linear probe on them measures the numerics, not the
architecture. The random-initialisation baseline therefore estimates the BN statistics on pretraining
images (forward passes in train mode, no gradients, cumulative averages), the usual practice for
random-feature baselines. Weights are untouched.
"""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches, device=None) -> int:
    """Reset every BN layer's running statistics and re-estimate them as the exact average over ``batches``
    (an iterable of normalised input tensors). Returns the number of BN layers; the model is left in eval mode."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: the exact mean over the batches seen
    model.train()
    for x in batches:
        model(x if device is None else x.to(device))
    for m, mom in zip(bns, saved):
        m.momentum = mom
    model.eval()
    return len(bns)
