#!/usr/bin/env python3
"""Peer benchmark: equality-constrained NLP with Ipopt (cyipopt) and scipy SLSQP / trust-constr.

Problems (bench/peers/hs_problems.py):
  - the 19 Hock-Schittkowski problems of the docs reference §0.1, from the standard x0;
    derivatives by jax (jit, float64): f, grad f, c, J, and exact Hessians;
  - Poisson control (§2.5), N in {3, 8, 16, 32} (n = 2N^2, m = N^2), x0 = ones, explicit
    numpy / scipy.sparse derivatives (linear-quadratic: J = [Lap_h, I], Hessian = diag).
Solvers:
  - Ipopt (cyipopt-wheels; exact Hessian of the Lagrangian, tol=1e-8, print_level 0, sb yes;
    dense lower-triangular Hessian / dense Jacobian structure for HS, sparse for Poisson);
  - scipy SLSQP (ftol 1e-12, maxiter 1000; HS and Poisson N <= 8 only: it is dense);
  - scipy trust-constr (gtol 1e-8, xtol 1e-12, maxiter 5000; exact Hessians, sparse J for Poisson).
Per (solver, problem) row: success (solver success AND our KKT residual <= 1e-6), iterations,
nfev/njev/nhev (our callback counters), f, |f - f*|, kkt = ||(grad f + J^T lambda, c)||_2 at the
returned x with the solver's multipliers (sign-adjusted to L = f + lambda^T c), kkt_lsq (same with
least-squares multipliers), cviol = ||c||_inf, wall_s (median of --repeats timed runs after one
warm-up run, so jax jit compilation is excluded) and callback_s (time inside our Python callbacks
during that median run; wall_s - callback_s is the solver's own time).

  bench/peers/.venv/bin/python bench/peers/constrained_peers.py [--out PATH] [--quick] [--repeats 3]

--quick runs only the HS set.
"""

import os

# Single-threaded BLAS / XLA: must be set before numpy (and jax) are imported.
THREAD_ENV = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
os.environ.update(THREAD_ENV)
XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
os.environ["XLA_FLAGS"] = XLA_FLAGS

import argparse  # noqa: E402

from peerio import write_json  # noqa: E402
import importlib.metadata as md  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import cyipopt  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402
from scipy.optimize import NonlinearConstraint, minimize  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hs_problems as H  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_OUT = os.path.join(REPO, "bench", "out", "peers", "constrained.json")
POISSON_NS = (4, 8, 16, 24, 32)  # the grids of `optlab bench --only constrained`
SLSQP_MAX_POISSON_N = 8
KKT_TOL = 1e-6

IPOPT_OPTIONS = {"tol": 1e-8, "print_level": 0, "sb": "yes", "hessian_approximation": "exact"}
SLSQP_OPTIONS = {"ftol": 1e-12, "maxiter": 1000}
TRUST_CONSTR_OPTIONS = {"gtol": 1e-8, "xtol": 1e-12, "maxiter": 5000}


# ----------------------------------------------------------------------------------------
# oracles with call counters and callback timers
# ----------------------------------------------------------------------------------------


class Oracle:
    """Numpy-facing derivatives of one problem + counters/timer. Subclasses fill the _raw_* fns."""

    KEYS = ("f", "grad", "c", "jac", "hess", "intermediate")

    def __init__(self):
        self.reset()

    def reset(self):
        self.counts = {k: 0 for k in self.KEYS}
        self.cb_time = 0.0

    def _timed(self, key, fn, *args):
        t0 = time.perf_counter()
        out = fn(*args)
        self.cb_time += time.perf_counter() - t0
        self.counts[key] += 1
        return out

    # public, counted + timed
    def f(self, x):
        return self._timed("f", self._f, x)

    def grad(self, x):
        return self._timed("grad", self._grad, x)

    def c(self, x):
        return self._timed("c", self._c, x)

    def jac(self, x):
        return self._timed("jac", self._jac, x)

    def jac_dense(self, x):
        return self._timed("jac", lambda y: _dense(self._jac(y)), x)

    def hess_f(self, x):  # trust-constr objective Hessian
        return self._timed("hess", self._hess_f, x)

    def hess_c(self, x, v):  # trust-constr constraint Hessian sum v_i Hess c_i (not counted as a hess eval)
        t0 = time.perf_counter()
        out = self._hess_c(x, v)
        self.cb_time += time.perf_counter() - t0
        return out

    def ipopt_jac_values(self, x):
        return self._timed("jac", self._ipopt_jac_values, x)

    def ipopt_hess_values(self, x, lam, sigma):
        return self._timed("hess", self._ipopt_hess_values, x, lam, sigma)

    # uncounted evaluation for the final KKT check
    def kkt(self, x, lam):
        g, J, c = self._grad(x), self._jac(x), self._c(x)
        if lam is None:
            lam = self.lsq_multipliers(g, J)
        return H.kkt_residual(g, J, c, lam), float(np.abs(c).max()), lam

    @staticmethod
    def lsq_multipliers(g, J):
        if sp.issparse(J):  # J has full row rank here (Poisson: J = [A, I])
            return spla.spsolve(sp.csc_matrix(J @ J.T), -(J @ g))
        return H.lsq_multipliers(g, J)


