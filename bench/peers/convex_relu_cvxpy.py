#!/usr/bin/env python3
"""Peer benchmark: the convex two-layer ReLU program (docs reference §3) with cvxpy.

Reads the problems optlab exports (`--data`, default bench/out/convex_relu/data):
    manifest.json   {"problems": [{"name": ..., "file": "<name>.json"}, ...]}
    <name>.json     {"X": n rows of d, "y": [n], "Dmask": n rows of P (0/1), "beta": float}
(other keys are ignored) and solves, squared loss, sum convention, D_i = diag(Dmask[:, i]):

    minimise  0.5 || sum_i D_i X (v_i - w_i) - y ||_2^2 + beta sum_i (||v_i||_2 + ||w_i||_2)
    s.t.      (2 D_i - I) X v_i >= 0,  (2 D_i - I) X w_i >= 0,   i = 1..P

with cvxpy + CLARABEL, SCS and ECOS (each only if installed), all at their DEFAULT tolerances,
one thread (OMP/OPENBLAS/MKL_NUM_THREADS=1 set before numpy is imported). The cvxpy model is
vectorised: V, W are P x d variables, predictions sum(Dmask .* (X (V - W)^T), axis 1), the cone
constraints Dsign .* (X V^T) >= 0 with Dsign = 2 Dmask - 1, the penalty sum of row norms.

Per (problem, solver) row: status, objective (cvxpy's optimal value), objective_numpy (the CP
objective recomputed in numpy at the returned V, W), min_cone_slack (min of (2 D_i - I) X v_i /
w_i; negative = infeasible by that much), iterations, and the timings of the median repeat:
  build_s        constructing the cvxpy Problem (variables, expressions, constraints);
  solve_s        the whole prob.solve() call, which is
  compile_s      cvxpy's canonicalisation to conic form (prob.compilation_time) +
  solver_s       the solver's own reported time (solver_stats.solve_time; setup_s if reported) +
                 the remaining cvxpy overhead (data conversion, unpacking the solution).
Every repeat builds a fresh Problem (no cvxpy cache reuse). Writes `--out` (default
bench/out/peers/convex_relu.json) atomically (peerio.write_json).

  bench/peers/.venv/bin/python bench/peers/convex_relu_cvxpy.py [--data DIR] [--out PATH]
      [--solvers CLARABEL,SCS,ECOS] [--repeats 1]
"""

import os

# Single-threaded BLAS: must be set before numpy is imported.
THREAD_ENV = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
os.environ.update(THREAD_ENV)

import argparse  # noqa: E402
import importlib.metadata as md  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from peerio import write_json  # noqa: E402

import cvxpy as cp  # noqa: E402
import numpy as np  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_DATA = os.path.join(REPO, "bench", "out", "convex_relu", "data")
DEFAULT_OUT = os.path.join(REPO, "bench", "out", "peers", "convex_relu.json")
DEFAULT_SOLVERS = ("CLARABEL", "SCS", "ECOS")


def version(dist):
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def load_problem(path):
    with open(path) as fh:
        doc = json.load(fh)
    X = np.asarray(doc["X"], dtype=np.float64)
    y = np.asarray(doc["y"], dtype=np.float64)
    Dmask = np.asarray(doc["Dmask"], dtype=np.float64)
    beta = float(doc["beta"])
    n, d = X.shape
    if y.shape != (n,) or Dmask.ndim != 2 or Dmask.shape[0] != n:
        raise ValueError(f"{path}: inconsistent shapes X {X.shape}, y {y.shape}, Dmask {Dmask.shape}")
    if not np.all((Dmask == 0) | (Dmask == 1)):
        raise ValueError(f"{path}: Dmask must be 0/1")
    return X, y, Dmask, beta


def build(X, y, Dmask, beta):
    P, d = Dmask.shape[1], X.shape[1]
    V = cp.Variable((P, d))
    W = cp.Variable((P, d))
    S = 2.0 * Dmask - 1.0
    pred = cp.sum(cp.multiply(Dmask, X @ (V - W).T), axis=1)
    obj = 0.5 * cp.sum_squares(pred - y) + beta * (cp.sum(cp.norm(V, 2, axis=1)) + cp.sum(cp.norm(W, 2, axis=1)))
    cons = [cp.multiply(S, X @ V.T) >= 0, cp.multiply(S, X @ W.T) >= 0]
    return cp.Problem(cp.Minimize(obj), cons), V, W


def cp_objective(X, y, Dmask, beta, V, W):
    r = np.sum(Dmask * (X @ (V - W).T), axis=1) - y
    return 0.5 * float(r @ r) + beta * float(np.linalg.norm(V, axis=1).sum() + np.linalg.norm(W, axis=1).sum())


def min_cone_slack(X, Dmask, V, W):
    S = 2.0 * Dmask - 1.0
    return float(min(np.min(S * (X @ V.T)), np.min(S * (X @ W.T))))


def fnum(v):
    return None if v is None or not np.isfinite(v) else float(v)


