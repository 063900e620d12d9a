#!/usr/bin/env python3
"""Peer benchmark: consensus-based optimization (CBO) with CBXpy (PyPI `cbx` 1.0.4).

Protocol (optlab's Rust CBO benchmark implements the same; the RNGs differ, so compare
success rates and f distributions, not trajectories):
  - minimize rastrigin(x) = 10 d + sum(x_i^2 - 10 cos(2 pi x_i)) and
    ackley(x) = -20 exp(-0.2 sqrt(mean(x^2))) - exp(mean(cos(2 pi x))) + 20 + e; x* = 0, f* = 0;
  - d in {2, 10, 20}; N = 100 particles for d = 2, 200 for d = 10, 20; M = 1 run per object;
    initial particles i.i.d. uniform on [-3, 3]^d;
  - Euler-Maruyama CBO, dt = 0.01, lambda = 1, alpha = 30 fixed, sigma = 1.0 (anisotropic noise)
    or 0.1 (isotropic noise); no batching, no resampling, no alpha scheduler, no drift correction;
  - 1000 iterations (N*1000 evaluations) with checkpoints after 100, 300 and 1000 iterations:
    consensus point v (the one computed in that iteration), f(v), best f evaluated so far,
    ||v - x*||_inf and success = ||v - x*||_inf < 0.25 (cbx's dist_to_min tolerance/norm);
  - seeds 0..99 (--seeds K: 0..K-1; --quick: 10 seeds and d in {2, 10}); cbx's own RNG (numpy default_rng(seed),
    created by cbx from seed=seed) draws the initial particles first, then all the noise.
Throughput: cbx's CBO.step() on d = 20, N = 1000, anisotropic (sigma 1), 200 iterations, for
f = sphere and f = rastrigin; median of 5 timed repeats after one warm-up repeat. The timing
INCLUDES the N objective evaluations per iteration (cbx evaluates f inside step()); the time of
f alone on a (1, 1000, 20) array is measured separately and reported too.

  bench/peers/.venv/bin/python bench/peers/cbo_cbx.py [--out PATH] [--quick] [--seeds K] [--throughput-only]
  (about 9 minutes with the default 100 seeds)
"""

import os

# Single-threaded BLAS: must be set before numpy is imported.
THREAD_ENV = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
os.environ.update(THREAD_ENV)

import argparse  # noqa: E402
import json  # noqa: E402

from peerio import write_json  # noqa: E402
import importlib.metadata as md  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import scipy  # noqa: E402
from cbx.dynamics import CBO  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(REPO, "bench", "out", "peers", "cbo_cbx.json")

DT = 0.01
LAMDA = 1.0
ALPHA = 30.0
SIGMA = {"anisotropic": 1.0, "isotropic": 0.1}
INIT_LO, INIT_HI = -3.0, 3.0
MAX_IT = 1000
CHECKPOINTS = (100, 300, 1000)
SUCCESS_TOL = 0.25
NOISES = ("isotropic", "anisotropic")
PROBLEMS = ("rastrigin", "ackley")


def n_particles(d):
    return 100 if d == 2 else 200


# Objectives in cbx's f_dim='3D' convention: x has shape (M, N, d), the result (M, N).
def rastrigin(x):
    d = x.shape[-1]
    return 10.0 * d + np.sum(x * x - 10.0 * np.cos(2.0 * np.pi * x), axis=-1)


def ackley(x):
    s2 = np.mean(x * x, axis=-1)
    sc = np.mean(np.cos(2.0 * np.pi * x), axis=-1)
    return -20.0 * np.exp(-0.2 * np.sqrt(s2)) - np.exp(sc) + 20.0 + np.e


def sphere(x):
    return np.sum(x * x, axis=-1)


FUNS = {"rastrigin": rastrigin, "ackley": ackley, "sphere": sphere}


def make_dynamic(fun, n, d, noise, sigma, seed, max_it):
    """A cbx CBO object (M = 1) whose particles are drawn uniform on [-3, 3]^d from cbx's own RNG."""
    dyn = CBO(
        fun, f_dim="3D", check_f_dims=False,  # no extra (counted) f evaluations / RNG draws at setup
        x=np.zeros((1, n, d)), noise=noise, dt=DT, alpha=ALPHA, sigma=sigma, lamda=LAMDA,
        max_it=max_it, verbosity=0, seed=seed,
    )
    rng = dyn.sampler.__self__  # cbx: np.random.default_rng(seed); sampler = rng.standard_normal
    assert isinstance(rng, np.random.Generator)
    dyn.x[...] = rng.uniform(INIT_LO, INIT_HI, size=dyn.x.shape)
    return dyn