def _dense(J):
    return J.toarray() if sp.issparse(J) else np.asarray(J)


def d_f(prob):
    return H.JaxDerivs(prob).f(np.array(prob.x_star, dtype=np.float64))


class HSOracle(Oracle):
    def __init__(self, prob):
        self.prob = prob
        self.name, self.n, self.m = prob.name, prob.n, prob.m
        self.x0 = np.array(prob.x0, dtype=np.float64)
        # f* for |f - f*|: §0.1's value where it is exact; for HS77/78/79 (given to 8-9 digits in
        # §0.1) f at the Newton-polished x_star of hs_problems.py
        self.f_star = float(prob.f_star) if prob.x_star_exact else float(d_f(prob))
        self.f_star_source = "§0.1 (exact)" if prob.x_star_exact else "f(x_star polished), §0.1 value rounded"
        self.d = d = H.JaxDerivs(prob)
        self._hrows, self._hcols = np.tril_indices(self.n)
        self._f = lambda x: float(d.f(x))
        self._grad = lambda x: np.asarray(d.grad(x))
        self._c = lambda x: np.asarray(d.c(x))
        self._jac = lambda x: np.asarray(d.jac(x))
        self._hess_f = lambda x: np.asarray(d.hess_f(x))
        self._hess_c = lambda x, v: np.asarray(d.hess_c(x, np.asarray(v, dtype=np.float64)))
        self._ipopt_jac_values = lambda x: np.asarray(d.jac(x)).reshape(-1)
        self._ipopt_hess_values = lambda x, lam, s: np.asarray(d.hess_ipopt(x, lam, s))[self._hrows, self._hcols]
        super().__init__()

    def jac_structure(self):
        r, c = np.indices((self.m, self.n))
        return r.reshape(-1), c.reshape(-1)

    def hess_structure(self):
        return self._hrows, self._hcols


class PoissonOracle(Oracle):
    def __init__(self, N):
        P = self.P = H.PoissonControl(N)
        self.name, self.n, self.m = P.name, P.n, P.m
        self.x0 = P.x0.copy()
        self.x_kkt, self.lam_kkt, self.f_star = P.kkt_solution()
        Jc = P.J.tocoo()
        self._jr, self._jc, self._jv = Jc.row, Jc.col, Jc.data.copy()
        self._hidx = np.arange(self.n)
        self._zero_nn = sp.csr_matrix((self.n, self.n))
        self._f = P.f
        self._grad = P.grad
        self._c = P.c
        self._jac = lambda x: P.J
        self._hess_f = lambda x: P.H
        self._hess_c = lambda x, v: self._zero_nn
        self._ipopt_jac_values = lambda x: self._jv
        self._ipopt_hess_values = lambda x, lam, s: s * P.hdiag
        super().__init__()

    def jac_structure(self):
        return self._jr, self._jc

    def hess_structure(self):
        return self._hidx, self._hidx


# ----------------------------------------------------------------------------------------
# solvers: each returns dict(x, lam (ours: L = f + lam^T c) or None, nit, solver_success, status, message)
# ----------------------------------------------------------------------------------------


class _IpoptNlp:
    def __init__(self, o):
        self.o = o
        self.nit = 0

    def objective(self, x):
        return self.o.f(x)

    def gradient(self, x):
        return self.o.grad(x)

    def constraints(self, x):
        return self.o.c(x)

    def jacobianstructure(self):
        return self.o.jac_structure()

    def jacobian(self, x):
        return self.o.ipopt_jac_values(x)

    def hessianstructure(self):
        return self.o.hess_structure()

    def hessian(self, x, lam, sigma):
        return self.o.ipopt_hess_values(x, lam, sigma)

    def intermediate(self, alg_mod, iter_count, *rest):
        t0 = time.perf_counter()
        self.nit = iter_count
        self.o.cb_time += time.perf_counter() - t0
        self.o.counts["intermediate"] += 1


