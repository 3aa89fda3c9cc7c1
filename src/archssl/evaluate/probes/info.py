"""Torch-free descriptors of the probes: their parameters (defaults, types, ranges) and where their
implementation lives, so that the planner checks ``probe.params`` before any job runs.

Adding a probe is one module with a :class:`~archssl.evaluate.probes.base.Probe` subclass plus one
``register_probe(ProbeInfo(...))`` line (the built-in ones are at the end of this module).
"""

from __future__ import annotations

import importlib
from typing import Callable

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
        if isinstance(self.impl, str):
            module, _, cls = self.impl.partition(":")
            self.impl = getattr(importlib.import_module(module), cls)
        return self.impl


PROBES: Registry[ProbeInfo] = Registry("probe")


def register_probe(info: ProbeInfo) -> ProbeInfo:
    PROBES.add(info.name, info)
    return info


def _check_grid(p: dict, where: str) -> None:
    if p["l2_values"] is None and p["l2_min"] > p["l2_max"]:
        raise ProbeConfigError(f"config key '{where}.l2_min': {p['l2_min']} exceeds l2_max ({p['l2_max']})")


_M = "archssl.evaluate.probes."
register_probe(ProbeInfo("lbfgs_logreg", _M + "lbfgs:LBFGSLogReg", check=_check_grid, params={
    "num_l2": integer(45, ge=1), "l2_min": number(1e-6, gt=0), "l2_max": number(1e5, gt=0),
    "l2_values": list_of({"type": "number", "exclusiveMinimum": 0}, None, null=True),
    "tol": number(1e-5, gt=0), "step_tol": number(1e-5, gt=0), "ftol": number(1e-12, ge=0),
    "max_iter": integer(500, ge=1), "history": integer(10, ge=1), "dtype": choice("float32", ("float32", "float64")),
    "precondition": boolean(True), "carry_memory": boolean(True), "standardize": boolean(False),
    "tight_tol": number(1e-7, gt=0, null=True), "polish_max": integer(5, ge=0)}))
SGD_PARAMS = {
    "epochs": integer(100, ge=1), "batch_size": integer(256, ge=1), "lr": number(0.1, gt=0),
    "momentum": number(0.9, ge=0, lt=1), "nesterov": boolean(True),
    "weight_decays": list_of({"type": "number", "minimum": 0}, [0.0, 1e-5, 1e-4, 1e-3]),
    "selection": choice("cv", ("cv", "val")), "folds": integer(3, ge=2), "standardize": boolean(True)}
register_probe(ProbeInfo("sgd_linear", _M + "sgd:SGDLinearProbe", params=SGD_PARAMS))
register_probe(ProbeInfo("mlp", _M + "sgd:MLPProbe", params={
    **SGD_PARAMS, "hidden": integer(1024, ge=1), "selection": choice("val", ("cv", "val"))}))
register_probe(ProbeInfo("knn", _M + "knn:KNNProbe", params={
    "k": one_or_list({"type": "integer", "minimum": 1}, 200),
    "temperature": one_or_list({"type": "number", "exclusiveMinimum": 0}, 0.07)}))
