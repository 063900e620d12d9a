"""NOMAD 4 (PyPI `pynomadbbo`, MADS) side of optlab's direct-search benchmark.

Shared protocol (optlab's `optlab bench --only dfo` uses the same): box-constrained problems
branin (n=2), rosenbrock (n=4), hartmann6 (n=6), styblinski_tang (n=5); start point per seed
x0_i = l_i + (u_i - l_i) * frac(0.6180339887498949 * (seed + 1) * (i + 1) + 0.1); budget 2000
evaluations; NOMAD defaults otherwise (DISPLAY_DEGREE 0, SEED = seed). Evaluations to target:
index (1-based) of the first evaluation with f - f* <= 1e-1 / 1e-3 / 1e-5 (null: never).

Usage: python dsm_nomad.py --out bench/out/peers/dsm_nomad.json [--quick]
"""
import os

for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[k] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import PyNomad  # noqa: E402

PI = math.pi
H6_ALPHA = [1.0, 1.2, 3.0, 3.2]
H6_A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14]]
H6_P = [[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886], [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
        [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650], [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]]


def branin(x):
    a, b, c, r, s, t = 1.0, 5.1 / (4 * PI * PI), 5 / PI, 6.0, 10.0, 1 / (8 * PI)
    return a * (x[1] - b * x[0] ** 2 + c * x[0] - r) ** 2 + s * (1 - t) * math.cos(x[0]) + s


def rosenbrock(x):
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


def hartmann6(x):
    return -sum(H6_ALPHA[i] * math.exp(-sum(H6_A[i][j] * (x[j] - H6_P[i][j]) ** 2 for j in range(6)))
                for i in range(4))


def styblinski_tang(x):
    return 0.5 * sum(v ** 4 - 16 * v * v + 5 * v for v in x)


ST = -2.903534027771178
PROBLEMS = {
    "branin": (branin, 2, [-5.0, 0.0], [10.0, 15.0], [PI, 2.275]),
    "rosenbrock": (rosenbrock, 4, [-5.0] * 4, [5.0] * 4, [1.0] * 4),
    "hartmann6": (hartmann6, 6, [0.0] * 6, [1.0] * 6,
                  [0.20168952, 0.15001069, 0.47687398, 0.27533243, 0.31165162, 0.65730054]),
    "styblinski_tang": (styblinski_tang, 5, [-5.0] * 5, [5.0] * 5, [ST] * 5),
}


def start(lo, hi, seed):
    out = []
    for i in range(len(lo)):
        t = 0.6180339887498949 * (seed + 1) * (i + 1) + 0.1
        out.append(lo[i] + (hi[i] - lo[i]) * (t - math.floor(t)))
    return out


def run(name, seed, fstar):
    fun, n, lo, hi, _ = PROBLEMS[name]
    hist = []

    def bb(x):
        xs = [x.get_coord(i) for i in range(x.size())]
        f = fun(xs)
        hist.append(f)
        x.setBBO(str(f).encode("UTF-8"))
        return 1

    x0 = start(lo, hi, seed)
    params = [f"DIMENSION {n}", "BB_OUTPUT_TYPE OBJ", "MAX_BB_EVAL 2000", "DISPLAY_DEGREE 0",
              f"SEED {seed}"]
    t0 = time.perf_counter()
    res = PyNomad.optimize(bb, x0, lo, hi, params)
    wall = time.perf_counter() - t0
    to = {}
    for key, tol in (("1e-1", 1e-1), ("1e-3", 1e-3), ("1e-5", 1e-5)):
        to[key] = next((i + 1 for i, f in enumerate(hist) if f - fstar <= tol), None)
    return {"problem": name, "n": n, "seed": seed, "x0": x0, "best_f": min(hist) if hist else None,
            "evaluations": len(hist), "evals_to_target": to, "wall_s": wall,
            "stop_reason": str(res.get("stop_reason", ""))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    fstars = {"branin": 0.39788735772973816, "rosenbrock": 0.0, "hartmann6": -3.32236801141551,
              "styblinski_tang": -39.16616570377142 * 5}
    for name, (fun, _, _, _, xs) in PROBLEMS.items():
        assert abs(fun(xs) - fstars[name]) <= 1e-6 * max(1.0, abs(fstars[name])), (name, fun(xs))
    seeds = range(5) if a.quick else range(10)
    rows = [run(p, s, fstars[p]) for p in PROBLEMS for s in seeds]
    out = {"benchmark": "dsm_nomad", "versions": {"python": platform.python_version(),
           "PyNomad": PyNomad.version() if hasattr(PyNomad, "version") else "pynomadbbo 4.6.0"},
           "cpu_count": os.cpu_count(), "protocol": __doc__, "f_star": fstars,
           "minimizers": {k: v[4] for k, v in PROBLEMS.items()}, "rows": rows}
    tmp = a.out + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(out, fh, indent=1, default=str)
    os.replace(tmp, a.out)
    print("wrote", a.out)


if __name__ == "__main__":
    main()