def run(problem, d, noise, seed):
    fun = FUNS[problem]
    n = n_particles(d)
    sigma = SIGMA[noise]
    dyn = make_dynamic(fun, n, d, noise, sigma, seed, MAX_IT)
    cps = []
    t0 = time.perf_counter()
    for it in range(1, MAX_IT + 1):
        dyn.step()  # plain step(): no scheduler (CBO.optimize() would multiply alpha by 1.05 per step)
        if it in CHECKPOINTS:
            v = np.asarray(dyn.consensus, dtype=float).reshape(-1)
            assert v.shape == (d,)
            assert int(dyn.num_f_eval[0]) == n * it, (dyn.num_f_eval, n * it)
            dist = float(np.max(np.abs(v)))  # x* = 0
            best = np.asarray(dyn.best_particle, dtype=float).reshape(-1)
            cps.append({
                "iterations": it,
                "evaluations": int(dyn.num_f_eval[0]),
                "consensus_f": float(fun(v[None, None, :])[0, 0]),
                "best_f": float(dyn.best_energy[0]),
                "dist_inf": dist,
                "success": bool(dist < SUCCESS_TOL),
                "best_particle_dist_inf": float(np.max(np.abs(best))),
            })
    wall = time.perf_counter() - t0
    assert float(dyn.alpha[0, 0]) == ALPHA
    return {"problem": problem, "d": d, "noise": noise, "N": n, "sigma": sigma, "alpha": ALPHA, "dt": DT,
            "lamda": LAMDA, "seed": seed, "checkpoints": cps, "wall_s": wall}


def throughput(fname, n=1000, d=20, iters=200, repeats=5):
    fun = FUNS[fname]

    def once(rep):
        dyn = make_dynamic(fun, n, d, "anisotropic", 1.0, 1000 + rep, iters)
        t0 = time.perf_counter()
        c0 = time.process_time()
        for _ in range(iters):
            dyn.step()
        return time.perf_counter() - t0, time.process_time() - c0

    once(-1)  # warm-up
    runs = [once(r) for r in range(repeats)]
    times = [w for w, _ in runs]
    t_it = statistics.median(times) / iters
    # f alone on one iteration's particle array, for the share of the step spent in f
    x = np.random.default_rng(7).uniform(-3, 3, size=(1, n, d))
    reps_f = 2000
    tf = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(reps_f):
            fun(x)
        tf.append((time.perf_counter() - t0) / reps_f)
    t_f = statistics.median(tf)
    return {"f": fname, "N": n, "d": d, "noise": "anisotropic", "sigma": 1.0, "alpha": ALPHA, "dt": DT,
            "iterations_per_repeat": iters, "warmup_repeats": 1, "repeats": repeats, "statistic": "median",
            "times_s": times, "cpu_over_wall": [c / w for w, c in runs],
            "time_per_iteration_s": t_it, "particle_updates_per_s": n / t_it,
            "includes_f_evaluations": True,
            "f_eval_time_per_iteration_s": t_f,
            "time_per_iteration_excluding_f_s": t_it - t_f,
            "particle_updates_per_s_excluding_f": n / (t_it - t_f)}


