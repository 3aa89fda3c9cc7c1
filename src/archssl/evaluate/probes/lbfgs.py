"""``lbfgs_logreg``: the standard linear-probe protocol (Kornblith, Shlens & Le 2019; used by SimCLR).

L2-regularised logistic regression on frozen features, fitted by full-batch L-BFGS in torch, for each value
of a log-spaced regularisation grid (default 45 values in [1e-6, 1e5]), warm-started along the path from
the strongest to the weakest regularisation; the value with the best validation metric is refitted on
train+val and scored on test.

Objective (``theta = [W; b]``, ``W`` (D, K), ``b`` (K,), intercept not penalised)::

    f(W, b) = (1/n) * sum_i loss(x_i W + b, y_i) + (l2 / 2) * ||W||_F^2

``loss`` is the multinomial cross-entropy (softmax) for single-label targets and the sum over classes of
binary logistic losses (one-vs-rest) for multi-hot targets.

Mapping to scikit-learn
    ``LogisticRegression(C=C, solver="lbfgs")`` minimises ``C * sum_i loss_i + ||W||^2 / 2`` (internally it
    divides by ``C * n``: mean loss + ||W||^2 / (2 C n)), with an unpenalised intercept; so

        l2 = 1 / (n * C)        C = 1 / (n * l2)

    with ``n`` the number of rows fitted. For K >= 3 classes (sklearn's multinomial) both solve the same
    problem and the coefficients agree (``W == coef_.T``; ``b == intercept_`` up to the softmax-invariant
    constant shift, compare after centring). For multi-label targets each class is the binary problem
    sklearn solves with the same ``C``. (For K = 2 single-label targets sklearn fits one binomial weight
    vector ``w``; our symmetric two-column softmax solution satisfies ``W[:, 1] - W[:, 0] == w`` for
    sklearn's ``C`` doubled, i.e. ``C = 2 / (n * l2)``.) ``tests/test_probes_lbfgs.py`` checks this.

Solver
    Full-batch L-BFGS (memory ``history``) with the Böhning curvature bound ``c * Cov_aug + l2`` (``c = 1/2``
    softmax, ``1/4`` sigmoid; ``Cov_aug`` the second-moment matrix of ``[X, 1]``) as the initial inverse
    Hessian (a (D+1)x(D+1) Cholesky solve per direction: a preconditioner, it does not change the problem),
    a line search on the exact 1-D restriction (the logits along a direction are ``Z + t * X d``, so each
    trial costs element-wise work only; one matrix product for ``X d`` and one for the gradient per
    iteration), and curvature pairs carried along the path (a pair ``(s, y_data)`` of data-gradient
    differences is exact for every ``l2``: ``y = y_data + l2 * s``). Matrix products run in ``dtype``
    (float32 by default: 2x faster on CPU, exact enough for the metrics; ``float64`` for reference work);
    parameters, gradients, the objective and all reductions are float64.

    A value of the grid is converged when ``max|grad| <= tol * g0`` with ``g0 = max(1, max|grad f(0)|)`` (the
    largest gradient entry at W = 0, b = 0), or when the objective stops decreasing (relative change below
    ``ftol`` twice in a row); otherwise ``max_iter`` iterations. Each ``val_curve`` entry records the
    iterations, the final gradient and whether it converged.

Standardisation (``standardize=True``, default False) centres and scales each feature by the statistics of
the rows being fitted (train for the sweep, train+val for the refit) before fitting; that changes the
problem (the penalty then acts on standardised coefficients), so it is off by default to match the
published protocol and scikit-learn on raw features.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .base import PROBES, Probe, ProbeConfigError, ProbeData, resolve_device, select_best, torch_threads
from . import metrics as M


def l2_to_C(l2: float, n: int) -> float:
    """scikit-learn's ``C`` for our ``l2`` on ``n`` rows: ``C = 1 / (n * l2)``."""
    return 1.0 / (n * l2)


def C_to_l2(C: float, n: int) -> float:
    """Our ``l2`` for scikit-learn's ``C`` on ``n`` rows: ``l2 = 1 / (n * C)``."""
    return 1.0 / (n * C)


