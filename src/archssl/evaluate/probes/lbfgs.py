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
    Full-batch L-BFGS (memory ``history``) whose initial inverse Hessian is a Kronecker-style approximation
    ``(c * E[[x,1][x,1]^T] + l2 * diag(1,..,1,0))^-1`` with ``c`` the current mean per-class curvature
    ``mean p(1-p)`` (re-estimated at each grid value; a (D+1)x(D+1) Cholesky solve per direction: a
    preconditioner, it does not change the problem; ``precondition=False`` gives plain L-BFGS),
    a line search on the exact 1-D restriction (the logits along a direction are ``Z + t * X d``, so each
    trial costs element-wise work only; one matrix product for ``X d`` and one for the gradient per
    iteration), and curvature pairs carried along the path (a pair ``(s, y_data)`` of data-gradient
    differences is exact for every ``l2``: ``y = y_data + l2 * s``). Matrix products run in ``dtype``
    (float32 by default: 2x faster on CPU, exact enough for the metrics; ``float64`` for reference work);
    parameters, gradients, the objective and all reductions are float64.

    Features are centred internally (``logits = (X - mu) W + b'`` with ``b' = b + mu W``: the same model and
    objective, since ``b`` is not penalised; better conditioned, and more precise in float32); results are
    reported for the raw features.

    A value of the grid is converged (``status``) when

    * ``gtol``: every gradient entry is at most ``tol`` in dimensionless units: the rows of ``W`` divided by
      their feature's standard deviation (the gradient of the same problem on standardised features, so the
      rule does not depend on the features' scale; constant features are ignored), the intercept as is; or
    * ``step``: the next quasi-Newton step would change no logit of any training row by more than
      ``step_tol`` (also scale-free; it is what ends strongly regularised fits on features with tiny
      variance, whose standardised gradients stay large while nothing changes any more); or
    * ``ftol``: the objective stopped decreasing (relative change below ``ftol`` twice in a row);

    otherwise it stops after ``max_iter`` iterations (``max_iter``, not converged) or when the line search
    fails (``linesearch``, not converged: only expected within rounding noise of the optimum). Each
    ``val_curve`` entry records the iterations, the final gradient (in those units) and the status.

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

from .base import Probe, ProbeConfigError, ProbeData, Standardizer, resolve_device, select_best, torch_threads
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


#: eigenvalues of the feature covariance below this fraction of the largest count as its null space
RANK_TOL = 1e-10


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
    syd: list = field(default_factory=list)  # s . yd
    ss: list = field(default_factory=list)  # s . (mask * s)  (penalised part)

    def clear(self) -> None:
        self.s.clear()
        self.yd.clear()
        self.syd.clear()
        self.ss.clear()

    def push(self, s, yd, mask, history: int) -> None:
        self.s.append(s)
        self.yd.append(yd)
        self.syd.append(float(np.vdot(s, yd)))
        self.ss.append(float(np.vdot(s[:-1], s[:-1])))
        if len(self.s) > history:
            for lst in (self.s, self.yd, self.syd, self.ss):
                lst.pop(0)


