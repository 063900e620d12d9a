#!/usr/bin/env python3
"""Peer benchmark: NOMAD 4 (MADS; PyPI `pynomadbbo`, import name `PyNomad`) on box-constrained problems.

Shared protocol (optlab's Rust direct-search benchmark uses the same problems, starts and budget):
  - branin (n=2, [-5,10]x[0,15], f* = 0.39788735772973816), rosenbrock (n=4, [-5,5]^4,
    sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2, f* = 0), hartmann6 (n=6, [0,1]^6, standard
    alpha/A/P, f* = -3.32236801141551), styblinski_tang (n=5, [-5,5]^5,
    0.5 sum(x^4 - 16 x^2 + 5 x), f* = -39.16616570377142 * 5);
  - start per seed: x0_i = lower_i + (upper_i - lower_i) * frac(0.6180339887498949 * (seed + 1) * (i + 1) + 0.1),
    i = 0..n-1, frac(t) = t - floor(t), evaluated left to right in float64;
  - budget 2000 evaluations (MAX_BB_EVAL 2000); NOMAD defaults otherwise: DISPLAY_DEGREE 0,
    BB_OUTPUT_TYPE OBJ, SEED = seed; seeds 0..9 (--quick: 0..4);
  - every blackbox call is recorded; evals_to_target[tol] = 1-based index of the first evaluation
    with f - f* <= tol for tol in {1e-1, 1e-3, 1e-5} (null: never within the budget).
The known minimizers are stored and f* is checked at them (relative 1e-10) before running.

  bench/peers/.venv/bin/python bench/peers/dsm_nomad.py [--out PATH] [--quick]
"""

import os

# Single-threaded (PyNomad bundles libgomp): must be set before the extension is imported.
THREAD_ENV = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
os.environ.update(THREAD_ENV)

import argparse  # noqa: E402

from peerio import write_json  # noqa: E402
import importlib.metadata as md  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import PyNomad  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(REPO, "bench", "out", "peers", "dsm_nomad.json")

BUDGET = 2000
TARGETS = (("1e-1", 1e-1), ("1e-3", 1e-3), ("1e-5", 1e-5))
GOLDEN = 0.6180339887498949
PI = math.pi

# Hartmann-6 (Surjanovic & Bingham, Virtual Library of Simulation Experiments): alpha, A, P = 1e-4 * [...]
H6_ALPHA = (1.0, 1.2, 3.0, 3.2)
H6_A = ((10.0, 3.0, 17.0, 3.5, 1.7, 8.0),
        (0.05, 10.0, 17.0, 0.1, 8.0, 14.0),
        (3.0, 3.5, 1.7, 10.0, 17.0, 8.0),
        (17.0, 8.0, 0.05, 10.0, 0.1, 14.0))
H6_P = tuple(tuple(1e-4 * v for v in row) for row in (
    (1312, 1696, 5569, 124, 8283, 5886),
    (2329, 4135, 8307, 3736, 1004, 9991),
    (2348, 1451, 3522, 2883, 3047, 6650),
    (4047, 8828, 8732, 5743, 1091, 381)))


def branin(x):
    a, b, c, r, s, t = 1.0, 5.1 / (4.0 * PI * PI), 5.0 / PI, 6.0, 10.0, 1.0 / (8.0 * PI)
    return a * (x[1] - b * x[0] ** 2 + c * x[0] - r) ** 2 + s * (1.0 - t) * math.cos(x[0]) + s


def rosenbrock(x):
    return sum(100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2 for i in range(len(x) - 1))


def hartmann6(x):
    return -sum(H6_ALPHA[i] * math.exp(-sum(H6_A[i][j] * (x[j] - H6_P[i][j]) ** 2 for j in range(6)))
                for i in range(4))


def styblinski_tang(x):
    return 0.5 * sum(v ** 4 - 16.0 * v * v + 5.0 * v for v in x)


ST_ROOT = -2.903534027771178  # root of 4 t^3 - 32 t + 5 (Newton-polished)
# name: (f, n, lower, upper, f*, known minimizers)
PROBLEMS = {
    "branin": (branin, 2, [-5.0, 0.0], [10.0, 15.0], 0.39788735772973816,
               [[-PI, 12.275], [PI, 2.275], [3.0 * PI, 2.475]]),
    "rosenbrock": (rosenbrock, 4, [-5.0] * 4, [5.0] * 4, 0.0, [[1.0] * 4]),
    # published x* (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573), polished by 2 Newton
    # steps with the exact Hessian (max |grad| 2.7e-15)
    "hartmann6": (hartmann6, 6, [0.0] * 6, [1.0] * 6, -3.32236801141551,
                  [[0.20168951100670543, 0.15001069182345797, 0.47687397422189703,
                    0.2753324304940561, 0.31165161660011326, 0.6573005340656204]]),
    "styblinski_tang": (styblinski_tang, 5, [-5.0] * 5, [5.0] * 5, -39.16616570377142 * 5, [[ST_ROOT] * 5]),
}


