"""Torch-free descriptors of the probes: their parameters (defaults, types, ranges) and where their
implementation lives, so that the planner checks ``probe.params`` before any job runs.

The descriptor class and the registry; each probe's descriptor is a module of :mod:`archssl.catalog.probes`.
"""

from __future__ import annotations

from typing import Callable

from archssl.catalog.loader import load
from archssl.params import (ParamError, boolean, choice, integer, list_of, number, one_or_list, resolve)
from archssl.registry import Registry


class ProbeConfigError(ParamError):
    """Unknown probe parameter or invalid parameter value."""


#: parameters every probe accepts; ``device`` and ``num_threads`` only change how a probe runs
COMMON_PARAMS = {
    "device": {"type": "string", "pattern": "^(auto|cpu|cuda(:[0-9]+)?)$", "default": "auto"},
    "num_threads": integer(None, ge=1, null=True, doc="torch CPU threads; null: the job's --threads"),
    "val_fraction": number(0.2, gt=0, lt=1, doc="only when a dataset has no val split: stratified hold-out"),
    "seed": integer(0, ge=0),
}
#: the common parameters that do not change a probe's result (kept out of the probe job's spec)
EXECUTION_PARAMS = ("device", "num_threads")


class ProbeInfo:
    """One probe's descriptor: ``impl`` (``"module:Class"`` or the class), its own ``params`` schema (the
    common ones are added), and an optional cross-field ``check(params, where)``."""

    def __init__(self, name: str, impl: "str | type", params: dict | None = None,
                 check: Callable[[dict, str], None] | None = None):
        self.name = name
        self.impl = impl
        self.params = {**COMMON_PARAMS, **(params or {})}
        self._check = check

    def __repr__(self) -> str:
        return f"ProbeInfo({self.name!r})"

    @property
    def defaults(self) -> dict:
        return resolve({}, self.params, "probe.params")

    def resolve(self, params: dict | None, where: str = "probe.params") -> dict:
        """``params`` with every default filled in and validated; errors are :class:`ProbeConfigError`
        naming ``where.<key>``."""
        try:
            out = resolve(params, self.params, where)
            if self._check is not None:
                self._check(out, where)
        except ProbeConfigError:
            raise
        except ParamError as e:
            raise ProbeConfigError(f"probe {self.name!r}: {e}") from None
        return out

    def load(self) -> type:
        """The implementation class (imported on first use)."""
        if isinstance(self.impl, str):
            self.impl = load(self.impl)
        return self.impl


PROBES: Registry[ProbeInfo] = Registry("probe")


def register_probe(info: ProbeInfo) -> ProbeInfo:
    PROBES.add(info.name, info)
    return info
