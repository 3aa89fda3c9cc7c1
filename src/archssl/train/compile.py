"""``pretrain.compile``: optional ``torch.compile`` of the modules a training step spends its time in.

The loop calls ``method.training_step(...)``, not ``method(...)``, so compiling the method object itself
(``torch.compile(method)`` wraps ``forward`` only) would compile nothing that runs. :func:`maybe_compile`
instead compiles the named submodules in place (``nn.Module.compile``: their ``__call__`` goes through
``torch.compile``), by default the backbone and the projection head. In-place compilation keeps every
``state_dict`` key as it was (no ``_orig_mod.`` prefix), so checkpoints, ``backbone.pt`` and resumption are
unaffected, and a compiled and an eager run read each other's checkpoints.

torch.compile (inductor) needs a C/C++ compiler on CPU and Triton on CUDA; the first steps pay the
compilation (seconds to minutes), so it pays off on long GPU runs, not on the mini suite.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: submodules of an SSL method that :func:`maybe_compile` compiles (those present)
DEFAULT_MODULES = ("backbone", "head")


def maybe_compile(model: Any, enabled: bool, modules: Sequence[str] = DEFAULT_MODULES, **options: Any) -> Any:
    """Compile ``model``'s submodules named in ``modules`` in place when ``enabled``; return ``model``.

    ``modules`` lists attribute names (those the model lacks or that are None are skipped); when none is
    present, ``model`` itself is compiled in place. ``options`` go to ``torch.compile`` (``mode``,
    ``dynamic``, ``fullgraph``, ``backend``). ``enabled=False`` returns ``model`` untouched. Compile after
    moving the model to its device and memory format and after loading a checkpoint."""
    if not enabled:
        return model
    import torch

    targets = [getattr(model, name) for name in modules if isinstance(getattr(model, name, None), torch.nn.Module)]
    for module in targets or [model]:
        module.compile(**options)
    return model
