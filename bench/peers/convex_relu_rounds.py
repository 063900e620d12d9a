#!/usr/bin/env python3
"""Convex two-layer ReLU program: optlab's ADMM vs cvxpy + Clarabel, interleaved rounds.

On a shared machine whose speed drifts by up to 2x within minutes, a peer timing stored in one
hour and an optlab timing from another compare the hours, not the solvers. Each round here
solves both bench problems with cvxpy + Clarabel (`convex_relu_cvxpy.py --solvers CLARABEL`,
one thread, build + solve time) and then runs optlab's bench setting (over-relaxed ADMM with
row-equilibrated cones, α = 1.8, ρ = 7e-4, `eval_every = check_every = 10`, 4000 iterations,
one thread) on each, and reports per round and problem:

  cp_s    the time from which the CP objective stays within 1e-4 (relative) of cvxpy's optimum;
  net_s   the time from which the recovered ReLU network's training objective stays at or below
          (1 + 1e-4) x cvxpy's optimum (a network as good as cvxpy's solution);
  ratio   cvxpy's time / each of them.

Both times are taken from the run's records (`time_s` of the evaluated rows, every 10
iterations) plus the run's overhead outside the iterations: the `optlab run` process's wall
time minus the run's own `wall_time_s` (loading the data, sampling the patterns, the one
factorization, writing the record), so they are conservative. Medians over the rounds and the
ranges are printed; the rounds and the summary are written to `summary.json` in the `--out`
directory (default bench/out/convex-relu-rounds), with each round's cvxpy output beside it.

  bench/peers/.venv/bin/python bench/peers/convex_relu_rounds.py [--rounds 5]
  (needs `cargo build --release -p optlab-cli` and the exported problems of
  `optlab bench --only convex-relu` in bench/out/convex_relu/data; ~1 min a round)
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from peerio import write_json  # noqa: E402

BIN = os.path.join(REPO, "target", "release", "optlab")
PROBLEMS = {"relu-breast-cancer": "relu-breast-cancer-p50", "relu-digits": "relu-digits-p50"}
SETTING = [
    "max_iters=4000",
    "eval_every=10",
    "check_every=10",
    "relaxation=1.8",
    "rho=7e-4",
    'cone_scaling="row-norm"',
]
REL = 1e-4


def stays_from(rows, ok):
    """time_s of the first evaluated row from which every later evaluated row satisfies ok."""
    t = None
    for r in rows:
        if ok(r):
            if t is None:
                t = r["time_s"]
        else:
            t = None
    return t


def optlab_run(problem, workdir):
    out = os.path.join(workdir, problem)
    cmd = [BIN, "run", "convex-relu-admm", "--problem", problem, "--threads", "1"]
    for s in SETTING:
        cmd += ["--set", s]
    cmd += ["--out", out, "--no-progress", "--json"]
    t0 = time.perf_counter()
    # A run that stops at its iteration limit exits with status 3 (not converged), as intended;
    # the status in the summary tells that apart from the other non-zero exits.
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    try:
        summary = json.loads(res.stdout)
    except json.JSONDecodeError:
        sys.exit(f"optlab run failed ({res.returncode}): {res.stderr}")
    kind = summary.get("status", {}).get("kind")
    if kind not in ("converged", "max_iterations"):
        sys.exit(f"optlab run on {problem} ended with status {summary.get('status')}")
    run_dir = summary["run_dir"]
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    rows = [r for r in rows if "network_objective" in r]
    return rows, wall - summary["wall_time_s"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(REPO, "bench", "out", "convex-relu-rounds"))
    args = ap.parse_args()
    if args.rounds < 1:
        sys.exit("--rounds must be >= 1")
    if not os.access(BIN, os.X_OK):
        sys.exit(f"build first: cargo build --release -p optlab-cli ({BIN} missing)")
    os.makedirs(args.out, exist_ok=True)
    results = []
    for r in range(1, args.rounds + 1):
        peer = os.path.join(args.out, f"round-{r}-cvxpy.json")
        res = subprocess.run(
            [sys.executable, os.path.join(HERE, "convex_relu_cvxpy.py"), "--solvers", "CLARABEL",
             "--out", peer],
            check=False, capture_output=True, text=True)
        if res.returncode != 0:
            sys.exit(f"convex_relu_cvxpy.py failed ({res.returncode}):\n{res.stderr}")
        with open(peer) as f:
            prow = {row["problem"]: row for row in json.load(f)["rows"]
                    if row.get("solver") == "CLARABEL"}
        with tempfile.TemporaryDirectory() as work:
            for problem, peer_name in PROBLEMS.items():
                row = prow.get(peer_name)
                if row is None or row.get("objective") is None:
                    sys.exit(f"round {r}: no CLARABEL objective for {peer_name} in {peer}")
                if not str(row.get("status", "")).startswith("optimal"):
                    sys.exit(f"round {r}: cvxpy status {row.get('status')!r} on {peer_name}")
                opt = row["objective"]
                t_cvx = row["build_s"] + row["solve_s"]
                rows, overhead = optlab_run(problem, work)
                cp = stays_from(rows, lambda m: abs(m["objective"] - opt) <= REL * abs(opt))
                net = stays_from(rows, lambda m: m["network_objective"] <= opt + REL * abs(opt))
                rec = {
                    "round": r,
                    "problem": problem,
                    "cvxpy_s": t_cvx,
                    "optimum": opt,
                    "overhead_s": overhead,
                    "cp_s": None if cp is None else cp + overhead,
                    "net_s": None if net is None else net + overhead,
                }
                for k in ("cp", "net"):
                    v = rec[f"{k}_s"]
                    rec[f"{k}_ratio"] = None if v is None else t_cvx / v
                results.append(rec)
                fmt = lambda v: "not reached" if v is None else f"{v:.3f}"  # noqa: E731
                print(f"round {r} {problem}: cvxpy {t_cvx:.2f} s; CP within 1e-4 "
                      f"{fmt(rec['cp_s'])} s ({fmt(rec['cp_ratio'])}x); network "
                      f"{fmt(rec['net_s'])} s ({fmt(rec['net_ratio'])}x); overhead "
                      f"{overhead:.3f} s", flush=True)
    summary = {}
    for problem in PROBLEMS:
        mine = [x for x in results if x["problem"] == problem]
        entry = {}
        for k in ("cp_ratio", "net_ratio", "cvxpy_s", "cp_s", "net_s"):
            vals = [x[k] for x in mine]
            if any(v is None for v in vals):
                entry[k] = {"median": None, "missing": sum(v is None for v in vals)}
                continue
            entry[k] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}
        summary[problem] = entry
        line = ", ".join(
            f"{k} median {e['median']:.3g} ({e['min']:.3g}-{e['max']:.3g})"
            if e.get("median") is not None else f"{k} missing in {e['missing']} rounds"
            for k, e in entry.items())
        print(f"{problem} over {len(mine)} rounds: {line}")
    write_json(os.path.join(args.out, "summary.json"),
               {"benchmark": "convex-relu-rounds", "setting": SETTING, "rel": REL,
                "rounds": results, "summary": summary})


if __name__ == "__main__":
    main()