def run_once(X, y, Dmask, beta, solver):
    t0 = time.perf_counter()
    prob, V, W = build(X, y, Dmask, beta)
    t1 = time.perf_counter()
    caught = []
    try:
        with warnings.catch_warnings(record=True) as wl:
            warnings.simplefilter("always")
            prob.solve(solver=solver)
            caught = [str(w.message) for w in wl]
        status = prob.status
    except cp.error.SolverError as e:
        status = f"SolverError: {e}"
    t2 = time.perf_counter()
    st = prob.solver_stats
    row = {
        "status": status,
        "objective": fnum(prob.value) if prob.value is not None else None,
        "build_s": t1 - t0,
        "solve_s": t2 - t1,
        "compile_s": fnum(getattr(prob, "compilation_time", None)),
        "solver_s": fnum(st.solve_time) if st is not None and st.solve_time is not None else None,
        "setup_s": fnum(st.setup_time) if st is not None and st.setup_time is not None else None,
        "iterations": int(st.num_iters) if st is not None and st.num_iters is not None else None,
        "warnings": caught,
    }
    if V.value is not None and W.value is not None:
        row["objective_numpy"] = cp_objective(X, y, Dmask, beta, V.value, W.value)
        row["min_cone_slack"] = min_cone_slack(X, Dmask, V.value, W.value)
        nrm = np.concatenate([np.linalg.norm(V.value, axis=1), np.linalg.norm(W.value, axis=1)])
        row["n_groups_norm_gt_1e-6_rel"] = int(np.sum(nrm > 1e-6 * max(nrm.max(), 1e-300)))
    return row


def main():
    ap = argparse.ArgumentParser(description="cvxpy peer for the convex two-layer ReLU program")
    ap.add_argument("--data", default=DEFAULT_DATA, help="folder with manifest.json (default bench/out/convex_relu/data)")
    ap.add_argument("--out", default=DEFAULT_OUT, help="output JSON (default bench/out/peers/convex_relu.json)")
    ap.add_argument("--solvers", default=",".join(DEFAULT_SOLVERS), help="comma list (default CLARABEL,SCS,ECOS)")
    ap.add_argument("--repeats", type=int, default=1, help="timed runs per (problem, solver); median reported")
    args = ap.parse_args()

    manifest_path = os.path.join(args.data, "manifest.json")
    if not os.path.exists(manifest_path):
        print(f"convex_relu_cvxpy: no {manifest_path}; export the problems with optlab first", file=sys.stderr)
        sys.exit(2)
    with open(manifest_path) as fh:
        manifest = json.load(fh)

    installed = set(cp.installed_solvers())
    wanted = [s.strip().upper() for s in args.solvers.split(",") if s.strip()]
    solvers = [s for s in wanted if s in installed]
    skipped = [s for s in wanted if s not in installed]
    load_start = list(os.getloadavg())

    problems, rows = [], []
    for entry in manifest["problems"]:
        name = entry["name"]
        X, y, Dmask, beta = load_problem(os.path.join(args.data, entry["file"]))
        n, d = X.shape
        P = Dmask.shape[1]
        problems.append({"name": name, "file": entry["file"], "n": n, "d": d, "P": P, "beta": beta,
                         "variables": 2 * P * d, "cone_constraints": 2 * n * P})
        for solver in solvers:
            runs = [run_once(X, y, Dmask, beta, solver) for _ in range(args.repeats)]
            times = [r["solve_s"] for r in runs]
            med = sorted(range(len(runs)), key=lambda k: times[k])[len(runs) // 2]
            row = {"problem": name, "solver": solver, "n": n, "d": d, "P": P, "beta": beta, **runs[med],
                   "solve_s_all": times, "build_s_all": [r["build_s"] for r in runs]}
            rows.append(row)
            print(f"{name:24s} {solver:9s} {row['status']:18s} obj={row['objective']!r:24s} "
                  f"build={row['build_s']:.3f}s solve={row['solve_s']:.3f}s "
                  f"(compile {row['compile_s'] or 0:.3f}s, solver {row['solver_s'] or 0:.3f}s) it={row['iterations']}",
                  flush=True)

    # Agreement between solvers per problem (relative to the CLARABEL value when present).
    agreement = []
    for p in problems:
        vals = {r["solver"]: r["objective"] for r in rows if r["problem"] == p["name"] and r["objective"] is not None}
        ref = vals.get("CLARABEL")
        if ref is not None:
            agreement.append({"problem": p["name"], "reference": "CLARABEL",
                              "rel_diff": {s: (v - ref) / max(abs(ref), 1e-300) for s, v in vals.items() if s != "CLARABEL"}})

    doc = {
        "benchmark": "convex_relu_cvxpy",
        "peer": "cvxpy (CLARABEL / SCS / ECOS, default tolerances)",
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "scipy": version("scipy"),
                     "cvxpy": cp.__version__, "clarabel": version("clarabel"), "scs": version("scs"),
                     "ecos": version("ecos"), "osqp": version("osqp")},
        "threads": THREAD_ENV,
        "cpu": {"machine": platform.machine(), "os_cpu_count": os.cpu_count(),
                "affinity_cpus": len(os.sched_getaffinity(0))},
        "data": os.path.abspath(args.data),
        "solvers": solvers,
        "solvers_not_installed": skipped,
        "solver_settings": {s: "cvxpy/solver defaults" for s in solvers},
        "timing": {"clock": "time.perf_counter", "repeats": args.repeats, "statistic": "median of solve_s",
                   "build_s": "cvxpy Problem construction", "solve_s": "prob.solve() wall time",
                   "compile_s": "prob.compilation_time (cvxpy canonicalisation, inside solve_s)",
                   "solver_s": "solver_stats.solve_time as reported by the solver (inside solve_s)",
                   "fresh_problem_each_repeat": True},
        "cp": "minimise 0.5 || sum_i D_i X (v_i - w_i) - y ||^2 + beta sum_i (||v_i|| + ||w_i||) "
              "s.t. (2 D_i - I) X v_i >= 0, (2 D_i - I) X w_i >= 0; D_i = diag(Dmask[:, i])",
        "loadavg_at_start": load_start,
        "loadavg_at_end": list(os.getloadavg()),
        "problems": problems,
        "agreement": agreement,
        "rows": rows,
    }
    out = write_json(args.out, doc)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
