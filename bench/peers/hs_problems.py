#!/usr/bin/env python3
"""Equality-constrained test problems shared by optlab's Python peers and fixture generators.

1. The 19 hand-coded Hock-Schittkowski problems of docs reference §0.1
   (HS6 HS7 HS26 HS27 HS28 HS39 HS40 HS42 HS46 HS47 HS48 HS49 HS50 HS51 HS52 HS56 HS77 HS78 HS79):
       min f(x)  s.t.  c(x) = 0,   f, c written as jax.numpy functions (float64).
   Each `HSProblem` carries n, m, x0 (standard HS start), f_star (reference value; closed form
   where one exists) and x_star (closed form where one exists, otherwise the reference point
   polished to machine precision by Newton's method on the KKT system; see X_STAR_NOTE).

2. The Poisson-control problem of §2.5 (AdaSketch-Newton PDE experiment) for grid size N:
       x = (w, z), w, z in R^{N*N}, row-major over (i, j), i, j = 1..N (index (i-1)*N + (j-1)),
       min 0.5 (||w - w_true||^2 + 0.1 ||z||^2)  s.t.  Lap_h w + z = 0,
       (Lap_h w)[i,j] = (w[i-1,j] + w[i+1,j] + w[i,j-1] + w[i,j+1] - 4 w[i,j]) / h^2,
       zero Dirichlet boundary, h = 2 / (N + 1),
       w_true(i,j) = sin(4 + (0.1/sqrt(15)) (i - (N+1)/2)) + cos(3 + (0.1/sqrt(15)) (j - (N+1)/2)),
       x0 = ones(2 N^2), lambda0 = ones(N^2).
   `PoissonControl` gives numpy / scipy.sparse derivatives and the exact KKT solution
   (one sparse KKT solve with scipy.sparse.linalg.spsolve).

Conventions: Lagrangian L(x, lambda) = f(x) + lambda^T c(x); Jacobian J = dc/dx is m x n.

Import with `jax_enable_x64` switched on (done here, before any array is created).
"""

import math
from dataclasses import dataclass, field
from typing import Callable, Tuple

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402

SQRT2 = math.sqrt(2.0)
SQRT3 = math.sqrt(3.0)

X_STAR_NOTE = (
    "x_star is exact (closed form) for every problem except HS77, HS78, HS79, where it is the "
    "rounded §0.1 point polished by Newton's method on the KKT system (float64, ||KKT||_2 < 1e-15)"
)


@dataclass(frozen=True)
class HSProblem:
    name: str
    n: int
    m: int
    f: Callable  # jnp (n,) -> scalar
    c: Callable  # jnp (n,) -> (m,)
    x0: Tuple[float, ...]
    f_star: float
    x_star: Tuple[float, ...]
    x_star_exact: bool = True
    f_star_text: str = ""
    notes: str = field(default="")


def _v(*xs):
    return jnp.stack([jnp.asarray(x, dtype=jnp.float64) for x in xs])


# ----------------------------------------------------------------------------------------
# objectives and constraints, x is 0-based here: x[0] = x1
# ----------------------------------------------------------------------------------------


def _hs6_f(x):
    return (1.0 - x[0]) ** 2


def _hs6_c(x):
    return _v(10.0 * (x[1] - x[0] ** 2))


def _hs7_f(x):
    return jnp.log(1.0 + x[0] ** 2) - x[1]


def _hs7_c(x):
    return _v((1.0 + x[0] ** 2) ** 2 + x[1] ** 2 - 4.0)