NOTES = {
    "update": "cbx/dynamics/cbo.py CBO.cbo_step (= inner_step; driven by ParticleDynamic.step in "
    "cbx/dynamics/pdyn.py: pre_step -> inner_step -> post_step): (1) CBXDynamic.compute_consensus evaluates "
    "energy = f(x_k) for all N particles (num_f_eval += N) and compute_consensus_default: "
    "v_k = sum_i x_k^i w_i, w = exp(-alpha E - logsumexp(-alpha E)) (scipy.special.logsumexp); "
    "(2) drift = correction(x_k - v_k) with correction 'no_correction' = identity; "
    "(3) x_{k+1} = x_k + cbo_update(drift, lamda, dt, sigma, noise()) where "
    "cbo_update = -lamda*dt*drift + sigma*noise and noise = sqrt(dt)*sample(drift) (cbx/noise.py): "
    "anisotropic_noise.sample = xi * drift (elementwise, xi ~ N(0, I_d) per particle: "
    "= sqrt(dt)*sigma*diag(x - v)*xi, same law as diag(|x - v|)*xi); isotropic_noise.sample = "
    "xi * ||drift||_2 (norm over the d coordinates of each particle) = sqrt(dt)*sigma*||x - v||_2*xi. "
    "So x_{k+1} = x_k - lamda*dt*(x_k - v_k) + sigma*sqrt(dt)*D(x_k - v_k)*xi_k with a fresh "
    "xi_k ~ N(0, I) of shape (M, N, d) per step from sampler = np.random.default_rng(seed).standard_normal "
    "(ParticleDynamic.set_array_backend_funs). The same v_k is used for all particles (no batching).",
    "post_step": "CBXDynamic.post_step: post_process_default clips x to [-1e8, 1e8] (inactive here); "
    "update_best_cur_particle uses energy and x_old (the pre-update positions, i.e. the points f was "
    "evaluated at); best_energy = running min of all evaluated f; it += 1, t += dt.",
    "checkpoint_semantics": "after `it` calls of step(): evaluations = N*it (cbx num_f_eval, asserted); the "
    "consensus point is v_{it-1}, the one computed in iteration `it` from the particles evaluated in that "
    "iteration (i.e. BEFORE that iteration's position update); consensus_f = f(v) is an extra evaluation "
    "not counted in evaluations; best_f = cbx best_energy (min over all N*it evaluated points).",
    "parameters": "CBO(f, f_dim='3D', x=(1,N,d) array, noise='isotropic'|'anisotropic', dt=0.01, alpha=30.0 "
    "(stored as an (M,1) array, unchanged: asserted), sigma, lamda=1.0 (cbx's spelling), max_it, "
    "seed=seed, check_f_dims=False); defaults left: correction='no_correction', batch_args=None "
    "(all particles every step), compute_consensus_default without coefficient check. cbx's own "
    "defaults are dt=0.01, alpha=1, sigma=5.1, lamda=1, noise='isotropic' (the CBO docstring's "
    "'dt default 0.1' is stale).",
    "no_scheduler": "the loop calls dyn.step() directly. CBO.optimize(sched='default') would apply "
    "CBXDynamic.default_sched() = scheduler([multiply(name='alpha', factor=1.05)]) after every step; "
    "that is NOT used here (alpha stays 30).",
    "rng": "cbx seeds numpy.random.default_rng(seed) (PCG64) and uses its standard_normal as sampler; "
    "this script draws the initial particles uniform(-3, 3, (1, N, d)) from that same Generator "
    "first (dyn.sampler.__self__), then cbx draws one standard_normal((1, N, d)) per step.",
    "success": "cbx/utils/success.py dist_to_min_success(x, x_true, tol=0.25, p=inf): "
    "||x - x_true||_inf < 0.25. cbx's dist_to_min applies it to dyn.best_particle; the protocol here "
    "applies it to the consensus point v (the field `success`); best_particle_dist_inf is the "
    "cbx-style distance for reference.",
    "isotropic_sigma": "isotropic noise uses sigma = 0.1: the mean-field condition is roughly "
    "2 lambda > d sigma^2 (d = 20: 2 > 0.2).",
    "throughput": "time_per_iteration_s includes cbx's N objective evaluations (f is called inside "
    "step()); f_eval_time_per_iteration_s is f alone on a (1, N, d) array (median of 5 x 2000 calls) and "
    "the *_excluding_f fields subtract it.",
}