def start_point(lo, hi, seed):
    x0 = []
    for i in range(len(lo)):
        t = GOLDEN * (seed + 1) * (i + 1) + 0.1
        x0.append(lo[i] + (hi[i] - lo[i]) * (t - math.floor(t)))
    return x0


def check_f_star():
    out = {}
    for name, (fun, n, lo, hi, fstar, xs) in PROBLEMS.items():
        vals = []
        for x in xs:
            assert len(x) == n and all(lo[i] <= x[i] <= hi[i] for i in range(n)), (name, x)
            v = fun(x)
            assert abs(v - fstar) <= 1e-10 * max(1.0, abs(fstar)), (name, x, v, fstar)
            vals.append(v)
        out[name] = vals
    return out


def run(name, seed):
    fun, n, lo, hi, fstar, _ = PROBLEMS[name]
    hist = []
    cb = [0.0, 0.0]  # time inside the callback, time inside f

    def bb(x):
        t0 = time.perf_counter()
        xs = [x.get_coord(i) for i in range(x.size())]
        t1 = time.perf_counter()
        f = fun(xs)
        t2 = time.perf_counter()
        hist.append(f)
        x.setBBO(repr(f).encode("UTF-8"))  # repr: shortest round-trip decimal, exact double
        cb[0] += time.perf_counter() - t0
        cb[1] += t2 - t1
        return 1  # evaluation ok (counted)

    x0 = start_point(lo, hi, seed)
    params = [f"DIMENSION {n}", "BB_OUTPUT_TYPE OBJ", f"MAX_BB_EVAL {BUDGET}", "DISPLAY_DEGREE 0",
              f"SEED {seed}"]
    t0 = time.perf_counter()
    res = PyNomad.optimize(bb, x0, lo, hi, params)
    wall = time.perf_counter() - t0
    assert hist, name
    to = {}
    for key, tol in TARGETS:
        to[key] = next((k + 1 for k, f in enumerate(hist) if f - fstar <= tol), None)
    improvements = []
    best = math.inf
    for k, f in enumerate(hist):
        if f < best:
            best = f
            improvements.append([k + 1, f])
    m = len(hist)
    return {
        "problem": name, "n": n, "seed": seed, "x0": x0,
        "best_f": best, "best_f_minus_f_star": best - fstar, "x_best": list(res.get("x_single_best", [])),
        "nomad_f_best": res.get("f_single_best"), "evaluations": m, "nomad_nb_evals": res.get("nb_evals"),
        "evals_to_target": to, "stop_reason": str(res.get("stop_reason", "")), "run_flag": res.get("run_flag"),
        "wall_s": wall,
        "callback_s": cb[0], "f_s": cb[1],
        "python_overhead_s_per_eval": (cb[0] - cb[1]) / m,
        "nomad_s_per_eval": (wall - cb[0]) / m,
        "improvements": improvements,
    }


