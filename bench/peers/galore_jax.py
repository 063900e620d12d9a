#!/usr/bin/env python3
"""Peer benchmark: GaLore / Natural GaLore step and projector-refresh cost on jax CPU, one
thread, for the matrices of optlab's `bench --only kernels` (BENCHMARKS.md §12).

optax 0.2.8 has no GaLore, so the update is written here from the paper (the same algebra as
optlab_nn::galore, one-sided projection):

  refresh:  U, S, Vt = svd(G, full_matrices=False); P = U[:, :r] (m < n) or Q = Vt[:r] (m >= n)
  step:     R = Pᵀ G (or G Qᵀ); Natural GaLore: push R into a 20-deep history H and replace R
            by (λI + HᵀH)⁻¹ R via Woodbury (an s x s Cholesky solve); Adam (optax.scale_by_adam,
            eps 1e-6) on R; W -= lr · α · P N (or N Q).

A *step* reuses the projector; a *refresh step* computes the SVD first (its own jitted
function, then the step). Both are jitted, f32, buffers donated, median over `reps` calls
after warm-up. The gradient is a fixed seeded normal matrix (the cost does not depend on it).

  bench/peers/.venv/bin/python bench/peers/galore_jax.py [--out PATH] [--reps 5] [--no-pin]
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peerio import one_thread, write_json  # noqa: E402

PINNED_CPU = one_thread("--no-pin" not in sys.argv[1:])

import argparse  # noqa: E402
import importlib.metadata as md  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(REPO, "bench", "out", "peers", "galore_jax.json")
SHAPES = [(64, 256, 16), (512, 512, 128), (512, 1376, 128)]
HISTORY, DAMPING, ALPHA, LR = 20, 1e-3, 0.25, 1e-3


def make(m, n, r, natural):
    left = m < n
    adam = optax.scale_by_adam(b1=0.9, b2=0.999, eps=1e-6)
    pshape = (r, n) if left else (m, r)

    def refresh(g):
        u, _, vt = jnp.linalg.svd(g, full_matrices=False)
        return u[:, :r] if left else vt[:r]

    def step(w, proj, hist, s, g):
        rg = proj.T @ g if left else g @ proj.T
        if natural:
            v = rg.reshape(-1)
            hist = jnp.concatenate([v[None], hist[:-1]], axis=0)
            gram = jnp.eye(HISTORY, dtype=v.dtype) + hist @ hist.T / DAMPING
            z = jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(gram), hist @ v)
            v = v / DAMPING - hist.T @ z / DAMPING**2
            rg = v.reshape(pshape)
        u, s = adam.update(rg, s)
        d = proj @ u if left else u @ proj
        return w - LR * ALPHA * d, hist, s

    return jax.jit(refresh), jax.jit(step, donate_argnums=(0, 2, 3)), adam, pshape


def timed(f, reps):
    f()
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        out.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(out)


def measure(m, n, r, natural, reps):
    refresh, step, adam, pshape = make(m, n, r, natural)
    g = jnp.asarray(np.random.default_rng(0).standard_normal((m, n), dtype=np.float32))
    st = {"w": jnp.zeros((m, n), jnp.float32), "p": refresh(g),
          "h": jnp.zeros((HISTORY, pshape[0] * pshape[1]), jnp.float32),
          "s": adam.init(jnp.zeros(pshape, jnp.float32))}

    def plain():
        st["w"], st["h"], st["s"] = step(st["w"], st["p"], st["h"], st["s"], g)
        jax.block_until_ready(st["w"])

    def with_refresh():
        st["p"] = refresh(g)
        plain()

    for _ in range(HISTORY + 1):  # fill the history, compile
        plain()
    return {"m": m, "n": n, "rank": r, "natural": natural,
            "step_ms": timed(plain, reps), "refresh_ms": timed(with_refresh, reps)}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--no-pin", action="store_true")
    a = ap.parse_args()
    res = [measure(m, n, r, nat, a.reps) for (m, n, r) in SHAPES for nat in (False, True)]
    doc = {"generator": "bench/peers/galore_jax.py", "threads": 1, "pinned_cpu": PINNED_CPU,
           "versions": {"jax": md.version("jax"), "optax": md.version("optax")}, "rows": res}
    print(doc)
    write_json(a.out, doc)