def _blas_single_thread():
    """Parameter-space algebra is small: run numpy's BLAS on one thread (thread hand-offs cost more)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


class LogRegSolver:
    """L2-regularised logistic regression on one fitting set; keeps its state between :meth:`solve` calls
    so consecutive calls warm-start (iterate and curvature memory) along a regularisation path.

    ``X`` (N, D) float array, ``y`` (N,) int in [0, K) or (N, K) multi-hot. ``theta`` is a (D+1, K) float64
    numpy array: rows 0..D-1 are ``W``, row D is ``b``. The (N, *) work (matrix products, soft-max) runs in
    torch on ``device``; the parameter-space algebra (L-BFGS two-loop, preconditioner) in float64 numpy.
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
        step_tol: float = 1e-5,
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
        self.tol, self.step_tol, self.ftol = float(tol), float(step_tol), float(ftol)
        self.max_iter, self.refresh_every = int(max_iter), int(refresh_every)
        with torch.inference_mode():
            # Features are centred internally: logits = (X - mu) W + b' with b' = b + mu W is the same model
            # and the same objective (b is not penalised), better conditioned and more precise in float32.
            # [X - mu | 1]: one matrix product gives logits with the intercept, and gradients of W and b'.
            # (mu is rounded to the compute dtype, so that the centring done in torch and the conversion of b
            # back to raw features use the very same vector)
            self.mu = np.asarray(X.mean(axis=0, dtype=np.float64)).astype(np.dtype(dtype)).astype(np.float64)
            self.X = torch.empty(self.n, self.d + 1, dtype=self.cdtype, device=self.device)
            self.X[:, : self.d] = torch.as_tensor(np.ascontiguousarray(X)).to(self.device, self.cdtype)
            self.X[:, : self.d] -= torch.from_numpy(self.mu).to(self.device, self.cdtype)
            self.X[:, self.d] = 1.0
            if self.multilabel:
                self.Y = torch.as_tensor(y).to(self.device, self.cdtype)
                self.y = None
            else:
                self.y = torch.as_tensor(y).to(self.device, torch.int64)
                self.Y = None
                self._rows = torch.arange(self.n, device=self.device)
            self.theta = np.zeros((self.d + 1, self.K))
            self.mask = np.ones((self.d + 1, 1))
            self.mask[-1] = 0.0  # intercept unpenalised
            self._second_moment = None
            self._eig = None
            self.mem = _Memory()
            # state at theta = 0 (logits are zero: no product needed)
            self.Z = torch.zeros(self.n, self.K, dtype=self.cdtype, device=self.device)
            self.loss_data, G = self._residual(self.Z)
            self.g_data = self._data_grad(G)
            self.iters_since_refresh = 0
            # units of the stopping rule: gradient rows of W divided by the feature's standard deviation
            # (dimensionless: invariant to rescaling features), the intercept row as is; constant features
            # (std 0) have zero data gradient and are ignored
            std = np.sqrt(np.maximum(np.diag(self._second_moments())[: self.d], 0.0))
            self.grad_unit = np.ones((self.d + 1, 1))
            self.grad_unit[: self.d, 0] = np.where(std > 0, std, np.inf)

    # ---------------------------------------------------------------------------------------------- pieces
    def _logits(self, theta: np.ndarray):
        return self.X @ self.torch.from_numpy(theta).to(self.device, self.cdtype)

    def _residual(self, S):
        """Mean data loss (float) and the residual ``G = P - Y`` (n * dloss/dS) for logits ``S``."""
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
            G[self._rows, self.y] -= 1.0
        return float(loss) / self.n, G

    def _data_grad(self, G) -> np.ndarray:
        out = (self.X.T @ G).cpu().numpy().astype(np.float64)
        out /= self.n
        return out

    def _refresh(self) -> None:
        """Recompute logits, data loss, residual and data gradient from ``theta`` exactly."""
        self.Z = self._logits(self.theta)
        self.loss_data, G = self._residual(self.Z)
        self.g_data = self._data_grad(G)
        self.iters_since_refresh = 0

    def _objective(self, l2: float) -> float:
        W = self.theta[:-1]
        return self.loss_data + 0.5 * l2 * float(np.vdot(W, W))

    def _grad(self, l2: float) -> np.ndarray:
        return self.g_data + l2 * self.mask * self.theta

    def _second_moments(self) -> np.ndarray:
        """``[X-mu|1]^T [X-mu|1] / n`` in float64 (its top-left block is the feature covariance)."""
        if self._second_moment is None:
            S = (self.X.T @ self.X).cpu().numpy().astype(np.float64) / self.n
            self._second_moment = 0.5 * (S + S.T)
        return self._second_moment

    def _curvature_scale(self) -> float:
        """Average per-class curvature of the loss at the current logits, ``mean p(1-p)`` over samples and
        classes (the diagonal of ``diag(p) - p p^T``; ``1/K`` at uniform soft-max), floored."""
        torch = self.torch
        P = torch.sigmoid(self.Z) if self.multilabel else torch.softmax(self.Z, dim=1)
        c = float((P * (1.0 - P)).sum(dtype=torch.float64)) / (self.n * self.K)
        return max(c, 1e-4 / self.K)

    def _covariance_eig(self):
        """Eigen-decomposition of the feature covariance, once per fitting set (then every ``c`` and ``l2``
        of the path costs two small products per preconditioner application)."""
        if self._eig is None:
            lam, V = np.linalg.eigh(self._second_moments()[: self.d, : self.d])
            lam = np.maximum(lam, 0.0)
            # the covariance's range: with fewer samples than features (n <= d) the rest is a null space
            # where M is just l2 * I, so only these r <= n - 1 directions need storing (d x r, not d x d)
            keep = lam > RANK_TOL * max(float(lam.max(initial=0.0)), np.finfo(float).tiny)
            self._eig = (lam, V, np.ascontiguousarray(V[:, keep]), lam[keep])
        return self._eig

    def _precond_factor(self, l2: float):
        """Inverse of ``M = c * E[[x-mu,1][x-mu,1]^T] + l2 * diag(1,..,1,0)`` in factored form (None: no
        preconditioning), with ``c`` the current average curvature (:meth:`_curvature_scale`): a
        Kronecker-style approximation of the Hessian whose data and penalty parts are balanced at every point
        of the path. Centred features make ``M`` block-diagonal (covariance block, intercept block ``c``)."""
        if not self.precondition:
            return None
        c = self._curvature_scale()
        lam, V, V_r, lam_r = self._covariance_eig()
        if l2 > 0 and V_r.shape[1] < 0.75 * V.shape[1]:
            # M^-1 = (1/l2) I + V_r diag(1/(c lam + l2) - 1/l2) V_r^T: two thin products instead of two square
            # ones (the preconditioner only sets the speed: the optimum does not depend on it)
            return (V_r, 1.0 / (c * lam_r + l2) - 1.0 / l2, 1.0 / c, 1.0 / l2)
        return (V, 1.0 / (c * lam + l2), 1.0 / c, 0.0)

    def _apply_h0(self, q: np.ndarray, L) -> np.ndarray:
        if L is None:
            return q.copy()
        V, inv_w, inv_b, inv_null = L
        out = np.empty_like(q)
        out[:-1] = V @ ((V.T @ q[:-1]) * inv_w[:, None])
        if inv_null:
            out[:-1] += inv_null * q[:-1]
        out[-1] = q[-1] * inv_b
        return out

    def _direction(self, g: np.ndarray, l2: float, L) -> tuple[np.ndarray, bool]:
        """L-BFGS two-loop recursion with pairs ``(s, yd + l2*mask*s)`` and H0 = gamma * M^-1."""
        mem = self.mem
        m = len(mem.s)
        if m == 0:
            return -self._apply_h0(g, L), False
        ys = [yd + l2 * self.mask * s for s, yd in zip(mem.s, mem.yd)]
        sys_ = [syd + l2 * ss for syd, ss in zip(mem.syd, mem.ss)]
        rho = [1.0 / sy if sy > 0 else 0.0 for sy in sys_]
        q = g.copy()
        alpha = [0.0] * m
        for i in range(m - 1, -1, -1):
            if rho[i] == 0.0:
                continue
            alpha[i] = rho[i] * float(np.vdot(mem.s[i], q))
            q -= alpha[i] * ys[i]
        y_last = ys[-1]
        Hy = self._apply_h0(y_last, L)
        yHy = float(np.vdot(y_last, Hy))
        gamma = sys_[-1] / yHy if (yHy > 0 and sys_[-1] > 0) else 1.0
        r = self._apply_h0(q, L)
        r *= gamma
        for i in range(m):
            if rho[i] == 0.0:
                continue
            beta = rho[i] * float(np.vdot(ys[i], r))
            r += (alpha[i] - beta) * mem.s[i]
        return -r, True

    def _phi(self, t, XD, l2, W_dW, dW_dW, W_W):
        """Objective at ``theta + t d`` (data part from logits ``Z + t XD``), S, G and a function computing
        the slope phi'(t) on demand (it costs a pass over the (N, K) arrays)."""
        torch = self.torch
        S = torch.add(self.Z, XD, alpha=t)
        loss, G = self._residual(S)
        f = loss + 0.5 * l2 * (W_W + 2 * t * W_dW + t * t * dW_dW)

        def slope(exact: bool = True) -> float:
            if exact:  # float64 accumulation
                data = float((G * XD).sum(dtype=torch.float64))
            else:  # one BLAS dot in the compute dtype: fast, ~1e-7 relative to sum |G XD|
                data = float(torch.dot(G.reshape(-1), XD.reshape(-1)))
            return data / self.n + l2 * (W_dW + t * dW_dW)

        return f, slope, loss, S, G

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
    def solve(self, l2: float, theta0: np.ndarray | None = None, tol: float | None = None,
              step_tol: float | None = None) -> SolveInfo:
        """Minimise the objective for ``l2`` starting from the current state (or ``theta0`` = [W; b] for the
        raw features); ``tol`` / ``step_tol`` override the solver's stopping thresholds for this solve."""
        tol = self.tol if tol is None else float(tol)
        step_tol = self.step_tol if step_tol is None else float(step_tol)
        torch = self.torch
        t_start = time.perf_counter()
        with torch.inference_mode(), _blas_single_thread():
            if theta0 is not None:
                self.set_theta(theta0)  # raw-feature parametrisation; clears memory, recomputes the state
            elif self.iters_since_refresh >= self.refresh_every:
                self._refresh()
            if not self.carry_memory:
                self.mem.clear()
            L = self._precond_factor(l2)
            f = self._objective(l2)
            g = self._grad(l2)
            gmax = self._gmax(g)
            thresh = tol
            n_iter = n_evals = 0
            status, small_steps = "max_iter", 0
            while True:
                if gmax <= thresh:
                    status = "gtol"
                    break
                if n_iter >= self.max_iter:
                    break
                d, has_mem = self._direction(g, l2, L)
                dg = float(np.vdot(d, g))
                if not dg < 0:  # not a descent direction (numerical trouble): restart from H0
                    self.mem.clear()
                    d, has_mem = self._direction(g, l2, L)
                    dg = float(np.vdot(d, g))
                    if not dg < 0:
                        status = "no_descent"
                        break
                XD = self._logits(d)
                dW, W = d[:-1], self.theta[:-1]
                W_dW, dW_dW, W_W = float(np.vdot(W, dW)), float(np.vdot(dW, dW)), float(np.vdot(W, W))
                if has_mem:
                    t = 1.0
                else:
                    curv = self._curvature(XD, l2, dW_dW)
                    t = -dg / curv if curv > 0 else 1.0
                if t * float(XD.abs().max()) <= step_tol:
                    status = "step"  # the (quasi-)Newton step left would move no logit by more than step_tol
                    break
                ok, t, f_new, loss_new, S, G, evals = self._line_search(t, f, dg, XD, l2, W_dW, dW_dW, W_W)
                n_evals += evals
                if not ok:
                    status = "linesearch"  # only expected within rounding noise of the optimum
                    break
                step = d * t
                self.theta += step
                self.Z = S
                self.loss_data = loss_new
                g_data_new = self._data_grad(G)
                yd = g_data_new - self.g_data
                self.g_data = g_data_new
                if np.vdot(step, yd) + l2 * np.vdot(step[:-1], step[:-1]) > 1e-16 * float(np.vdot(step, step)):
                    self.mem.push(step, yd, self.mask, self.history)
                g = self._grad(l2)
                gmax = self._gmax(g)
                n_iter += 1
                self.iters_since_refresh += 1
                rel = (f - f_new) / max(abs(f), abs(f_new), 1.0)
                f = f_new
                small_steps = small_steps + 1 if rel <= self.ftol else 0
                if small_steps >= 2 and gmax > thresh:
                    status = "ftol"
                    break
            converged = status in ("gtol", "step", "ftol")
            return SolveInfo(
                l2=float(l2), n_iter=n_iter, n_evals=n_evals, converged=converged, status=status,
                grad_max=gmax, objective=f, seconds=time.perf_counter() - t_start,
            )

    def _line_search(self, t, f0, dg0, XD, l2, W_dW, dW_dW, W_W, c1=1e-4, c2=0.9, max_evals=30):
        """Line search on the convex 1-D restriction ``phi(t) = f(theta + t d)``.

        A trial ``t`` is accepted when it gives sufficient decrease and is not too short (weak Wolfe:
        ``phi'(t) >= c2 phi'(0)``). Sufficient decrease is Armijo on the objective
        (``phi(t) <= phi(0) + c1 t phi'(0)``) or, immune to rounding in the objective near the optimum, the
        convexity certificate ``phi'(t) <= c1 phi'(0)`` (then ``phi(t) <= phi(0) + t phi'(t) <=
        phi(0) + c1 t phi'(0)``). When Armijo holds on the objective the slope is only needed for the
        "too short" test, for which a fast single-precision dot is enough; otherwise it is accumulated in
        float64. Too short steps are extended (x4), too long ones bracketed and refined by safeguarded secant
        steps on ``phi'``.
        """
        lo, hi = 0.0, math.inf
        dlo, dhi = dg0, math.nan
        evals = 0
        while evals < max_evals:
            f, slope, loss, S, G = self._phi(t, XD, l2, W_dW, dW_dW, W_W)
            evals += 1
            finite = math.isfinite(f)
            if finite and f <= f0 + c1 * t * dg0:
                df = slope(exact=False)
                if df >= c2 * dg0:
                    return True, t, f, loss, S, G, evals
                sufficient = True
            else:
                df = slope() if finite else math.nan
                finite = finite and math.isfinite(df)
                sufficient = finite and df <= c1 * dg0
                if sufficient and df >= c2 * dg0:
                    return True, t, f, loss, S, G, evals
            if sufficient:  # too short: still descending steeply
                lo, dlo = t, df
                if math.isinf(hi):
                    t *= 4.0
                    continue
            else:
                hi, dhi = t, df
                if not finite:
                    t = 0.5 * (lo + hi)
                    continue
            if math.isfinite(hi) and dhi > dlo:  # secant on phi' inside the bracket, safeguarded
                t_new = lo - dlo * (hi - lo) / (dhi - dlo)
            else:
                t_new = 0.5 * (lo + hi)
            width = hi - lo
            t = min(max(t_new, lo + 0.05 * width), hi - 0.05 * width)
        return False, t, f0, self.loss_data, None, None, evals

    # ---------------------------------------------------------------------------------------------- use
    def _gmax(self, g: np.ndarray) -> float:
        """Largest gradient entry in the stopping rule's units (see ``grad_unit``)."""
        return float(np.max(np.abs(g) / self.grad_unit))

    def get_theta(self) -> np.ndarray:
        """Current ``[W; b]`` for the raw (uncentred) features."""
        out = self.theta.copy()
        out[-1] -= self.mu @ self.theta[:-1]
        return out

    def _centred(self, theta: np.ndarray) -> np.ndarray:
        """``[W; b]`` for the raw features -> the same model on the centred features (``b' = b + mu W``)."""
        th = np.array(theta, dtype=np.float64, copy=True)
        th[-1] += self.mu @ th[:-1]
        return th

    def set_theta(self, theta: np.ndarray) -> None:
        """Start from ``[W; b]`` given for the raw features (clears the curvature memory)."""
        th = np.asarray(theta)
        if th.shape != (self.d + 1, self.K):
            raise ValueError(f"theta must have shape {(self.d + 1, self.K)}, got {th.shape}")
        self.theta = self._centred(th)
        self.mem.clear()
        self._refresh()

    def scores(self, X: np.ndarray, theta: np.ndarray | None = None, chunk: int = 65536) -> np.ndarray:
        """Logits (N, K) float64 for raw features ``X`` (current state, or ``theta`` = [W; b] for raw features)."""
        torch = self.torch
        th = torch.from_numpy(self.theta if theta is None else self._centred(theta)).to(self.device, self.cdtype)
        mu = torch.from_numpy(self.mu).to(self.device, self.cdtype)
        out = np.empty((X.shape[0], self.K))
        with torch.inference_mode():
            for start in range(0, X.shape[0], chunk):
                Xt = torch.as_tensor(np.ascontiguousarray(X[start : start + chunk])).to(self.device, self.cdtype) - mu
                out[start : start + chunk] = torch.addmm(th[-1], Xt, th[:-1]).cpu().numpy()
        return out

    def coef(self) -> tuple[np.ndarray, np.ndarray]:
        """``W`` (D, K) and ``b`` (K,) for the raw features."""
        th = self.get_theta()
        return th[:-1], th[-1]


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