def _hs26_f(x):
    return (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 4


def _hs26_c(x):
    return _v((1.0 + x[1] ** 2) * x[0] + x[2] ** 4 - 3.0)


def _hs27_f(x):
    return 0.01 * (x[0] - 1.0) ** 2 + (x[1] - x[0] ** 2) ** 2


def _hs27_c(x):
    return _v(x[0] + x[2] ** 2 + 1.0)


def _hs28_f(x):
    return (x[0] + x[1]) ** 2 + (x[1] + x[2]) ** 2


def _hs28_c(x):
    return _v(x[0] + 2.0 * x[1] + 3.0 * x[2] - 1.0)


def _hs39_f(x):
    return -x[0]


def _hs39_c(x):
    return _v(x[1] - x[0] ** 3 - x[2] ** 2, x[0] ** 2 - x[1] - x[3] ** 2)


def _hs40_f(x):
    return -x[0] * x[1] * x[2] * x[3]


def _hs40_c(x):
    return _v(x[0] ** 3 + x[1] ** 2 - 1.0, x[0] ** 2 * x[3] - x[2], x[3] ** 2 - x[1])


def _hs42_f(x):
    return (x[0] - 1.0) ** 2 + (x[1] - 2.0) ** 2 + (x[2] - 3.0) ** 2 + (x[3] - 4.0) ** 2


def _hs42_c(x):
    return _v(x[0] - 2.0, x[2] ** 2 + x[3] ** 2 - 2.0)


def _hs46_f(x):
    return (x[0] - x[1]) ** 2 + (x[2] - 1.0) ** 2 + (x[3] - 1.0) ** 4 + (x[4] - 1.0) ** 6


def _hs46_c(x):
    return _v(x[0] ** 2 * x[3] + jnp.sin(x[3] - x[4]) - 1.0, x[1] + x[2] ** 4 * x[3] ** 2 - 2.0)


def _hs47_f(x):
    return (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 3 + (x[2] - x[3]) ** 4 + (x[3] - x[4]) ** 4


def _hs47_c(x):
    return _v(x[0] + x[1] ** 2 + x[2] ** 3 - 3.0, x[1] - x[2] ** 2 + x[3] - 1.0, x[0] * x[4] - 1.0)


def _hs48_f(x):
    return (x[0] - 1.0) ** 2 + (x[1] - x[2]) ** 2 + (x[3] - x[4]) ** 2


def _hs48_c(x):
    return _v(jnp.sum(x) - 5.0, x[2] - 2.0 * (x[3] + x[4]) + 3.0)


def _hs49_f(x):
    return (x[0] - x[1]) ** 2 + (x[2] - 1.0) ** 2 + (x[3] - 1.0) ** 4 + (x[4] - 1.0) ** 6


def _hs49_c(x):
    return _v(x[0] + x[1] + x[2] + 4.0 * x[3] - 7.0, x[2] + 5.0 * x[4] - 6.0)


def _hs50_f(x):
    return (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 2 + (x[2] - x[3]) ** 4 + (x[3] - x[4]) ** 2


def _hs50_c(x):
    return _v(
        x[0] + 2.0 * x[1] + 3.0 * x[2] - 6.0,
        x[1] + 2.0 * x[2] + 3.0 * x[3] - 6.0,
        x[2] + 2.0 * x[3] + 3.0 * x[4] - 6.0,
    )


def _hs51_f(x):
    return (x[0] - x[1]) ** 2 + (x[1] + x[2] - 2.0) ** 2 + (x[3] - 1.0) ** 2 + (x[4] - 1.0) ** 2


def _hs51_c(x):
    return _v(x[0] + 3.0 * x[1] - 4.0, x[2] + x[3] - 2.0 * x[4], x[1] - x[4])


def _hs52_f(x):
    return (4.0 * x[0] - x[1]) ** 2 + (x[1] + x[2] - 2.0) ** 2 + (x[3] - 1.0) ** 2 + (x[4] - 1.0) ** 2


def _hs52_c(x):
    return _v(x[0] + 3.0 * x[1], x[2] + x[3] - 2.0 * x[4], x[1] - x[4])


def _hs56_f(x):
    return -x[0] * x[1] * x[2]


def _hs56_c(x):
    s = jnp.sin(x[3:7]) ** 2
    return _v(
        x[0] - 4.2 * s[0],
        x[1] - 4.2 * s[1],
        x[2] - 4.2 * s[2],
        x[0] + 2.0 * x[1] + 2.0 * x[2] - 7.2 * s[3],
    )


def _hs77_f(x):
    return (
        (x[0] - 1.0) ** 2 + (x[0] - x[1]) ** 2 + (x[2] - 1.0) ** 2 + (x[3] - 1.0) ** 4 + (x[4] - 1.0) ** 6
    )


def _hs77_c(x):
    return _v(
        x[0] ** 2 * x[3] + jnp.sin(x[3] - x[4]) - 2.0 * SQRT2,
        x[1] + x[2] ** 4 * x[3] ** 2 - 8.0 - SQRT2,
    )


def _hs78_f(x):
    return x[0] * x[1] * x[2] * x[3] * x[4]


def _hs78_c(x):
    return _v(
        jnp.sum(x**2) - 10.0,
        x[1] * x[2] - 5.0 * x[3] * x[4],
        x[0] ** 3 + x[1] ** 3 + 1.0,
    )


def _hs79_f(x):
    return (
        (x[0] - 1.0) ** 2 + (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 2 + (x[2] - x[3]) ** 4 + (x[3] - x[4]) ** 4
    )


def _hs79_c(x):
    return _v(
        x[0] + x[1] ** 2 + x[2] ** 3 - 2.0 - 3.0 * SQRT2,
        x[1] - x[2] ** 2 + x[3] + 2.0 - 2.0 * SQRT2,
        x[0] * x[4] - 2.0,
    )


_A56 = math.asin(math.sqrt(1.0 / 4.2))
_B56 = math.asin(math.sqrt(5.0 / 7.2))

# x_star of HS77/78/79: §0.1's rounded points polished by Newton on the KKT system
# (float64; see polish_kkt below and X_STAR_NOTE). Regenerate with
#   bench/peers/.venv/bin/python bench/peers/hs_problems.py --polish
_X77 = (1.1661721897092985, 1.1821113888027044, 1.3802570431454597, 1.5060362736230457, 0.6109201960430908)
_X78 = (-1.7171435703943823, 1.5957096901835544, 1.8272457529271946, -0.7636430781841304, -0.7636430781841302)
_X79 = (1.1911274563110514, 1.3626031649617423, 1.4728179315120877, 1.6350166191679931, 1.6790814361664075)

PROBLEMS = [
    HSProblem("HS6", 2, 1, _hs6_f, _hs6_c, (-1.2, 1.0), 0.0, (1.0, 1.0), f_star_text="0"),
    HSProblem("HS7", 2, 1, _hs7_f, _hs7_c, (2.0, 2.0), -SQRT3, (0.0, SQRT3), f_star_text="-sqrt(3)"),
    HSProblem("HS26", 3, 1, _hs26_f, _hs26_c, (-2.6, 2.0, 2.0), 0.0, (1.0, 1.0, 1.0), f_star_text="0"),
    HSProblem("HS27", 3, 1, _hs27_f, _hs27_c, (2.0, 2.0, 2.0), 0.04, (-1.0, 1.0, 0.0), f_star_text="0.04"),
    HSProblem("HS28", 3, 1, _hs28_f, _hs28_c, (-4.0, 1.0, 1.0), 0.0, (0.5, -0.5, 0.5), f_star_text="0"),
    HSProblem("HS39", 4, 2, _hs39_f, _hs39_c, (2.0,) * 4, -1.0, (1.0, 1.0, 0.0, 0.0), f_star_text="-1"),
    HSProblem(
        "HS40", 4, 3, _hs40_f, _hs40_c, (0.8,) * 4, -0.25,
        (2.0 ** (-1.0 / 3.0), 2.0 ** (-0.5), 2.0 ** (-11.0 / 12.0), 2.0 ** (-0.25)),
        f_star_text="-0.25",
    ),
    HSProblem(
        "HS42", 4, 2, _hs42_f, _hs42_c, (1.0,) * 4, 28.0 - 10.0 * SQRT2,
        (2.0, 2.0, 0.6 * SQRT2, 0.8 * SQRT2), f_star_text="28 - 10 sqrt(2)",
    ),
    HSProblem(
        "HS46", 5, 2, _hs46_f, _hs46_c, (SQRT2 / 2.0, 1.75, 0.5, 2.0, 2.0), 0.0, (1.0,) * 5, f_star_text="0"
    ),
    HSProblem(
        "HS47", 5, 3, _hs47_f, _hs47_c, (2.0, SQRT2, -1.0, 2.0 - SQRT2, 0.5), 0.0, (1.0,) * 5, f_star_text="0"
    ),
    HSProblem("HS48", 5, 2, _hs48_f, _hs48_c, (3.0, 5.0, -3.0, 2.0, -2.0), 0.0, (1.0,) * 5, f_star_text="0"),
    HSProblem("HS49", 5, 2, _hs49_f, _hs49_c, (10.0, 7.0, 2.0, -3.0, 0.8), 0.0, (1.0,) * 5, f_star_text="0"),
    HSProblem("HS50", 5, 3, _hs50_f, _hs50_c, (35.0, -31.0, 11.0, 5.0, -5.0), 0.0, (1.0,) * 5, f_star_text="0"),
    HSProblem("HS51", 5, 3, _hs51_f, _hs51_c, (2.5, 0.5, 2.0, -1.0, 0.5), 0.0, (1.0,) * 5, f_star_text="0"),
    HSProblem(
        "HS52", 5, 3, _hs52_f, _hs52_c, (2.0,) * 5, 1859.0 / 349.0,
        (-33.0 / 349.0, 11.0 / 349.0, 180.0 / 349.0, -158.0 / 349.0, 11.0 / 349.0),
        f_star_text="1859/349",
    ),
    HSProblem(
        "HS56", 7, 4, _hs56_f, _hs56_c, (1.0, 1.0, 1.0, _A56, _A56, _A56, _B56), -3.456,
        (2.4, 1.2, 1.2, math.asin(math.sqrt(4.0 / 7.0)), math.asin(math.sqrt(2.0 / 7.0)),
         math.asin(math.sqrt(2.0 / 7.0)), math.pi / 2.0),
        f_star_text="-3.456",
        notes="x4..x7 are angles: x* is one of infinitely many equivalent points (sin^2 is periodic/even)",
    ),
    HSProblem("HS77", 5, 2, _hs77_f, _hs77_c, (2.0,) * 5, 0.24150513, _X77, x_star_exact=False,
              f_star_text="0.24150513"),
    HSProblem("HS78", 5, 3, _hs78_f, _hs78_c, (-2.0, 1.5, 2.0, -1.0, -1.0), -2.91970041, _X78,
              x_star_exact=False, f_star_text="-2.91970041"),
    HSProblem("HS79", 5, 3, _hs79_f, _hs79_c, (2.0,) * 5, 0.0787768209, _X79, x_star_exact=False,
              f_star_text="0.0787768209"),
]

BY_NAME = {p.name: p for p in PROBLEMS}
NAMES = [p.name for p in PROBLEMS]


# ----------------------------------------------------------------------------------------
# jax derivatives (float64, jitted); all take and return numpy-compatible arrays
# ----------------------------------------------------------------------------------------


class JaxDerivs:
    """Jitted f, grad f, c, J, Hessian of the Lagrangian and Hessian of f for one HSProblem.

    The jitted functions return jax arrays; wrap with np.asarray when numpy is needed.
    """

    def __init__(self, prob: HSProblem):
        self.prob = prob
        f, c = prob.f, prob.c

        def lag(x, lam):
            return f(x) + jnp.dot(lam, c(x))

        def lag_c(x, lam):  # sum_i lam_i c_i(x): for constraint Hessians
            return jnp.dot(lam, c(x))

        self.f = jax.jit(f)
        self.grad = jax.jit(jax.grad(f))
        self.c = jax.jit(c)
        self.jac = jax.jit(jax.jacfwd(c))
        self.hess_f = jax.jit(jax.hessian(f))
        self.hess_lag = jax.jit(jax.hessian(lag, argnums=0))
        self.hess_c = jax.jit(jax.hessian(lag_c, argnums=0))
        # scaled Lagrangian Hessian as Ipopt wants it: sigma * H_f + sum lam_i H_ci
        self.hess_ipopt = jax.jit(
            lambda x, lam, sigma: sigma * jax.hessian(f)(x) + jax.hessian(lag_c, argnums=0)(x, lam)
        )

    def aug_lag(self, eta1, eta2):
        """jitted L_eta(x, lam) and its gradient w.r.t. (x, lam) (autodiff of L_eta itself)."""
        f, c = self.prob.f, self.prob.c

        def L_eta(x, lam):
            gl = jax.grad(f)(x) + jax.jacfwd(c)(x).T @ lam
            cx = c(x)
            return f(x) + jnp.dot(lam, cx) + 0.5 * eta1 * jnp.dot(cx, cx) + 0.5 * eta2 * jnp.dot(gl, gl)

        return jax.jit(L_eta), jax.jit(jax.grad(L_eta, argnums=(0, 1)))


def lsq_multipliers(g, J):
    """lambda minimizing ||g + J^T lambda||_2 (dense least squares)."""
    J = np.atleast_2d(np.asarray(J, dtype=np.float64))
    lam, *_ = np.linalg.lstsq(J.T, -np.asarray(g, dtype=np.float64), rcond=None)
    return lam


def kkt_residual(g, J, c, lam):
    """||(g + J^T lam, c)||_2 (J dense or scipy.sparse)."""
    r = np.asarray(g) + J.T @ np.asarray(lam)
    return float(math.sqrt(float(np.dot(r, r)) + float(np.dot(c, c))))


def polish_kkt(d: JaxDerivs, x, lam=None, iters=8):
    """Newton's method on the KKT system [H J^T; J 0] [dx; dl] = -[grad L; c] (no globalization).

    For polishing an already-accurate point to machine precision. Returns (x, lam, kkt)."""
    x = np.array(x, dtype=np.float64)
    if lam is None:
        lam = lsq_multipliers(np.asarray(d.grad(x)), np.asarray(d.jac(x)))
    lam = np.array(lam, dtype=np.float64)
    n, m = x.size, lam.size
    for _ in range(iters):
        g, J, c = np.asarray(d.grad(x)), np.asarray(d.jac(x)), np.asarray(d.c(x))
        if kkt_residual(g, J, c, lam) == 0.0:
            break
        H = np.asarray(d.hess_lag(x, lam))
        K = np.block([[H, J.T], [J, np.zeros((m, m))]])
        rhs = -np.concatenate([g + J.T @ lam, c])
        step = np.linalg.lstsq(K, rhs, rcond=None)[0]  # lstsq: K is singular at degenerate x* (HS26)
        x, lam = x + step[:n], lam + step[n:]
    g, J, c = np.asarray(d.grad(x)), np.asarray(d.jac(x)), np.asarray(d.c(x))
    return x, lam, kkt_residual(g, J, c, lam)


# ----------------------------------------------------------------------------------------
# Poisson control (§2.5)
# ----------------------------------------------------------------------------------------


def laplacian_2d(N):
    """5-point Laplacian on the N x N interior grid, zero Dirichlet boundary, divided by h^2,
    h = 2/(N+1); row-major ordering (i-1)*N + (j-1). Returns (scipy.sparse.csr_matrix, h)."""
    h = 2.0 / (N + 1)
    e = np.ones(N)
    T = sp.diags([e[:-1], -2.0 * e, e[:-1]], [-1, 0, 1], shape=(N, N))
    I = sp.identity(N)
    A = (sp.kron(T, I) + sp.kron(I, T)) / h**2
    return sp.csr_matrix(A), h


def w_true(N):
    i = np.arange(1, N + 1, dtype=np.float64)[:, None]
    j = np.arange(1, N + 1, dtype=np.float64)[None, :]
    s = 0.1 / math.sqrt(15.0)
    W = np.sin(4.0 + s * (i - (N + 1) / 2.0)) + np.cos(3.0 + s * (j - (N + 1) / 2.0))
    return W.reshape(-1)  # row-major over (i, j)


class PoissonControl:
    """min 0.5 (||w - w_true||^2 + 0.1 ||z||^2)  s.t.  Lap_h w + z = 0;  x = (w, z).

    f(x) = 0.5 x^T H x + q^T x + const with H = diag(1 (N^2 times), 0.1 (N^2 times)),
    q = (-w_true, 0); c(x) = J x with J = [Lap_h, I] (constant, sparse). Lagrangian Hessian = H.
    """

    ALPHA = 0.1

    def __init__(self, N):
        self.N = N
        self.nw = N * N
        self.n = 2 * self.nw
        self.m = self.nw
        self.A, self.h = laplacian_2d(N)
        self.wt = w_true(N)
        self.J = sp.csr_matrix(sp.hstack([self.A, sp.identity(self.nw)]))
        self.hdiag = np.concatenate([np.ones(self.nw), np.full(self.nw, self.ALPHA)])
        self.H = sp.diags(self.hdiag).tocsr()
        self.x0 = np.ones(self.n)
        self.lam0 = np.ones(self.m)
        self.name = f"Poisson{N}"

    def f(self, x):
        w, z = x[: self.nw], x[self.nw:]
        dw = w - self.wt
        return 0.5 * (float(dw @ dw) + self.ALPHA * float(z @ z))

    def grad(self, x):
        w, z = x[: self.nw], x[self.nw:]
        return np.concatenate([w - self.wt, self.ALPHA * z])

    def c(self, x):
        return self.J @ x

    def jac(self, x=None):
        return self.J

    def hess_lag(self, x=None, lam=None):
        return self.H

    # jax versions (for autodiff cross-checks): stencil form of Lap_h, no sparse matrices
    def f_jax(self, x):
        w, z = x[: self.nw], x[self.nw:]
        return 0.5 * (jnp.sum((w - self.wt) ** 2) + self.ALPHA * jnp.sum(z**2))

    def c_jax(self, x):
        N = self.N
        W = jnp.pad(x[: self.nw].reshape(N, N), 1)
        lap = (W[:-2, 1:-1] + W[2:, 1:-1] + W[1:-1, :-2] + W[1:-1, 2:] - 4.0 * W[1:-1, 1:-1]) / self.h**2
        return lap.reshape(-1) + x[self.nw:]

    def kkt_matrix(self):
        m = self.m
        return sp.bmat([[self.H, self.J.T], [self.J, sp.csr_matrix((m, m))]], format="csc")

    def kkt_solution(self):
        """Exact solution (x*, lambda*) of the (linear) KKT system via spsolve, and f*."""
        rhs = np.concatenate([np.concatenate([self.wt, np.zeros(self.nw)]), np.zeros(self.m)])
        sol = spla.spsolve(self.kkt_matrix(), rhs)
        x, lam = sol[: self.n], sol[self.n:]
        return x, lam, self.f(x)


def _polish_main():
    """Print polished x_star for the problems whose x_star is not in closed form."""
    for p in PROBLEMS:
        d = JaxDerivs(p)
        x, lam, kkt = polish_kkt(d, p.x_star)
        print(p.name, "x* =", tuple(float(v) for v in x), f"kkt={kkt:.2e}",
              f"f={float(d.f(x))!r} f*={p.f_star!r} dx={np.max(np.abs(x - np.array(p.x_star))):.2e}")


if __name__ == "__main__":
    import sys

    if "--polish" in sys.argv:
        _polish_main()
    else:
        for p in PROBLEMS:
            d = JaxDerivs(p)
            print(f"{p.name:5s} n={p.n} m={p.m} f(x0)={float(d.f(np.array(p.x0))):.6g} "
                  f"f(x*)={float(d.f(np.array(p.x_star)))!r} f*={p.f_star!r}")
