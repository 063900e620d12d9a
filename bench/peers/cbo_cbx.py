"""CBXpy (PyPI `cbx`) side of optlab's CBO benchmark (`optlab bench --only dfo`).

Protocol (the Rust side implements the same): minimize Rastrigin / Ackley (x* = 0, f* = 0) in
d = 2, 10, 20; N = 100 particles for d = 2, 200 otherwise; initial particles uniform on
[-3, 3]^d; Euler-Maruyama CBO with dt = 0.01, lambda = 1, alpha = 30 (fixed); sigma = 1.0
(anisotropic) or 0.1 (isotropic); M = 1; no batching / resampling / scheduler. Success: the
consensus point within infinity-distance 0.25 of x* (CBXpy's criterion), recorded after 100,
300 and 1000 iterations. cbx's update (cbx/dynamics/cbo.py `cbo_update`, cbx/noise.py):
x -= lamda*dt*(x - c) + sigma*sqrt(dt)*D(x - c)*xi, D = ||.||_2 (isotropic) or |.| (anisotropic)
- the same scheme as optlab's.

Usage: python cbo_cbx.py --out bench/out/peers/cbo_cbx.json [--quick]
"""
import os

for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[k] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import cbx  # noqa: E402
from cbx.dynamics import CBO  # noqa: E402


def rastrigin(x):
    d = x.shape[-1]
    return 10 * d + np.sum(x * x - 10 * np.cos(2 * np.pi * x), axis=-1)


def ackley(x):
    s2 = np.mean(x * x, axis=-1)
    sc = np.mean(np.cos(2 * np.pi * x), axis=-1)
    return -20 * np.exp(-0.2 * np.sqrt(s2)) - np.exp(sc) + 20 + np.e


def sphere(x):
    return np.sum(x * x, axis=-1)


FUNS = {"rastrigin": rastrigin, "ackley": ackley, "sphere": sphere}


def make(f, n, d, noise, sigma, seed, max_it):
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(-3.0, 3.0, size=(1, n, d))
    return CBO(f, f_dim="3D", x=x0, noise=noise, dt=0.01, alpha=30.0, sigma=sigma, lamda=1.0,
               max_it=max_it, verbosity=0, seed=seed)


def run(problem, d, noise, seed):
    n = 100 if d == 2 else 200
    sigma = 1.0 if noise == "anisotropic" else 0.1
    dyn = make(FUNS[problem], n, d, noise, sigma, seed, 1000)
    cps = []
    t0 = time.perf_counter()
    for it in range(1, 1001):
        dyn.step()
        if it in (100, 300, 1000):
            c = np.asarray(dyn.consensus).reshape(-1)[:d]
            dist = float(np.max(np.abs(c)))
            cps.append({"iterations": it, "evaluations": it * n,
                        "consensus_f": float(FUNS[problem](c[None, :])[0]),
                        "best_f": float(np.min(dyn.best_energy)),
                        "dist_inf": dist, "success": bool(dist < 0.25)})
    return {"problem": problem, "d": d, "noise": noise, "N": n, "sigma": sigma, "alpha": 30.0,
            "dt": 0.01, "seed": seed, "checkpoints": cps, "wall_s": time.perf_counter() - t0}


def throughput(fname):
    times = []
    for rep in range(6):
        dyn = make(FUNS[fname], 1000, 20, "anisotropic", 1.0, rep, 200)
        t0 = time.perf_counter()
        for _ in range(200):
            dyn.step()
        times.append((time.perf_counter() - t0) / 200)
    t = float(np.median(times[1:]))
    return {"f": fname, "N": 1000, "d": 20, "time_per_iteration_s": t,
            "particle_updates_per_s": 1000 / t, "includes_f_evaluations": True}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    seeds = range(10) if a.quick else range(20)
    dims = (2, 10) if a.quick else (2, 10, 20)
    rows = [run(p, d, nz, s) for p in ("rastrigin", "ackley") for d in dims
            for nz in ("isotropic", "anisotropic") for s in seeds]
    out = {"benchmark": "cbo_cbx", "versions": {"python": platform.python_version(),
           "numpy": np.__version__, "cbx": getattr(cbx, "__version__", "1.0.4")},
           "cpu_count": os.cpu_count(), "threads": "OMP/OPENBLAS/MKL = 1",
           "protocol": __doc__, "rows": rows,
           "throughput": [throughput("sphere"), throughput("rastrigin")]}
    tmp = a.out + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(out, fh, indent=1)
    os.replace(tmp, a.out)
    print("wrote", a.out)


if __name__ == "__main__":
    main()