def near_best(values: list[float], margin: float, limit: int) -> list[int]:
    """Indices of the finite ``values`` within ``margin`` of the largest, at most ``limit`` of them, closest
    to the largest first (ties: the earlier index first)."""
    finite = [(v, i) for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    if not finite or limit <= 0:
        return []
    top = max(v for v, _ in finite)
    close = sorted((top - v, i) for v, i in finite if v >= top - margin)
    return [i for _, i in close[:limit]]


class LBFGSLogReg(Probe):
    """The standard protocol probe; parameters (defaults in :attr:`defaults`):

    ``num_l2``, ``l2_min``, ``l2_max`` (the grid), ``l2_values`` (explicit list, overrides the grid),
    ``tol``, ``step_tol``, ``ftol``, ``max_iter`` (per grid value), ``history`` (L-BFGS memory), ``dtype`` (matrix products),
    ``precondition``, ``carry_memory``, ``standardize``, ``tight_tol``, ``polish_max``, plus the common ``device``,
    ``num_threads``, ``val_fraction`` (when val is None), ``seed``.

    Selection is decided among near-ties, and near a tie a fit stopped at the sweep's ``tol`` can put one
    borderline validation image on the other side of the boundary than the exact optimum would (seen on the
    mini suite: a neighbouring ``l2`` chosen). So after the sweep the values whose validation metric is within
    two validation examples (``2 / n_val``) of the best, at most ``polish_max`` of them (closest to the best
    first; 0 turns this off), are re-solved from their sweep solution with ``tol = step_tol = tight_tol``
    and re-scored before selecting (their ``val_curve`` entries say ``polished``); the refit is solved at
    ``tight_tol`` too. ``tight_tol: null`` keeps the sweep's tolerances throughout.
    """

    name = "lbfgs_logreg"
    def _check_params(self) -> None:
        if self.params["l2_values"] is not None:
            self.params["l2_values"] = sorted((float(v) for v in self.params["l2_values"]), reverse=True)

    def grid(self) -> list[float]:
        p = self.params
        if p["l2_values"] is not None:
            return list(p["l2_values"])
        return l2_grid(int(p["num_l2"]), float(p["l2_min"]), float(p["l2_max"]))

    def _solver(self, X, y, K, device):
        p = self.params
        return LogRegSolver(
            X, y, K, dtype=p["dtype"], device=device, history=p["history"], precondition=p["precondition"],
            carry_memory=p["carry_memory"], tol=p["tol"], step_tol=p["step_tol"], ftol=p["ftol"],
            max_iter=p["max_iter"],
        )

    def _fit_select(self, data: ProbeData, metric: str) -> dict[str, Any]:
        device = resolve_device(self.params["device"])
        std = self.params["standardize"]
        Xtr, Xva = data.X_train, data.X_val
        if std:
            s = Standardizer(Xtr)
            Xtr, Xva = s(Xtr), s(Xva)
        solver = self._solver(Xtr, data.y_train, data.num_classes, device)
        curve, thetas = [], []

        def record(l2, info):
            sv = solver.scores(Xva)
            return {
                "l2": l2,
                "C_sklearn": l2_to_C(l2, data.X_train.shape[0]),
                "val_top1": M.top1(sv, data.y_val),
                "val_metric": M.compute(metric, sv, data.y_val),
                "n_iter": info.n_iter,
                "converged": info.converged,
                "status": info.status,
                "grad_max": info.grad_max,
                "seconds": round(info.seconds, 4),
            }

        for l2 in self.grid():
            curve.append(record(l2, solver.solve(l2)))
            thetas.append(solver.get_theta())
        tight = self.params["tight_tol"]
        if tight is not None:
            for i in near_best([c["val_metric"] for c in curve], 2.0 / len(data.y_val),
                               int(self.params["polish_max"])):
                first = curve[i]
                info = solver.solve(first["l2"], theta0=thetas[i], tol=tight, step_tol=tight)
                curve[i] = {**record(first["l2"], info), "polished": True,
                            "n_iter": first["n_iter"] + info.n_iter,
                            "seconds": round(first["seconds"] + info.seconds, 4)}
                thetas[i] = solver.get_theta()
        best = select_best([c["val_metric"] for c in curve])
        l2 = curve[best]["l2"]
        del solver
        # refit on train+val, warm-started from the train solution at the selected value
        Xall, yall = data.trainval()
        Xte = data.X_test
        theta0 = thetas[best]
        if std:
            s = Standardizer(Xall)
            Xall, Xte = s(Xall), s(Xte)
            theta0 = None  # different feature scaling: start from zero
        refit = self._solver(Xall, yall, data.num_classes, device)
        info = refit.solve(l2, theta0=theta0, tol=tight, step_tol=tight)
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
