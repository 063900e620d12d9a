#!/usr/bin/env python3
"""Peer benchmark: MLP training throughput with jax + optax on one CPU thread.

Digits (crates/optlab-problems/data/digits.csv), pixels / 16, stratified 80/20 split with the
same per-class sizes as optlab's `stratified_split` (1437 train / 360 test; the rows differ
because the shuffles use different RNGs, which does not matter for throughput).
MLP 64-256-256-10, ReLU, softmax cross-entropy (mean over the batch), float32, batch 128.
Optimizers: optax.lion(lr=3e-4, b1=0.9, b2=0.99, weight_decay=1e-2) and
optax.adamw(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-3), constant lr, weight
decay on all parameters (no mask).

One jitted train step = gather the batch rows from the device-resident training set, loss,
grad, optimizer update, apply. Batch indices are drawn (with replacement across steps,
without replacement within a batch) from the 1437 training rows with a fixed seed and
precomputed outside the timed region. Per optimizer: compile + 50 warm-up steps, then
`repeats` timed runs of `steps` steps each (block_until_ready at the end); the median is
reported as ms/step and samples/s. The process is pinned to one CPU (the last one it may run
on) unless --no-pin is given; `cpu_time_over_wall` (process CPU time / wall time of each timed
run) shows whether more than one core was busy.

  bench/peers/.venv/bin/python bench/peers/mlp_optax.py [--out PATH] [--steps 2000] [--repeats 3] [--no-pin]
"""

import os

# Single-threaded CPU: must be set before jax (and numpy) are imported.
XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
THREAD_ENV = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
os.environ["XLA_FLAGS"] = XLA_FLAGS
os.environ.update(THREAD_ENV)
# Pin the whole process (and every thread jax starts later) to one CPU, so that XLA's
# runtime threads and jax's asynchronous dispatch cannot overlap on a second core.
# Disable with --no-pin (checked here because it must happen before jax is imported).
import sys  # noqa: E402

AFFINITY_BEFORE = sorted(os.sched_getaffinity(0))
PINNED_CPU = None
if "--no-pin" not in sys.argv[1:]:
    PINNED_CPU = AFFINITY_BEFORE[-1]
    os.sched_setaffinity(0, {PINNED_CPU})

import argparse  # noqa: E402
import importlib.metadata as md  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(REPO, "crates", "optlab-problems", "data", "digits.csv")
DEFAULT_OUT = os.path.join(REPO, "bench", "out", "peers", "mlp_optax.json")
SIZES = (64, 256, 256, 10)
BATCH = 128
WARMUP_STEPS = 50

OPTIMIZERS = {
    "lion": dict(lr=3e-4, b1=0.9, b2=0.99, weight_decay=1e-2),
    "adamw": dict(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-3),
}


def make_optimizer(name):
    h = OPTIMIZERS[name]
    if name == "lion":
        return optax.lion(h["lr"], b1=h["b1"], b2=h["b2"], weight_decay=h["weight_decay"])
    return optax.adamw(h["lr"], b1=h["b1"], b2=h["b2"], eps=h["eps"], weight_decay=h["weight_decay"])


def load_digits(path=DATA):
    raw = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)
    assert raw.shape == (1797, 65)
    return (raw[:, :64] / 16.0).astype(np.float32), raw[:, 64].astype(np.int32)


def stratified_split(y, test_fraction=0.2, seed=0):
    """Same sizes as optlab_problems::stratified_split: ceil(f*n) test rows, floor per class,
    remainder to the largest fractional parts (ties: lower class first)."""
    classes = [np.flatnonzero(y == c) for c in range(int(y.max()) + 1)]
    n_test = math.ceil(test_fraction * len(y) - 1e-9)
    want = [test_fraction * len(r) for r in classes]
    take = [math.floor(w) for w in want]
    order = sorted(range(len(classes)), key=lambda c: (-(want[c] - math.floor(want[c])), c))
    missing = n_test - sum(take)
    for c in order * 2:
        if missing == 0:
            break
        if take[c] < len(classes[c]):
            take[c] += 1
            missing -= 1
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c, rows in enumerate(classes):
        rows = rng.permutation(rows)
        test.extend(rows[: take[c]])
        train.extend(rows[take[c]:])
    return np.sort(np.array(train)), np.sort(np.array(test))


