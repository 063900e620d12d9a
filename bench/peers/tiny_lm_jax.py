#!/usr/bin/env python3
"""Peer of optlab's tiny causal transformer LM (optlab_nn::lm) in jax + optax.

The same architecture, written independently from the Rust code: token + learned position
embeddings; per block x + attn(ln1(x)), x + mlp(ln2(x)) with causal multi-head attention
(scale 1/sqrt(head_dim)), exact GELU, layer norm eps 1e-5 (biased variance); final layer norm;
untied head without bias; mean next-token cross-entropy. Parameters are a flat list in optlab's
order (`NAMES` below), linear weights [d_in, d_out].

Two modes:

  --fixture  writes crates/optlab-nn/tests/fixtures/tiny_lm_jax.json: a small model
             (vocab 7, ctx 6, width 8, 2 heads, 2 blocks, MLP 16) in float64 with random
             parameters, a batch of 2 x 5 tokens, and the logits, loss and gradients of every
             tensor from jax.value_and_grad. The Rust test evaluates the same parameters in
             f32 and compares.
  (default)  training throughput on Tiny Shakespeare on one CPU thread: the default optlab
             model (vocab 65, ctx 64, width 64, 4 heads, 2 blocks, MLP 256), batch 32,
             optax.adamw(lr 1e-3, b1 0.9, b2 0.999, eps 1e-8, weight_decay 0); one jitted step =
             gather the windows from the device-resident corpus, loss, grad, update. Compile +
             20 warm-up steps, then `repeats` timed runs of `steps` steps; median ms/step and
             tokens/s -> bench/out/peers/tiny_lm_jax.json.

  bench/peers/.venv/bin/python bench/peers/tiny_lm_jax.py [--fixture] [--out PATH] [--steps 200] [--repeats 3] [--no-pin]
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peerio import one_thread, write_json  # noqa: E402

PINNED_CPU = one_thread("--no-pin" not in sys.argv[1:] and "--fixture" not in sys.argv[1:])

import argparse  # noqa: E402
import importlib.metadata as md  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402

if "--fixture" in sys.argv[1:]:
    jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(REPO, "crates", "optlab-problems", "data", "tinyshakespeare.txt")
FIXTURE = os.path.join(REPO, "crates", "optlab-nn", "tests", "fixtures", "tiny_lm_jax.json")
DEFAULT_OUT = os.path.join(REPO, "bench", "out", "peers", "tiny_lm_jax.json")


def names_shapes(cfg):
    v, t, d, f = cfg["vocab"], cfg["ctx"], cfg["d_model"], cfg["d_ff"]
    out = [("tok_emb", (v, d)), ("pos_emb", (t, d))]
    for l in range(cfg["n_layer"]):
        p = f"blocks.{l}."
        out += [
            (p + "ln1.g", (d,)), (p + "ln1.b", (d,)),
            (p + "attn.qkv.w", (d, 3 * d)), (p + "attn.qkv.b", (3 * d,)),
            (p + "attn.out.w", (d, d)), (p + "attn.out.b", (d,)),
            (p + "ln2.g", (d,)), (p + "ln2.b", (d,)),
            (p + "mlp.up.w", (d, f)), (p + "mlp.up.b", (f,)),
            (p + "mlp.down.w", (f, d)), (p + "mlp.down.b", (d,)),
        ]
    out += [("ln_f.g", (d,)), ("ln_f.b", (d,)), ("head.w", (d, v))]
    return out


def layer_norm(x, g, b, eps=1e-5):
    m = x.mean(-1, keepdims=True)
    var = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / jnp.sqrt(var + eps) * g + b


def forward(params, ids, cfg):
    """Logits [B*T, vocab] for ids [B, T]; params a list in names_shapes order."""
    B, T = ids.shape
    d, h = cfg["d_model"], cfg["n_head"]
    dh = d // h
    x = params[0][ids] + params[1][:T]
    causal = jnp.tril(jnp.ones((T, T), dtype=bool))
    for l in range(cfg["n_layer"]):
        (g1, b1, wqkv, bqkv, wo, bo, g2, b2, w1, bb1, w2, bb2) = params[2 + 12 * l: 14 + 12 * l]
        a = layer_norm(x, g1, b1)
        qkv = a @ wqkv + bqkv
        q, k, v = (qkv[..., j * d:(j + 1) * d].reshape(B, T, h, dh).transpose(0, 2, 1, 3) for j in range(3))
        s = (q @ k.transpose(0, 1, 3, 2)) / jnp.sqrt(dh)
        s = jnp.where(causal, s, -jnp.inf)
        o = jax.nn.softmax(s, axis=-1) @ v
        x = x + o.transpose(0, 2, 1, 3).reshape(B, T, d) @ wo + bo
        a = layer_norm(x, g2, b2)
        x = x + jax.nn.gelu(a @ w1 + bb1, approximate=False) @ w2 + bb2
    f = 2 + 12 * cfg["n_layer"]
    x = layer_norm(x, params[f], params[f + 1])
    return (x @ params[f + 2]).reshape(B * T, cfg["vocab"])


def loss_fn(params, ids, targets, cfg):
    logits = forward(params, ids, cfg)
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.take_along_axis(logp, targets.reshape(-1, 1), axis=1).mean()


def fixture():
    cfg = dict(vocab=7, ctx=6, d_model=8, n_head=2, n_layer=2, d_ff=16)
    rng = np.random.default_rng(20261129)
    params = []
    for name, shape in names_shapes(cfg):
        if name.endswith(".g"):
            p = 1.0 + 0.2 * rng.standard_normal(shape)
        elif len(shape) == 1:
            p = 0.1 * rng.standard_normal(shape)
        else:
            p = 0.5 * rng.standard_normal(shape)
        params.append(jnp.asarray(p, dtype=jnp.float64))
    B, T = 2, 5  # T < ctx exercises the position slice
    ids = rng.integers(0, cfg["vocab"], size=(B, T))
    targets = rng.integers(0, cfg["vocab"], size=(B, T))
    loss, grads = jax.value_and_grad(loss_fn)(params, jnp.asarray(ids), jnp.asarray(targets), cfg)
    logits = forward(params, jnp.asarray(ids), cfg)
    doc = {
        "generator": "bench/peers/tiny_lm_jax.py --fixture",
        "versions": {"jax": md.version("jax"), "numpy": np.__version__},
        "config": cfg,
        "batch": B,
        "names": [n for n, _ in names_shapes(cfg)],
        "params": [np.asarray(p).ravel().tolist() for p in params],
        "inputs": ids.ravel().tolist(),
        "targets": targets.ravel().tolist(),
        "logits": np.asarray(logits).ravel().tolist(),
        "loss": float(loss),
        "grads": [np.asarray(g).ravel().tolist() for g in grads],
    }
    print("wrote", write_json(FIXTURE, doc), "loss", float(loss))


def throughput(out, steps, repeats):
    text = open(CORPUS, encoding="ascii").read()
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = np.array([index[c] for c in text], dtype=np.int32)
    train = jnp.asarray(ids[: round(0.9 * len(ids))])
    cfg = dict(vocab=len(chars), ctx=64, d_model=64, n_head=4, n_layer=2, d_ff=256)
    B, T = 32, cfg["ctx"]
    key = jax.random.PRNGKey(0)
    params = []
    for name, shape in names_shapes(cfg):
        key, sub = jax.random.split(key)
        if name.endswith(".g"):
            params.append(jnp.ones(shape, jnp.float32))
        elif len(shape) == 1:
            params.append(jnp.zeros(shape, jnp.float32))
        else:
            params.append(0.02 * jax.random.normal(sub, shape, jnp.float32))
    opt = optax.adamw(1e-3, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0)
    state = opt.init(params)
    offs = jnp.arange(T + 1)

    @jax.jit
    def train_step(params, state, starts):
        win = train[starts[:, None] + offs[None, :]]
        x, y = win[:, :-1], win[:, 1:]
        loss, g = jax.value_and_grad(loss_fn)(params, x, y, cfg)
        upd, state = opt.update(g, state, params)
        return optax.apply_updates(params, upd), state, loss

    rs = np.random.default_rng(0)
    total = 20 + repeats * steps
    starts = jnp.asarray(rs.integers(0, len(train) - T - 1, size=(total, B)), dtype=jnp.int32)
    for i in range(20):
        params, state, loss = train_step(params, state, starts[i])
    loss.block_until_ready()
    times = []
    k = 20
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            params, state, loss = train_step(params, state, starts[k])
            k += 1
        loss.block_until_ready()
        times.append(time.perf_counter() - t0)
    ms = 1e3 * statistics.median(times) / steps
    doc = {
        "generator": "bench/peers/tiny_lm_jax.py",
        "versions": {"jax": md.version("jax"), "optax": md.version("optax"), "python": platform.python_version()},
        "threads": 1,
        "pinned_cpu": PINNED_CPU,
        "config": cfg,
        "batch": B,
        "steps": steps,
        "repeats": repeats,
        "ms_per_step": ms,
        "tokens_per_s": B * T / (ms / 1e3),
        "final_loss": float(loss),
    }
    print(json.dumps(doc, indent=1))
    write_json(out, doc)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixture", action="store_true")
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-pin", action="store_true")
    a = ap.parse_args()
    if a.fixture:
        fixture()
    else:
        throughput(a.out, a.steps, a.repeats)
