"""Architecture families, torch side: the nets (:mod:`archssl.archs.nets`), :func:`build`, checkpoints,
the torchvision export and the ``archs`` command.

The spec level (the spec format, ids, counts, named archs, presets, the sampler) is
:mod:`archssl.catalog.archs`, torch-free; each family there names its net builder as an implementation path
(:attr:`Family.builder <archssl.catalog.archs.family.Family.builder>`), which :func:`build` loads. Importing
this package does not import torch: the nets load on the first :func:`build`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from archssl.catalog.archs import family_of, normalize
from archssl.catalog.loader import load

if TYPE_CHECKING:  # pragma: no cover
    from archssl.archs.nets.backbone import Backbone

__all__ = ["build"]


def build(spec: dict) -> "Backbone":
    """Build the backbone (torch ``nn.Module``) of ``spec``; deterministic given ``torch.manual_seed``."""
    spec = normalize(spec)
    return load(family_of(spec).builder)(spec)
