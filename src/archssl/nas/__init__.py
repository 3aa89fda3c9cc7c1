"""ProxylessNAS (Cai et al. 2019) with a self-supervised loss: :mod:`.supernet` (the supernet, its mixed ops
and the size penalty) and :mod:`.search` (the search loop, its architecture step and checkpoints), both torch.

The search space and the settings (per-op costs in closed form, settings validation; torch-free, what the
planner uses) are :mod:`archssl.catalog.nas`. Typical use::

    from archssl.catalog.nas import validate_settings
    from archssl.nas.search import search
    settings = validate_settings(cfg["nas"]["searches"]["s1"], where="nas.searches.s1")   # planner, no torch
    search(dataset, out_dir, "simclr", method_params, settings, where="nas.searches.s1")  # job
"""