def main():
    ap = argparse.ArgumentParser(description="CBXpy CBO peer: Rastrigin / Ackley success rates + throughput")
    ap.add_argument("--out", default=DEFAULT_OUT, help="benchmark JSON (default bench/out/peers/cbo_cbx.json)")
    ap.add_argument("--quick", action="store_true", help="10 seeds and d in {2, 10}")
    ap.add_argument("--seeds", type=int, default=100,
                    help="seeds 0..K-1 (default 100, optlab's full suite; --quick sets 10 and wins)")
    ap.add_argument("--throughput-only", action="store_true",
                    help="re-measure only the throughput rows, in place in an existing --out file "
                         "(for interleaving with optlab's runs on a noisy machine)")
    args = ap.parse_args()
    if args.throughput_only:
        with open(args.out) as fh:
            doc = json.load(fh)
        doc["throughput"] = [throughput("sphere"), throughput("rastrigin")]
        doc["throughput_remeasured_loadavg"] = list(os.getloadavg())
        for t in doc["throughput"]:
            print(f"throughput {t['f']:9s}: {t['time_per_iteration_s'] * 1e6:.1f} us/iter", flush=True)
        write_json(args.out, doc)
        return
    load_start = list(os.getloadavg())
    if args.seeds < 1:
        ap.error("--seeds must be at least 1")
    seeds = list(range(10 if args.quick else args.seeds))
    dims = (2, 10) if args.quick else (2, 10, 20)

    rows = []
    summary = []
    for p in PROBLEMS:
        for d in dims:
            for nz in NOISES:
                group = [run(p, d, nz, s) for s in seeds]
                rows.extend(group)
                rates = {c["iterations"]: 0 for c in group[0]["checkpoints"]}
                for r in group:
                    for c in r["checkpoints"]:
                        rates[c["iterations"]] += c["success"]
                final = [r["checkpoints"][-1]["best_f"] for r in group]
                s = {"problem": p, "d": d, "noise": nz, "N": n_particles(d), "sigma": SIGMA[nz],
                     "seeds": len(seeds),
                     "success_rate": {str(k): v / len(seeds) for k, v in rates.items()},
                     "median_best_f_1000": statistics.median(final),
                     "median_wall_s": statistics.median(r["wall_s"] for r in group)}
                summary.append(s)
                print(f"{p:9s} d={d:2d} {nz:11s} success@100/300/1000 = "
                      + "/".join(f"{s['success_rate'][str(k)]:.2f}" for k in CHECKPOINTS)
                      + f"  median best f = {s['median_best_f_1000']:.3e}  wall {s['median_wall_s']:.3f} s",
                      flush=True)

    tp = [throughput("sphere"), throughput("rastrigin")]
    for t in tp:
        print(f"throughput {t['f']:9s}: {t['time_per_iteration_s'] * 1e6:.1f} us/iter, "
              f"{t['particle_updates_per_s']:.3e} particle-updates/s (incl. f; f alone "
              f"{t['f_eval_time_per_iteration_s'] * 1e6:.1f} us/iter)", flush=True)

    doc = {
        "benchmark": "cbo_cbx",
        "peer": "cbx (CBXpy) CBO",
        "versions": {"python": platform.python_version(), "cbx": md.version("cbx"),
                     "numpy": np.__version__, "scipy": scipy.__version__},
        "threads": {k: os.environ.get(k) for k in THREAD_ENV},
        "cpu": {"machine": platform.machine(), "os_cpu_count": os.cpu_count(),
                "affinity_cpus": len(os.sched_getaffinity(0))},
        "loadavg_at_start": load_start,
        "loadavg_at_end": list(os.getloadavg()),
        "quick": bool(args.quick),
        "protocol": {
            "problems": {"rastrigin": "10 d + sum(x_i^2 - 10 cos(2 pi x_i))",
                         "ackley": "-20 exp(-0.2 sqrt(mean(x^2))) - exp(mean(cos(2 pi x))) + 20 + e",
                         "x_star": "0", "f_star": 0.0},
            "dims": list(dims), "N": {str(d): n_particles(d) for d in dims}, "M": 1,
            "init": f"iid uniform [{INIT_LO}, {INIT_HI}]^d", "dt": DT, "lamda": LAMDA, "alpha": ALPHA,
            "sigma": SIGMA, "max_iterations": MAX_IT, "checkpoints_iterations": list(CHECKPOINTS),
            "evaluations_per_iteration": "N", "success": f"||v - x*||_inf < {SUCCESS_TOL} (v = consensus)",
            "seeds": seeds, "batching": None, "resampling": None, "alpha_scheduler": None,
        },
        "timing": {"clock": "time.perf_counter", "row_wall_s": "the 1000 step() calls of one run (setup excluded)"},
        "notes": NOTES,
        "summary": summary,
        "rows": rows,
        "throughput": tp,
    }
    out = write_json(args.out, doc)
    print(f"wrote {out}: {len(rows)} rows")
    assert all(math.isfinite(r["wall_s"]) for r in rows)


if __name__ == "__main__":
    main()