def l2_grid(num: int = 45, low: float = 1e-6, high: float = 1e5) -> list[float]:
    """Log-spaced regularisation values, strongest first (the order the path is fitted in)."""
    if num < 1 or not (0 < low <= high):
        raise ProbeConfigError(f"invalid l2 grid: num={num}, range=[{low}, {high}]")
    return [float(v) for v in np.logspace(math.log10(high), math.log10(low), num)]


@dataclass
class SolveInfo:
    l2: float
    n_iter: int
    n_evals: int
    converged: bool
    status: str
    grad_max: float
    objective: float
    seconds: float


@dataclass
class _Memory:
    s: list = field(default_factory=list)
    yd: list = field(default_factory=list)  # data-gradient differences

    def clear(self) -> None:
        self.s.clear()
        self.yd.clear()


class LogRegSolver:
    """L2-regularised logistic regression on one fitting set; keeps its state between :meth:`solve` calls
    so consecutive calls warm-start (iterate and curvature memory) along a regularisation path.

    ``X`` (N, D) float array, ``y`` (N,) int in [0, K) or (N, K) multi-hot. ``theta`` is (D+1, K) float64:
    rows 0..D-1 are ``W``, row D is ``b``.
    """

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        num_classes: int,
        *,
        dtype: str = "float32",
        device: Any = "cpu",
        history: int = 10,
        precondition: bool = True,
        carry_memory: bool = True,
        tol: float = 1e-5,
        ftol: float = 1e-12,
        max_iter: int = 500,
        refresh_every: int = 50,
    ):
        import torch

        self.torch = torch
        if dtype not in ("float32", "float64"):
            raise ProbeConfigError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        self.device = torch.device(device) if not isinstance(device, torch.device) else device
        self.cdtype = getattr(torch, dtype)
        self.n, self.d = X.shape
        self.K = int(num_classes)
        self.multilabel = y.ndim == 2
        self.history, self.precondition, self.carry_memory = int(history), bool(precondition), bool(carry_memory)
        self.tol, self.ftol, self.max_iter, self.refresh_every = float(tol), float(ftol), int(max_iter), int(refresh_every)
        with torch.inference_mode():
            self.X = torch.as_tensor(np.ascontiguousarray(X)).to(self.device, self.cdtype)
            if self.multilabel:
                self.Y = torch.as_tensor(y).to(self.device, self.cdtype)
                self.y = None
            else:
                self.y = torch.as_tensor(y).to(self.device, torch.int64)
                self.Y = None
            self.theta = torch.zeros(self.d + 1, self.K, dtype=torch.float64, device=self.device)
            self.mask = torch.ones(self.d + 1, 1, dtype=torch.float64, device=self.device)
            self.mask[-1] = 0.0  # intercept unpenalised
            self._second_moment = None
            self._chol_l2 = None
            self._chol = None
            self.mem = _Memory()
            self._refresh()
            # gradient scale at theta = 0 (for the relative stopping rule)
            g0 = self._data_grad(self._residual(self._zero_logits())[1])
            self.g_scale = max(1.0, float(g0.abs().max()))
        self.iters_since_refresh = 0

    # ---------------------------------------------------------------------------------------------- pieces
    def _zero_logits(self):
        return self.torch.zeros(self.n, self.K, dtype=self.cdtype, device=self.device)

    def _logits(self, theta):
        th = theta.to(self.cdtype)
        return self.torch.addmm(th[-1], self.X, th[:-1])

    def _dir_logits(self, d):
        return self._logits(d)

    def _residual(self, S):
        """Mean data loss (float) and the residual ``G = dloss/dS * n`` (= P - Y) for logits ``S``."""
        torch = self.torch
        if self.multilabel:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(S, self.Y, reduction="none").sum(
                dtype=torch.float64
            )
            G = torch.sigmoid(S)
            G.sub_(self.Y)
        else:
            L = torch.log_softmax(S, dim=1)
            loss = -L.gather(1, self.y[:, None]).sum(dtype=torch.float64)
            G = L.exp_()
            G[torch.arange(self.n, device=self.device), self.y] -= 1.0
        return float(loss) / self.n, G

    def _data_grad(self, G):
        torch = self.torch
        gW = (self.X.T @ G).double()
        gb = G.sum(dim=0, dtype=torch.float64)
        return torch.cat([gW, gb[None]], dim=0).div_(self.n)

    def _refresh(self):
        """Recompute logits, data loss, residual and data gradient from ``theta`` exactly."""
        self.Z = self._logits(self.theta)
        self.loss_data, G = self._residual(self.Z)
        self.g_data = self._data_grad(G)
        self.iters_since_refresh = 0

    def _objective(self, l2):
        W = self.theta[:-1]
        return self.loss_data + 0.5 * l2 * float((W * W).sum())

    def _grad(self, l2):
        return self.g_data + l2 * self.mask * self.theta

    def _second_moments(self):
        if self._second_moment is None:
            torch = self.torch
            S = torch.empty(self.d + 1, self.d + 1, dtype=torch.float64, device=self.device)
            S[: self.d, : self.d] = (self.X.T @ self.X).double() / self.n
            mu = self.X.sum(dim=0, dtype=torch.float64) / self.n
            S[: self.d, self.d] = mu
            S[self.d, : self.d] = mu
            S[self.d, self.d] = 1.0
            self._second_moment = S
        return self._second_moment

    def _precond_factor(self, l2):
        if not self.precondition:
            return None
        if self._chol is not None and self._chol_l2 == l2:
            return self._chol
        torch = self.torch
        c = 0.25 if self.multilabel else 0.5
        A = c * self._second_moments() + torch.diag(l2 * self.mask[:, 0])
        jitter = 1e-10 * float(torch.diagonal(A).mean())
        A.diagonal().add_(jitter)
        L, info = torch.linalg.cholesky_ex(A)
        if int(info) != 0:  # fall back to the diagonal
            L = None
        self._chol, self._chol_l2 = (L, l2) if L is not None else (None, None)
        if L is None:
            self._diag_fallback = torch.diagonal(A).clone()
        return L

    def _apply_h0(self, q, L):
        if not self.precondition:
            return q
        if L is None:
            return q / self._diag_fallback[:, None]
        return self.torch.cholesky_solve(q, L)

    def _direction(self, g, l2, L):
        """L-BFGS two-loop recursion with pairs ``(s, yd + l2*mask*s)`` and H0 = gamma * M^-1."""
        mem = self.mem
        m = len(mem.s)
        if m == 0:
            return -self._apply_h0(g, L), False
        ys = [yd + l2 * self.mask * s for s, yd in zip(mem.s, mem.yd)]
        rho = []
        for s, y in zip(mem.s, ys):
            sy = float((s * y).sum())
            rho.append(1.0 / sy if sy > 0 else 0.0)
        q = g.clone()
        alpha = [0.0] * m
        for i in range(m - 1, -1, -1):
            if rho[i] == 0.0:
                continue
            alpha[i] = rho[i] * float((mem.s[i] * q).sum())
            q.sub_(ys[i], alpha=alpha[i])
        y_last, s_last = ys[-1], mem.s[-1]
        Hy = self._apply_h0(y_last, L)
        yHy = float((y_last * Hy).sum())
        sy = float((s_last * y_last).sum())
        gamma = sy / yHy if (yHy > 0 and sy > 0) else 1.0
        r = self._apply_h0(q, L).mul_(gamma)
        for i in range(m):
            if rho[i] == 0.0:
                continue
            beta = rho[i] * float((ys[i] * r).sum())
            r.add_(mem.s[i], alpha=alpha[i] - beta)
        return -r, True

    def _phi(self, t, XD, l2, W_dW, dW_dW, W_W, xd_y=None):
        """Objective and slope at ``theta + t d`` (data part from logits ``Z + t XD``); returns S and G too."""
        torch = self.torch
        S = torch.add(self.Z, XD, alpha=t)
        loss, G = self._residual(S)
        slope = float((G * XD).sum(dtype=torch.float64)) / self.n
        f = loss + 0.5 * l2 * (W_W + 2 * t * W_dW + t * t * dW_dW)
        df = slope + l2 * (W_dW + t * dW_dW)
        return f, df, loss, S, G

    def _curvature(self, XD, l2, dW_dW):
        """phi''(0): exact second derivative along the direction (for the first step of a fresh memory)."""
        torch = self.torch
        if self.multilabel:
            P = torch.sigmoid(self.Z)
            h = (P * (1 - P) * XD * XD).sum(dtype=torch.float64)
        else:
            P = torch.softmax(self.Z, dim=1)
            PX = P * XD
            h = (PX * XD).sum(dtype=torch.float64) - (PX.sum(dim=1, dtype=torch.float64) ** 2).sum()
        return float(h) / self.n + l2 * dW_dW

    # ---------------------------------------------------------------------------------------------- solve
    def solve(self, l2: float, theta0=None) -> SolveInfo:
        """Minimise the objective for ``l2`` starting from the current state (or ``theta0``)."""
        torch = self.torch
        t_start = time.perf_counter()
        with torch.inference_mode():
            if theta0 is not None:
                self.theta = torch.as_tensor(theta0, dtype=torch.float64, device=self.device).clone()
                self.mem.clear()
                self._refresh()
            elif self.iters_since_refresh >= self.refresh_every:
                self._refresh()
            if not self.carry_memory:
                self.mem.clear()
            L = self._precond_factor(l2)
            f = self._objective(l2)
            g = self._grad(l2)
            gmax = float(g.abs().max())
            thresh = self.tol * self.g_scale
            n_iter = n_evals = 0
            status, small_steps = "max_iter", 0
            while True:
                if gmax <= thresh:
                    status = "gtol"
                    break
                if n_iter >= self.max_iter:
                    break
                d, has_mem = self._direction(g, l2, L)
                dg = float((d * g).sum())
                if not dg < 0:  # not a descent direction (numerical trouble): restart from H0
                    self.mem.clear()
                    d, has_mem = self._direction(g, l2, L)
                    dg = float((d * g).sum())
                    if not dg < 0:
                        status = "no_descent"
                        break
                XD = self._dir_logits(d)
                dW = d[:-1]
                W = self.theta[:-1]
                W_dW, dW_dW, W_W = float((W * dW).sum()), float((dW * dW).sum()), float((W * W).sum())
                if has_mem:
                    t = 1.0
                else:
                    curv = self._curvature(XD, l2, dW_dW)
                    t = -dg / curv if curv > 0 else 1.0
                ok, t, f_new, loss_new, S, G, evals = self._line_search(t, f, dg, XD, l2, W_dW, dW_dW, W_W)
                n_evals += evals
                if not ok:
                    # a failed search is only acceptable very close to the optimum (rounding noise)
                    status = "linesearch"
                    break
                step = d.mul_(t)
                self.theta.add_(step)
                self.Z = S
                self.loss_data = loss_new
                g_data_new = self._data_grad(G)
                yd = g_data_new - self.g_data
                self.g_data = g_data_new
                sy = float((step * (yd + l2 * self.mask * step)).sum())
                if sy > 1e-16 * float((step * step).sum()):
                    self.mem.s.append(step)
                    self.mem.yd.append(yd)
                    if len(self.mem.s) > self.history:
                        self.mem.s.pop(0)
                        self.mem.yd.pop(0)
                g = self._grad(l2)
                gmax = float(g.abs().max())
                n_iter += 1
                self.iters_since_refresh += 1
                rel = (f - f_new) / max(abs(f), abs(f_new), 1.0)
                f = f_new
                small_steps = small_steps + 1 if rel <= self.ftol else 0
                if small_steps >= 2 and gmax > thresh:
                    status = "ftol"
                    break
            converged = status in ("gtol", "ftol")
            return SolveInfo(
                l2=float(l2), n_iter=n_iter, n_evals=n_evals, converged=converged, status=status,
                grad_max=gmax, objective=f, seconds=time.perf_counter() - t_start,
            )

    def _line_search(self, t, f0, dg0, XD, l2, W_dW, dW_dW, W_W, c1=1e-4, c2=0.9, max_evals=30):
        """Weak-Wolfe search on the convex 1-D restriction, bracketing the root of phi'.

        Accepts ``t`` with ``phi'(t) >= c2 phi'(0)`` (curvature) and sufficient decrease; sufficient decrease is
        certified either by the objective (Armijo) or, immune to rounding in the objective, by convexity when
        ``phi'(t) <= c1 phi'(0)`` (then ``phi(t) <= phi(0) + t phi'(t) <= phi(0) + c1 t phi'(0)``).
        """
        lo, hi = 0.0, math.inf
        dlo = dg0
        evals = 0
        while evals < max_evals:
            f, df, loss, S, G = self._phi(t, XD, l2, W_dW, dW_dW, W_W)
            evals += 1
            armijo = (f <= f0 + c1 * t * dg0) or (df <= c1 * dg0)
            if math.isfinite(f) and armijo and abs(df) <= -c2 * dg0:
                return True, t, f, loss, S, G, evals
            if math.isfinite(f) and armijo and df < 0:
                # too short: still descending steeply
                lo, dlo = t, df
                if math.isinf(hi):
                    t = t * 4.0
                    continue
            else:
                hi, dhi = t, df
                if not math.isfinite(f):
                    t = 0.5 * (lo + hi)
                    continue
            # secant on phi' inside the bracket, safeguarded
            if math.isfinite(hi) and dhi > dlo:
                t_new = lo - dlo * (hi - lo) / (dhi - dlo)
            else:
                t_new = 0.5 * (lo + hi)
            width = hi - lo
            t = min(max(t_new, lo + 0.05 * width), hi - 0.05 * width)
        return False, t, f0, self.loss_data, None, None, evals

    # ---------------------------------------------------------------------------------------------- use
    def scores(self, X, theta=None) -> np.ndarray:
        torch = self.torch
        th = self.theta if theta is None else theta
        with torch.inference_mode():
            Xt = torch.as_tensor(np.ascontiguousarray(X)).to(self.device, self.cdtype)
            return torch.addmm(th[-1].to(self.cdtype), Xt, th[:-1].to(self.cdtype)).double().cpu().numpy()

    def coef(self) -> tuple[np.ndarray, np.ndarray]:
        th = self.theta.cpu().numpy()
        return th[:-1].copy(), th[-1].copy()