def run_ipopt(o):
    nlp_obj = _IpoptNlp(o)
    nlp = cyipopt.Problem(n=o.n, m=o.m, problem_obj=nlp_obj, cl=np.zeros(o.m), cu=np.zeros(o.m))
    for k, v in IPOPT_OPTIONS.items():
        nlp.add_option(k, v)
    x, info = nlp.solve(o.x0.copy())
    return {
        "x": np.asarray(x),
        "lam": np.asarray(info["mult_g"]),  # Ipopt's Lagrangian is f + g^T lambda: same sign as ours
        "nit": int(nlp_obj.nit),
        "solver_success": info["status"] == 0,
        "status": int(info["status"]),
        "message": info["status_msg"].decode() if isinstance(info["status_msg"], bytes) else str(info["status_msg"]),
    }


def run_slsqp(o):
    res = minimize(
        o.f, o.x0.copy(), jac=o.grad, method="SLSQP",
        constraints=[{"type": "eq", "fun": o.c, "jac": o.jac_dense}], options=dict(SLSQP_OPTIONS),
    )
    mult = getattr(res, "multipliers", None)
    lam = None
    if isinstance(mult, dict) and mult.get("eq") is not None and len(mult["eq"]) == o.m:
        lam = -np.asarray(mult["eq"])  # SLSQP reports mu with grad f = J^T mu: lambda = -mu
    return {"x": res.x, "lam": lam, "nit": int(res.nit), "solver_success": bool(res.success),
            "status": int(res.status), "message": str(res.message)}


def run_trust_constr(o):
    con = NonlinearConstraint(o.c, 0.0, 0.0, jac=o.jac, hess=o.hess_c)
    res = minimize(o.f, o.x0.copy(), jac=o.grad, hess=o.hess_f, method="trust-constr",
                   constraints=[con], options=dict(TRUST_CONSTR_OPTIONS))
    lam = np.asarray(res.v[0]) if len(res.v) == 1 else None  # v: same sign as ours (grad f + J^T v = 0)
    # status 1: gtol satisfied, 2: xtol satisfied (scipy reports success for both)
    return {"x": res.x, "lam": lam, "nit": int(res.nit), "solver_success": bool(res.success),
            "status": int(res.status), "message": str(res.message), "method_used": res.method}


SOLVERS = {"ipopt": run_ipopt, "slsqp": run_slsqp, "trust-constr": run_trust_constr}