def init_params(key):
    params = []
    for i, (fan_in, fan_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        key, sub = jax.random.split(key)
        bound = math.sqrt(6.0 / fan_in)  # He-uniform for ReLU
        w = jax.random.uniform(sub, (fan_in, fan_out), jnp.float32, -bound, bound)
        params.append({"w": w, "b": jnp.zeros((fan_out,), jnp.float32)})
    return params


def forward(params, x):
    for layer in params[:-1]:
        x = jax.nn.relu(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def loss_fn(params, x, y):
    return optax.softmax_cross_entropy_with_integer_labels(forward(params, x), y).mean()


def make_step(opt, Xtr, ytr):
    @jax.jit
    def step(params, opt_state, idx):
        x, y = Xtr[idx], ytr[idx]
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return step


def main():
    ap = argparse.ArgumentParser(description="jax/optax MLP training-throughput peer")
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    args = ap.parse_args()

    loadavg_start = list(os.getloadavg())
    X, y = load_digits()
    tr, te = stratified_split(y, 0.2, args.seed)
    assert (len(tr), len(te)) == (1437, 360), (len(tr), len(te))
    Xtr, ytr = jax.device_put(X[tr]), jax.device_put(y[tr])
    Xte, yte = jax.device_put(X[te]), jax.device_put(y[te])

    rng = np.random.default_rng(args.seed + 1)
    n_idx = WARMUP_STEPS + args.repeats * args.steps
    idx_np = np.stack([rng.choice(len(tr), BATCH, replace=False) for _ in range(n_idx)]).astype(np.int32)
    idx = [jax.device_put(i) for i in idx_np]  # device-resident, outside the timed region

    n_params = sum(a.size for a in jax.tree.leaves(init_params(jax.random.PRNGKey(args.seed))))
    results = {}
    for name in OPTIMIZERS:
        opt = make_optimizer(name)
        params = init_params(jax.random.PRNGKey(args.seed))
        opt_state = opt.init(params)
        step = make_step(opt, Xtr, ytr)
        t0 = time.perf_counter()
        params, opt_state, loss = step(params, opt_state, idx[0])
        jax.block_until_ready(params)
        compile_s = time.perf_counter() - t0
        for t in range(1, WARMUP_STEPS):
            params, opt_state, loss = step(params, opt_state, idx[t])
        jax.block_until_ready(params)
        first_loss = float(loss)

        times, cpu_ratio = [], []
        pos = WARMUP_STEPS
        for _ in range(args.repeats):
            batch_idx = idx[pos: pos + args.steps]
            pos += args.steps
            c0, t0 = time.process_time(), time.perf_counter()
            for i in batch_idx:
                params, opt_state, loss = step(params, opt_state, i)
            jax.block_until_ready((params, opt_state, loss))
            wall = time.perf_counter() - t0
            times.append(wall)
            cpu_ratio.append((time.process_time() - c0) / wall)
        med = statistics.median(times)
        acc = float(jnp.mean(jnp.argmax(forward(params, Xte), axis=1) == yte))
        n_state = sum(a.size for a in jax.tree.leaves(opt_state) if a.ndim > 0)
        results[name] = {
            "hyper": OPTIMIZERS[name],
            "compile_plus_first_step_s": compile_s,
            "steps_per_repeat": args.steps,
            "times_s": times,
            "time_s_median": med,
            "ms_per_step": 1e3 * med / args.steps,
            "samples_per_s": args.steps * BATCH / med,
            "cpu_time_over_wall": cpu_ratio,
            "loss_after_warmup": first_loss,
            "final_train_batch_loss": float(loss),
            "test_accuracy_after_run": acc,
            "total_steps_trained": WARMUP_STEPS + args.repeats * args.steps,
            "optimizer_state_floats": int(n_state),
        }
        r = results[name]
        print(
            f"{name:6s} {r['samples_per_s']:10.0f} samples/s  {r['ms_per_step']:.3f} ms/step  "
            f"(times {', '.join(f'{t:.3f}' for t in times)} s; cpu/wall {', '.join(f'{c:.2f}' for c in cpu_ratio)}; "
            f"compile {compile_s:.2f} s; test acc {acc:.4f})"
        )

    doc = {
        "benchmark": "mlp_optax",
        "peer": "jax + optax (CPU, single thread)",
        "versions": {
            "python": platform.python_version(),
            **{k: md.version(k) for k in ("jax", "jaxlib", "optax", "numpy")},
        },
        "settings": {
            "data": "crates/optlab-problems/data/digits.csv",
            "n_train": int(len(tr)),
            "n_test": int(len(te)),
            "pixel_scale": "1/16",
            "layers": list(SIZES),
            "activation": "relu",
            "init": "He-uniform weights, zero biases (jax.random.PRNGKey(seed))",
            "n_params": int(n_params),
            "loss": "softmax cross-entropy with integer labels, mean over batch",
            "dtype": "float32",
            "batch_size": BATCH,
            "sampling": "per step: 128 distinct training rows (numpy default_rng(seed+1)), precomputed",
            "warmup_steps": WARMUP_STEPS,
            "steps_per_repeat": args.steps,
            "repeats": args.repeats,
            "statistic": "median",
            "seed": args.seed,
            "jit": "one jax.jit step: gather batch, value_and_grad, opt.update, apply_updates",
        },
        "threads": {"XLA_FLAGS": os.environ.get("XLA_FLAGS"), **{k: os.environ.get(k) for k in THREAD_ENV}},
        "cpu": {
            "machine": platform.machine(),
            "os_cpu_count": os.cpu_count(),
            "affinity_before_pin": AFFINITY_BEFORE,
            "pinned_cpu": PINNED_CPU,
            "affinity": sorted(os.sched_getaffinity(0)),
            "jax_devices": str(jax.devices()),
            "loadavg_at_start": loadavg_start,
            "loadavg_at_end": list(os.getloadavg()),
        },
        "results": results,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(doc, fh, indent=1, allow_nan=False)
        fh.write("\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
