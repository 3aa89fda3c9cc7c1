"""The one loader of the catalog: a descriptor names its implementation as ``"module:Name"`` and
:func:`load` imports it on first use (so that the descriptors, and everything that plans with them, never
import torch)."""

from __future__ import annotations

import importlib
from typing import Any


def load(path: str) -> Any:
    """The object ``Name`` of module ``module`` named by ``"module:Name"``; a malformed path or a missing
    name is an ImportError naming the path."""
    module, sep, name = path.partition(":")
    if not sep or not module or not name:
        raise ImportError(f"implementation path {path!r} is not 'module:Name'")
    try:
        return getattr(importlib.import_module(module), name)
    except AttributeError:
        raise ImportError(f"implementation path {path!r}: module {module!r} has no {name!r}") from None
