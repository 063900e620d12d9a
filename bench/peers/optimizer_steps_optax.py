#!/usr/bin/env python3
"""Peer benchmark: optimizer step time on jax CPU, one thread, for the shapes of optlab's
`bench --only kernels` (BENCHMARKS.md §1 and §12).

  (a) one update of 10M float32 parameters (a single flat tensor) for optax.adagrad
      (lr 1e-2, initial_accumulator_value 0, eps 1e-10 — the torch convention optlab's default
      AdaGrad uses), optax.lion (3e-4, 0.9, 0.99, wd 0) and optax.adamw (1e-3, wd 0): jitted
      `update + apply_updates` with the parameter and state buffers donated, so XLA may update
      in place; median over `reps` steps after 3 warm-up steps.
  (b) SAM's overhead: the digits MLP 64-256-256-10 (ReLU, f32), batch 128, AdamW; a plain
      jitted step (one value_and_grad) vs a SAM step written in jax the way
      optax.contrib.sam's "transparent" use amounts to (grad at p, e = rho g/||g||, grad at
      p + e, update at p; rho 0.05), on fixed random batches; median of 3 repeats of 60 steps.
      Random inputs (the timing does not depend on the data).

  bench/peers/.venv/bin/python bench/peers/optimizer_steps_optax.py [--out PATH] [--reps 10] [--no-pin]
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
DEFAULT_OUT = os.path.join(REPO, "bench", "out", "peers", "optimizer_steps_optax.json")
N = 10_000_000


def kernel(opt, reps):
    p = jnp.asarray(np.random.default_rng(0).standard_normal(N, dtype=np.float32))
    g = jnp.asarray(np.random.default_rng(1).standard_normal(N, dtype=np.float32))
    s = opt.init(p)

    def stepf(p, s, g):
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s

    f = jax.jit(stepf, donate_argnums=(0, 1))
    for _ in range(3):
        p, s = f(p, s, g)
    jax.block_until_ready(p)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        p, s = f(p, s, g)
        jax.block_until_ready(p)
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def sam_overhead(steps=60, repeats=3, rho=0.05):
    sizes = (64, 256, 256, 10)
    key = jax.random.PRNGKey(0)
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        key, k = jax.random.split(key)
        params.append({"w": jax.random.uniform(k, (a, b), jnp.float32, -a ** -0.5, a ** -0.5),
                       "b": jnp.zeros((b,), jnp.float32)})
    rng = np.random.default_rng(0)
    xs = jnp.asarray(rng.random((steps, 128, 64), dtype=np.float32))
    ys = jnp.asarray(rng.integers(0, 10, (steps, 128)))

    def loss(p, x, y):
        h = x
        for l in p[:-1]:
            h = jax.nn.relu(h @ l["w"] + l["b"])
        z = h @ p[-1]["w"] + p[-1]["b"]
        return -jnp.take_along_axis(jax.nn.log_softmax(z), y[:, None], 1).mean()

    opt = optax.adamw(1e-3, weight_decay=0.0)
    vg = jax.value_and_grad(loss)

    @jax.jit
    def plain(p, s, x, y):
        _, g = vg(p, x, y)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s

    @jax.jit
    def sam(p, s, x, y):
        _, g = vg(p, x, y)
        n = optax.global_norm(g)
        e = jax.tree_util.tree_map(lambda a: rho * a / n, g)
        _, g2 = vg(jax.tree_util.tree_map(jnp.add, p, e), x, y)
        u, s = opt.update(g2, s, p)
        return optax.apply_updates(p, u), s

    def timed(f):
        p, s = params, opt.init(params)
        p, s = f(p, s, xs[0], ys[0])
        jax.block_until_ready(p)
        out = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for i in range(steps):
                p, s = f(p, s, xs[i], ys[i])
            jax.block_until_ready(p)
            out.append(1e3 * (time.perf_counter() - t0) / steps)
        return statistics.median(out)

    a, b = timed(plain), timed(sam)
    return {"plain_ms": a, "sam_ms": b, "ratio": b / a}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--no-pin", action="store_true")
    a = ap.parse_args()
    res = {
        "adagrad_ms": kernel(optax.adagrad(1e-2, initial_accumulator_value=0.0, eps=1e-10), a.reps),
        "lion_ms": kernel(optax.lion(3e-4, b1=0.9, b2=0.99, weight_decay=0.0), a.reps),
        "adamw_ms": kernel(optax.adamw(1e-3, weight_decay=0.0), a.reps),
        "sam": sam_overhead(),
    }
    doc = {"generator": "bench/peers/optimizer_steps_optax.py", "params": N, "threads": 1,
           "pinned_cpu": PINNED_CPU,
           "versions": {"jax": md.version("jax"), "optax": md.version("optax")}, "results": res}
    print(doc)
    write_json(a.out, doc)