def bench(o, solver, repeats):
    run = SOLVERS[solver]
    o.reset()
    run(o)  # warm-up: jit compilation, caches
    runs = []
    for _ in range(repeats):
        o.reset()
        t0 = time.perf_counter()
        out = run(o)
        wall = time.perf_counter() - t0
        runs.append((wall, o.cb_time, dict(o.counts), out))
    walls = [r[0] for r in runs]
    med = sorted(range(repeats), key=lambda i: walls[i])[repeats // 2]
    wall, cb, counts, out = runs[med]
    x = np.asarray(out["x"], dtype=np.float64)
    lam_solver = out["lam"]
    kkt_lsq, cviol, lam_lsq = o.kkt(x, None)
    if lam_solver is not None:
        kkt, _, _ = o.kkt(x, lam_solver)
        mult_src = "solver"
    else:
        kkt, mult_src = kkt_lsq, "least-squares"
    f = o._f(x)
    row = {
        "solver": solver,
        "problem": o.name,
        "n": o.n,
        "m": o.m,
        "success": bool(out["solver_success"] and kkt <= KKT_TOL),
        "solver_success": bool(out["solver_success"]),
        "status": out["status"],
        "message": out["message"],
        "iterations": out["nit"],
        "nfev": counts["f"],
        "ngev": counts["grad"],
        "ncev": counts["c"],
        "njev": counts["jac"],
        "nhev": counts["hess"] if solver != "slsqp" else None,
        "f": f,
        "f_star": o.f_star,
        "abs_f_minus_f_star": abs(f - o.f_star),
        "kkt": kkt,
        "kkt_multipliers": mult_src,
        "kkt_lsq": kkt_lsq,
        "cviol": cviol,
        "wall_s": wall,
        "callback_s": cb,
        "times_s": walls,
    }
    if "method_used" in out:
        row["method_used"] = out["method_used"]
    if isinstance(o, PoissonOracle):
        row["x_err_vs_kkt_solve"] = float(np.abs(x - o.x_kkt).max())
        if lam_solver is not None:
            row["lambda_err_vs_kkt_solve"] = float(np.abs(np.asarray(lam_solver) - o.lam_kkt).max())
    else:
        row["x_err_vs_x_star_ref"] = float(np.abs(x - np.array(o.prob.x_star)).max())
    return row


def fmt(row):
    return (
        f"{row['solver']:12s} {row['problem']:9s} ok={str(row['success']):5s} it={row['iterations']:5d} "
        f"nfev={row['nfev']:5d} njev={row['njev']:5d} |f-f*|={row['abs_f_minus_f_star']:.1e} "
        f"kkt={row['kkt']:.1e} cviol={row['cviol']:.1e} wall={row['wall_s'] * 1e3:8.2f} ms "
        f"cb={row['callback_s'] * 1e3:8.2f} ms  [{row['status']}: {row['message'][:50]}]"
    )


def main():
    ap = argparse.ArgumentParser(description="Ipopt / SLSQP / trust-constr peers on HS + Poisson control")
    ap.add_argument("--out", default=DEFAULT_OUT, help="benchmark JSON (default bench/out/peers/constrained.json)")
    ap.add_argument("--quick", action="store_true", help="only the 19 HS problems (skip Poisson control)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    load_start = list(os.getloadavg())

    rows = []
    problems = []
    for p in H.PROBLEMS:
        o = HSOracle(p)
        problems.append({"name": p.name, "n": p.n, "m": p.m, "f_star": o.f_star, "f_star_ref_doc": p.f_star,
                         "f_star_source": o.f_star_source, "kind": "hs"})
        for s in ("ipopt", "slsqp", "trust-constr"):
            r = bench(o, s, args.repeats)
            rows.append(r)
            print(fmt(r), flush=True)
    if not args.quick:
        for N in POISSON_NS:
            o = PoissonOracle(N)
            problems.append({"name": o.name, "N": N, "n": o.n, "m": o.m, "f_star": o.f_star, "kind": "poisson",
                             "f_star_method": "one sparse KKT solve (scipy.sparse.linalg.spsolve)"})
            solvers = ["ipopt", "trust-constr"] + (["slsqp"] if N <= SLSQP_MAX_POISSON_N else [])
            for s in solvers:
                r = bench(o, s, args.repeats)
                rows.append(r)
                print(fmt(r) + f"  |x-x_kkt|={r['x_err_vs_kkt_solve']:.1e}", flush=True)

    doc = {
        "benchmark": "constrained_peers",
        "peers": ["ipopt (cyipopt)", "scipy SLSQP", "scipy trust-constr"],
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "jax": jax.__version__,
            "jaxlib": md.version("jaxlib"),
            "cyipopt": cyipopt.__version__,
            "cyipopt-wheels": md.version("cyipopt-wheels"),
            "ipopt": ".".join(str(v) for v in cyipopt.IPOPT_VERSION),
        },
        "threads": dict({k: os.environ.get(k) for k in THREAD_ENV}, XLA_FLAGS=XLA_FLAGS),
        "cpu": {"machine": platform.machine(), "os_cpu_count": os.cpu_count(),
                "affinity_cpus": len(os.sched_getaffinity(0))},
        "loadavg_at_start": load_start,
        "loadavg_at_end": list(os.getloadavg()),
        "quick": bool(args.quick),
        "options": {"ipopt": IPOPT_OPTIONS, "slsqp": SLSQP_OPTIONS, "trust-constr": TRUST_CONSTR_OPTIONS,
                    "kkt_tol": KKT_TOL, "poisson_N": list(POISSON_NS) if not args.quick else [],
                    "slsqp_max_poisson_N": SLSQP_MAX_POISSON_N},
        "timing": {"clock": "time.perf_counter", "warmup_runs": 1, "repeats": args.repeats, "statistic": "median",
                   "scope": "whole solve call incl. problem setup (cyipopt.Problem / NonlinearConstraint)"},
        "notes": {
            "success": f"solver reported success AND kkt <= {KKT_TOL:g}",
            "kkt": "||(grad f + J^T lambda, c)||_2 at the returned x; lambda = the solver's multipliers "
            "(Ipopt mult_g; trust-constr v; SLSQP -multipliers['eq']) where available (kkt_multipliers says "
            "which), kkt_lsq uses least-squares multipliers",
            "counts": "nfev/ngev/ncev/njev/nhev = calls of our objective / gradient / constraint / Jacobian / "
            "Hessian callbacks in the median run (trust-constr: nhev counts objective-Hessian calls; its "
            "constraint-Hessian calls are not counted). Ipopt iterations from its intermediate callback",
            "callback_s": "time inside our Python callbacks (jax dispatch + numpy conversion for HS) in the "
            "median run; wall_s - callback_s = solver time",
            "derivatives": "HS: jax.jit float64 (grad, jacfwd, hessian); Poisson: explicit numpy/scipy.sparse",
            "poisson": "x_err_vs_kkt_solve = max |x - x*| with x* from one sparse KKT solve",
        },
        "problems": problems,
        "rows": rows,
    }
    out = write_json(args.out, doc)
    n_ok = sum(r["success"] for r in rows)
    print(f"wrote {out}: {n_ok}/{len(rows)} rows successful")
    bad = [(r["solver"], r["problem"]) for r in rows if not r["success"]]
    if bad:
        print("not successful:", bad)
    assert math.isfinite(sum(r["wall_s"] for r in rows))


if __name__ == "__main__":
    main()