def fit_logreg(
    X: np.ndarray, y: np.ndarray, num_classes: int, l2: float, num_threads: int | None = None, **solver_kw: Any
) -> tuple[np.ndarray, np.ndarray, SolveInfo]:
    """Fit one regularisation value from zero; return ``W`` (D, K), ``b`` (K,) and the solver info.

    ``solver_kw`` are :class:`LogRegSolver` options (``dtype``, ``device``, ``tol``, ``ftol``, ``max_iter``...).
    """
    X = np.asarray(X, dtype=np.float32 if solver_kw.get("dtype", "float32") == "float32" else np.float64)
    with torch_threads(num_threads, X.shape[0] * X.shape[1] * num_classes):
        solver = LogRegSolver(X, np.asarray(y), num_classes, **solver_kw)
        info = solver.solve(l2)
    W, b = solver.coef()
    return W, b, info


class _Standardizer:
    def __init__(self, X: np.ndarray):
        self.mean = X.mean(axis=0, dtype=np.float64)
        std = X.std(axis=0, dtype=np.float64)
        self.std = np.where(std > 1e-12, std, 1.0)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean) / self.std).astype(np.float32)


@PROBES.register("lbfgs_logreg")
class LBFGSLogReg(Probe):
    """The standard protocol probe; parameters (defaults in :attr:`defaults`):

    ``num_l2``, ``l2_min``, ``l2_max`` (the grid), ``l2_values`` (explicit list, overrides the grid),
    ``tol``, ``ftol``, ``max_iter`` (per grid value), ``history`` (L-BFGS memory), ``dtype`` (matrix products),
    ``precondition``, ``carry_memory``, ``standardize``, plus the common ``device``, ``num_threads``,
    ``val_fraction`` (when val is None), ``seed``.
    """

    name = "lbfgs_logreg"
    defaults = {
        "num_l2": 45,
        "l2_min": 1e-6,
        "l2_max": 1e5,
        "l2_values": None,
        "tol": 1e-5,
        "ftol": 1e-12,
        "max_iter": 500,
        "history": 10,
        "dtype": "float32",
        "precondition": True,
        "carry_memory": True,
        "standardize": False,
    }

    def _check_params(self) -> None:
        p = self.params
        if p["l2_values"] is not None:
            vals = [float(v) for v in p["l2_values"]]
            if not vals or any(not (v > 0 and math.isfinite(v)) for v in vals):
                raise ProbeConfigError(f"lbfgs_logreg: l2_values must be positive finite numbers, got {vals}")
            p["l2_values"] = sorted(vals, reverse=True)
        else:
            l2_grid(int(p["num_l2"]), float(p["l2_min"]), float(p["l2_max"]))
        if p["dtype"] not in ("float32", "float64"):
            raise ProbeConfigError(f"lbfgs_logreg: dtype must be 'float32' or 'float64', got {p['dtype']!r}")
        if int(p["max_iter"]) < 1 or int(p["history"]) < 1 or float(p["tol"]) <= 0:
            raise ProbeConfigError("lbfgs_logreg: max_iter and history must be >= 1 and tol > 0")

    def grid(self) -> list[float]:
        p = self.params
        if p["l2_values"] is not None:
            return list(p["l2_values"])
        return l2_grid(int(p["num_l2"]), float(p["l2_min"]), float(p["l2_max"]))

    def _solver(self, X, y, K, device):
        p = self.params
        return LogRegSolver(
            X, y, K, dtype=p["dtype"], device=device, history=p["history"], precondition=p["precondition"],
            carry_memory=p["carry_memory"], tol=p["tol"], ftol=p["ftol"], max_iter=p["max_iter"],
        )

    def _fit_select(self, data: ProbeData, metric: str) -> dict[str, Any]:
        device = resolve_device(self.params["device"])
        std = self.params["standardize"]
        Xtr, Xva = data.X_train, data.X_val
        if std:
            s = _Standardizer(Xtr)
            Xtr, Xva = s(Xtr), s(Xva)
        solver = self._solver(Xtr, data.y_train, data.num_classes, device)
        curve, thetas = [], []
        for l2 in self.grid():
            info = solver.solve(l2)
            sv = solver.scores(Xva)
            curve.append({
                "l2": l2,
                "C_sklearn": l2_to_C(l2, data.X_train.shape[0]),
                "val_top1": M.top1(sv, data.y_val),
                "val_metric": M.compute(metric, sv, data.y_val),
                "n_iter": info.n_iter,
                "converged": info.converged,
                "status": info.status,
                "grad_max": info.grad_max,
                "seconds": round(info.seconds, 4),
            })
            thetas.append(solver.theta.clone())
        best = select_best([c["val_metric"] for c in curve])
        l2 = curve[best]["l2"]
        del solver
        # refit on train+val, warm-started from the train solution at the selected value
        Xall, yall = data.trainval()
        Xte = data.X_test
        theta0 = thetas[best]
        if std:
            s = _Standardizer(Xall)
            Xall, Xte = s(Xall), s(Xte)
            theta0 = None  # different feature scaling: start from zero
        refit = self._solver(Xall, yall, data.num_classes, device)
        info = refit.solve(l2, theta0=theta0)
        scores = refit.scores(Xte)
        return {
            "selected": {
                "l2": l2,
                "C_sklearn": l2_to_C(l2, Xall.shape[0]),
                "index": best,
                "val_metric": curve[best]["val_metric"],
                "refit_n_iter": info.n_iter,
                "refit_converged": info.converged,
                "refit_status": info.status,
            },
            "val_curve": curve,
            "test_scores": scores,
            "device": str(device),
        }
