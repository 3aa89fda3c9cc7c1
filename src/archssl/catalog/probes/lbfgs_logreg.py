"""The standard linear-evaluation protocol: multinomial logistic regression by L-BFGS over a grid of L2
values (``num_l2`` log-spaced in [``l2_min``, ``l2_max``], or ``l2_values``), selected on val, refit on
train + val (:mod:`archssl.evaluate.probes.lbfgs`)."""

from __future__ import annotations

from archssl.catalog.probes.base import ProbeConfigError, ProbeInfo
from archssl.params import boolean, choice, integer, list_of, number


def check(p: dict, where: str) -> None:
    if p["l2_values"] is None and p["l2_min"] > p["l2_max"]:
        raise ProbeConfigError(f"config key '{where}.l2_min': {p['l2_min']} exceeds l2_max ({p['l2_max']})")


INFO = ProbeInfo("lbfgs_logreg", "archssl.evaluate.probes.lbfgs:LBFGSLogReg", check=check, params={
    "num_l2": integer(45, ge=1), "l2_min": number(1e-6, gt=0), "l2_max": number(1e5, gt=0),
    "l2_values": list_of({"type": "number", "exclusiveMinimum": 0}, None, null=True),
    "tol": number(1e-5, gt=0), "step_tol": number(1e-5, gt=0), "ftol": number(1e-12, ge=0),
    "max_iter": integer(500, ge=1), "history": integer(10, ge=1), "dtype": choice("float32", ("float32", "float64")),
    "precondition": boolean(True), "carry_memory": boolean(True), "standardize": boolean(False),
    "tight_tol": number(1e-7, gt=0, null=True), "polish_max": integer(5, ge=0)})