def main():
    ap = argparse.ArgumentParser(description="NOMAD (PyNomad MADS) peer on branin / rosenbrock / hartmann6 / styblinski_tang")
    ap.add_argument("--out", default=DEFAULT_OUT, help="benchmark JSON (default bench/out/peers/dsm_nomad.json)")
    ap.add_argument("--quick", action="store_true", help="seeds 0..4 instead of 0..9")
    args = ap.parse_args()
    load_start = list(os.getloadavg())
    f_at_minimizers = check_f_star()
    seeds = list(range(5 if args.quick else 10))

    rows = []
    summary = []
    for name in PROBLEMS:
        group = []
        for s in seeds:
            r = run(name, s)
            group.append(r)
            print(f"{name:15s} seed={s} evals={r['evaluations']:4d} best-f*={r['best_f_minus_f_star']:.2e} "
                  f"to-target={r['evals_to_target']} wall={r['wall_s']:.2f} s "
                  f"py/eval={r['python_overhead_s_per_eval'] * 1e6:.1f} us [{r['stop_reason']}]", flush=True)
        rows.extend(group)
        med = {}
        for key, _ in TARGETS:
            hits = [r["evals_to_target"][key] for r in group]
            # median over all seeds with 'never' counted as +inf (null if more than half never reach it)
            vals = sorted(h if h is not None else math.inf for h in hits)
            mv = statistics.median(vals)
            got = [h for h in hits if h is not None]
            med[key] = {"reached": len(got), "seeds": len(hits),
                        "median_evals": None if math.isinf(mv) else mv,
                        "median_evals_reached": statistics.median(got) if got else None}
        summary.append({"problem": name, "n": PROBLEMS[name][1], "evals_to_target": med,
                        "median_best_f_minus_f_star": statistics.median(r["best_f_minus_f_star"] for r in group),
                        "median_evaluations": statistics.median(r["evaluations"] for r in group),
                        "median_wall_s": statistics.median(r["wall_s"] for r in group),
                        "median_python_overhead_s_per_eval":
                            statistics.median(r["python_overhead_s_per_eval"] for r in group),
                        "median_nomad_s_per_eval": statistics.median(r["nomad_s_per_eval"] for r in group)})

    doc = {
        "benchmark": "dsm_nomad",
        "peer": "NOMAD 4 MADS via PyNomad (pynomadbbo)",
        "versions": {"python": platform.python_version(), "pynomadbbo": md.version("pynomadbbo"),
                     "nomad": "4.6.0 (PyNomad.version(): Python Interface to NOMAD version 2.2)"},
        "threads": {k: os.environ.get(k) for k in THREAD_ENV},
        "cpu": {"machine": platform.machine(), "os_cpu_count": os.cpu_count(),
                "affinity_cpus": len(os.sched_getaffinity(0))},
        "loadavg_at_start": load_start,
        "loadavg_at_end": list(os.getloadavg()),
        "quick": bool(args.quick),
        "protocol": {
            "budget_evaluations": BUDGET, "seeds": seeds,
            "start": "x0_i = lower_i + (upper_i - lower_i) * frac(0.6180339887498949 * (seed + 1) * (i + 1) + 0.1), "
                     "i = 0..n-1, frac(t) = t - floor(t), float64, multiplications left to right",
            "nomad_params": ["DIMENSION n", "BB_OUTPUT_TYPE OBJ", f"MAX_BB_EVAL {BUDGET}", "DISPLAY_DEGREE 0",
                             "SEED seed"],
            "bounds": "passed as PyNomad.optimize(bb, x0, lb, ub, params)",
            "targets": [k for k, _ in TARGETS],
            "evals_to_target": "1-based index of the first blackbox evaluation with f - f* <= tol; null = never",
        },
        "problems": {name: {"n": n, "lower": lo, "upper": hi, "f_star": fs, "minimizers": xs,
                            "f_at_minimizers": f_at_minimizers[name]}
                     for name, (_, n, lo, hi, fs, xs) in PROBLEMS.items()},
        "hartmann6": {"alpha": H6_ALPHA, "A": H6_A, "P": H6_P},
        "notes": {
            "evaluations": "number of blackbox callback calls (NOMAD's cache avoids re-evaluating a point); "
                           "nomad_nb_evals is NOMAD's own count",
            "improvements": "[evaluation index (1-based), f] at every strict improvement of the best value",
            "overhead": "callback_s = time inside our Python blackbox (coordinate extraction + f + setBBO with "
                        "repr(f)); f_s = time in f alone; python_overhead_s_per_eval = (callback_s - f_s) / "
                        "evaluations (excludes the C++ -> Python call itself); nomad_s_per_eval = "
                        "(wall_s - callback_s) / evaluations = NOMAD's own work (models, search, poll, cache) "
                        "plus the Cython call boundary",
            "summary_median": "median_evals: median over all seeds with 'never' counted as +inf (null when at "
                              "least half of the seeds never reach the target); median_evals_reached: median "
                              "over the seeds that reach it",
            "termination": "NOMAD stops on its default mesh-size criterion ('Mesh minimum precision reached') "
                           "long before MAX_BB_EVAL in most runs; the budget is an upper bound, not the "
                           "evaluations spent (see evaluations per row)",
        },
        "summary": summary,
        "rows": rows,
    }
    out = write_json(args.out, doc)
    print(f"wrote {out}: {len(rows)} rows")
    for s in summary:
        print(f"{s['problem']:15s} " + "  ".join(
            f"{k}: {v['median_evals']} [{v['median_evals_reached']} over {v['reached']}/{v['seeds']}]"
            for k, v in s["evals_to_target"].items()))


if __name__ == "__main__":
    main()
