"""Counts of a family without a closed-form :meth:`~archssl.catalog.archs.family.Family.trace`, measured on
its net built on the meta device (no memory, no init cost); :data:`archssl.catalog.archs.family.MEASURED`
names these functions, and the family's count methods load them only for such a family."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from archssl.catalog.archs.family import Family
from archssl.catalog.loader import load


def _meta_net(family: Family, spec: dict):
    with torch.device("meta"):
        return load(family.builder)(spec)


def count_params(family: Family, spec: dict) -> int:
    """Trainable parameters of ``family``'s net of the normalized ``spec``."""
    return sum(p.numel() for p in _meta_net(family, spec).parameters())


def count_flops(family: Family, spec: dict, image_size: int) -> int:
    """FLOPs of one forward pass at ``image_size`` measured by ``FlopCounterMode`` on the meta device."""
    with torch.device("meta"):
        model = load(family.builder)(spec).eval()
        x = torch.empty(1, 3, image_size, image_size)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return int(counter.get_total_flops())


def out_dim(family: Family, spec: dict) -> int:
    """Size of the features ``family``'s net of ``spec`` returns."""
    return _meta_net(family, spec).out_dim
