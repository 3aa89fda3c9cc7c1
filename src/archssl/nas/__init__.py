"""ProxylessNAS (Cai et al. 2019) with a self-supervised loss: supernet and search loop.

The search space and the settings (per-op costs in closed form, settings validation; torch-free, what the
planner uses) are :mod:`archssl.catalog.nas`. Importing this package does not import torch:
:class:`SuperNet`, :func:`search` and the rest of :mod:`archssl.nas.supernet` / :mod:`archssl.nas.search`
load on first access (they import torch).

Typical use::

    from archssl.catalog.nas import validate_settings
    from archssl.nas import search
    settings = validate_settings(cfg["nas"]["searches"]["s1"], where="nas.searches.s1")   # planner, no torch
    search(dataset, out_dir, "simclr", method_params, settings, where="nas.searches.s1")  # job
"""

from __future__ import annotations

_LAZY = {
    "SuperNet": "archssl.nas.supernet", "MixedOp": "archssl.nas.supernet", "size_penalty": "archssl.nas.supernet",
    "set_paths": "archssl.nas.supernet", "search": "archssl.nas.search", "arch_step": "archssl.nas.search",
    "split_indices": "archssl.nas.search",
}

__all__ = [*_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'archssl.nas' has no attribute {name!r}")
