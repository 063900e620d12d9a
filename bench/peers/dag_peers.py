#!/usr/bin/env python3
"""Peer benchmark: reference NOTEARS (linear), reference TOPO (linear), TOPO started from NOTEARS's
order ("post-processing") and DAGMA (PyPI `dagma`, linear) on the linear-SEM datasets that optlab
writes (`manifest.json` + CSVs, default directory bench/out/dag/data).

Methods (every one on X exactly as read from the CSV; optlab writes it mean-centred):
  notears     notears/linear.py notears_linear(X, lambda1, loss_type, w_threshold=0.0) with
              lambda1/loss_type from the manifest's "notears" block (max_iter, h_tol, rho_max at
              their defaults). Called with w_threshold = 0 so that the raw W is available; the
              manifest's w_threshold is then applied exactly as notears_linear's last line does.
  topo        Topo_linear.TOPO_linear(score, regress) with the LS score and
              LinearRegression(fit_intercept=False) regress of Topo_linear.py's __main__, from
              the manifest's init_order with its "topo" size_small / size_large / no_large_search
              (both sizes clamped to d(d-1)/2, which find_idx_set_updated asserts).
  topo_post   the same TOPO started from the order of the thresholded NOTEARS graph
              (dag_ref.order_from_weights: topological sort, smallest index first; if that
              graph has cycles, the smallest-|w| edge lying on a cycle is dropped until it is
              acyclic). time_s is TOPO's fit alone; time_s_total adds NOTEARS's time.
  dagma       DagmaLinear(loss_type='l2').fit(X, lambda1=0.02) with every other argument at its
              default; only if `dagma` imports (dagma.linear needs numpy/scipy/tqdm, not torch).
              Called with w_threshold = 0 and thresholded afterwards at the signature default
              (0.3) -- fit applies that threshold in place as its last step, so this is the
              default call plus access to the raw W. fit centres self.X in place: X.copy() is
              passed.

Metrics per (dataset, method): score = 0.5/n ||X - X W||_F^2 of W thresholded at
--w-threshold (|w| < 0.3 -> 0), score_raw = the same for the unthresholded W, score_refit =
the same after refitting the thresholded support (dag_ref.refit), shd / tpr / fdr /
fpr / nnz = notears.utils.count_accuracy (re-implemented in dag_ref.py, no igraph) of the
thresholded support against truth.csv, time_s = wall time of the fit call only
(time.perf_counter), is_dag of the thresholded support. Single-threaded BLAS.

Reference copies: --notears-src / $NOTEARS_SRC (default /work/peer_src/notears),
--topo-src / $TOPO_SRC (default /work/peer_src/TOPO); see dag_ref.py. Nothing is downloaded.

  bench/peers/.venv/bin/python bench/peers/dag_peers.py [--data DIR] [--out PATH] [--quick]
      [--methods notears,topo,topo_post,dagma] [--only NAME ...] [--store-w]
"""

import os

THREAD_ENV = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
os.environ.update(THREAD_ENV)
os.environ.setdefault("TQDM_DISABLE", "1")  # dagma wraps its loop in a tqdm progress bar

import argparse  # noqa: E402
import contextlib  # noqa: E402
import importlib.metadata as md  # noqa: E402
import inspect  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import scipy.linalg as sla  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dag_ref as R  # noqa: E402
from peerio import write_json  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_DATA = os.path.join(REPO, "bench", "out", "dag", "data")
DEFAULT_OUT = os.path.join(REPO, "bench", "out", "peers", "dag.json")
ALL_METHODS = ("notears", "topo", "topo_post", "dagma")
DAGMA_LAMBDA1 = 0.02


def version(dist):
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def read_dataset(data_dir, entry):
    path = os.path.join(data_dir, entry["csv"])
    with open(path) as fh:
        header = fh.readline().strip().split(",")
    X = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    if X.shape[1] != len(header):
        raise ValueError(f"{path}: header has {len(header)} names, rows have {X.shape[1]} values")
    d = X.shape[1]
    B = np.zeros((d, d), dtype=int)
    tpath = os.path.join(data_dir, entry["truth"])
    with open(tpath) as fh:
        for line in fh:
            parts = [p.strip() for p in line.strip().split(",")]
            if len(parts) < 2 or not parts[0].lstrip("-").isdigit():
                continue  # header ("cause,effect") or blank line
            B[int(parts[0]), int(parts[1])] = 1
    return header, X, B


def metrics(X, W_raw, B_true, w_threshold):
    W = R.threshold(W_raw, w_threshold)
    dag = R.is_dag(W)
    W_refit = R.refit(X, W)
    row = {"score": R.ls_score(X, W), "score_raw": R.ls_score(X, W_raw),
           "score_refit": None if W_refit is None else R.ls_score(X, W_refit), "is_dag": bool(dag)}
    if W_refit is None:
        row["score_refit_note"] = "a node's kept parents are collinear (optlab's refit errors too)"
    acc = R.count_accuracy(B_true, W != 0, check_dag=False)
    if not dag:
        row["count_accuracy_note"] = ("thresholded estimate is not a DAG: notears' count_accuracy "
                                      "would raise; metrics computed with the DAG check skipped")
    row.update({k: acc[k] for k in ("shd", "tpr", "fdr", "fpr", "nnz")})
    return row


def run_notears(notears_linear, X, cfg):
    t0 = time.perf_counter()
    W_raw = notears_linear(X, lambda1=cfg["lambda1"], loss_type=cfg["loss_type"], w_threshold=0.0)
    return W_raw, time.perf_counter() - t0


def run_topo(tu, tl, X, init_order, cfg):
    """Reference TOPO_linear.fit; returns (W, order, loss, seconds, info)."""
    n, d = X.shape
    small, large = R.clamp_sizes(d, int(cfg["size_small"]), int(cfg["size_large"]))
    counts = {"candidate_sets": 0, "score_evals": 0}
    orig_find = tl.find_idx_set_updated

    def find_counted(*a, **k):
        counts["candidate_sets"] += 1
        return orig_find(*a, **k)

    def score_counted(X, W):
        counts["score_evals"] += 1
        return R.topo_score(X, W)

    model = tl.TOPO_linear(score=score_counted, regress=R.topo_regress)
    tl.find_idx_set_updated = find_counted
    tl.X = X  # Topo_linear._init_W reads the module-global X (bug in the reference code)
    buf = io.StringIO()
    try:
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(buf):
            W, order, _, loss = model.fit(X=X, topo=[int(v) for v in init_order],
                                          no_large_search=int(cfg["no_large_search"]),
                                          size_small=small, size_large=large)
        secs = time.perf_counter() - t0
    finally:
        tl.find_idx_set_updated = orig_find
        del tl.X
    info = {"size_small": small, "size_large": large, "no_large_search": int(cfg["no_large_search"]),
            "init_order": [int(v) for v in init_order], "order": [int(v) for v in order],
            "topo_loss": float(loss),
            # order updates (= TOPO's iter_count): one candidate set is computed at the start
            # and one after every update; the final pass that finds no improvement computes none
            "outer_iterations": counts["candidate_sets"] - 1,
            "score_evals": counts["score_evals"],
            "stop_message": buf.getvalue().strip()}
    if (small, large) != (int(cfg["size_small"]), int(cfg["size_large"])):
        info["sizes_clamped_from"] = [int(cfg["size_small"]), int(cfg["size_large"])]
    return np.asarray(W, dtype=float), secs, info


def load_dagma():
    try:
        from dagma.linear import DagmaLinear
    except Exception as e:  # noqa: BLE001
        return None, f"`from dagma.linear import DagmaLinear` failed: {type(e).__name__}: {e}"
    if "torch" in sys.modules:
        return None, "importing dagma.linear pulled in torch; skipped by policy"
    return DagmaLinear, None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=DEFAULT_DATA, help="directory with manifest.json")
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--quick", action="store_true",
                    help='only entries with "quick": true (if any entry has the key)')
    ap.add_argument("--methods", default=",".join(ALL_METHODS))
    ap.add_argument("--only", nargs="*", default=None, help="dataset names to run")
    ap.add_argument("--w-threshold", type=float, default=0.3, help="metric threshold")
    ap.add_argument("--store-w", action="store_true", help="store the raw W of every row")
    ap.add_argument("--notears-src", default=None)
    ap.add_argument("--topo-src", default=None)
    args = ap.parse_args()

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in ALL_METHODS]
    if bad:
        sys.exit(f"dag_peers.py: unknown method(s) {bad}; choose from {ALL_METHODS}")
    manifest_path = os.path.join(args.data, "manifest.json")
    if not os.path.isfile(manifest_path):
        sys.exit(f"dag_peers.py: {manifest_path} not found (write the datasets with optlab first)")
    with open(manifest_path) as fh:
        manifest = json.load(fh)
    entries = manifest["datasets"]
    if args.quick and any("quick" in e for e in entries):
        entries = [e for e in entries if e.get("quick")]
    if args.only:
        entries = [e for e in entries if e["name"] in set(args.only)]

    notears_src = R.resolve_src(args.notears_src, "NOTEARS_SRC", R.DEFAULT_NOTEARS_SRC)
    topo_src = R.resolve_src(args.topo_src, "TOPO_SRC", R.DEFAULT_TOPO_SRC)
    refs = {}
    notears_linear = None
    if {"notears", "topo_post"} & set(methods):
        notears_linear, refs["notears"] = R.load_notears(notears_src)
    tu = tl = None
    if {"topo", "topo_post"} & set(methods):
        tu, tl, refs["topo"] = R.load_topo(topo_src)
    DagmaLinear, dagma_skip = (None, "not requested")
    dagma_defaults = None
    if "dagma" in methods:
        DagmaLinear, dagma_skip = load_dagma()
        if DagmaLinear is not None:
            sig = inspect.signature(DagmaLinear.fit)
            dagma_defaults = {k: v.default for k, v in sig.parameters.items()
                              if k not in ("self", "X") and v.default is not inspect.Parameter.empty}

    load_start = list(os.getloadavg())
    rows, skipped = [], []
    for e in entries:
        name = e["name"]
        header, X, B = read_dataset(args.data, e)
        n, d = X.shape
        base = {"dataset": name, "n": n, "d": d, "true_edges": int(B.sum())}
        nt_cfg = {"lambda1": 0.1, "loss_type": "l2", "w_threshold": 0.3, **e.get("notears", {})}
        tp_cfg = {"size_small": 100, "size_large": 1000, "no_large_search": 1, **e.get("topo", {})}
        W_nt, t_nt = None, None

        def add(method, W_raw, secs, extra):
            row = {**base, "method": method, **metrics(X, W_raw, B, args.w_threshold),
                   "time_s": secs, **extra}
            if args.store_w:
                row["W_raw"] = np.asarray(W_raw).tolist()
            rows.append(row)
            print(f"  {name:>24} {method:>9}: score {row['score']:.6f} (raw {row['score_raw']:.6f}) "
                  f"shd {row['shd']:3d} nnz {row['nnz']:3d} dag {row['is_dag']} {secs:8.3f}s", flush=True)

        if notears_linear is not None:
            W_nt, t_nt = run_notears(notears_linear, X, nt_cfg)
            h_nt = float(np.trace(sla.expm(W_nt * W_nt)) - d)
            if "notears" in methods:
                add("notears", W_nt, t_nt, {"params": nt_cfg, "h_raw": h_nt})
        if "topo" in methods:
            W, secs, info = run_topo(tu, tl, X, e["init_order"], tp_cfg)
            add("topo", W, secs, info)
        if "topo_post" in methods:
            order, dropped = R.order_from_weights(W_nt, nt_cfg["w_threshold"])
            W, secs, info = run_topo(tu, tl, X, order, tp_cfg)
            info.update({"notears_edges_dropped_for_order": dropped, "time_s_notears": t_nt,
                         "time_s_total": t_nt + secs})
            add("topo_post", W, secs, info)
        if "dagma" in methods:
            if DagmaLinear is None:
                skipped.append({"dataset": name, "method": "dagma", "reason": dagma_skip})
            else:
                thr = dagma_defaults["w_threshold"]
                model = DagmaLinear(loss_type="l2")
                t0 = time.perf_counter()
                W_raw = model.fit(X.copy(), lambda1=DAGMA_LAMBDA1, w_threshold=0.0)
                secs = time.perf_counter() - t0
                W_raw = np.array(W_raw, dtype=float)
                W_d = R.threshold(W_raw, thr)
                add("dagma", W_raw, secs, {"params": {"loss_type": "l2", "lambda1": DAGMA_LAMBDA1,
                                                      "w_threshold": thr},
                                           "h_final": float(model.h_final),
                                           "score_final": float(model.score_final),
                                           "dagma_threshold_is_dag": bool(R.is_dag(W_d))})

    doc = {
        "benchmark": "dag_peers",
        "peers": {"notears": "xunzheng/notears notears/linear.py notears_linear (local copy)",
                  "topo": "Duntrain/TOPO Topo_linear.TOPO_linear (local copy)",
                  "dagma": "PyPI dagma, dagma.linear.DagmaLinear"},
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "scipy": version("scipy"), "scikit-learn": version("scikit-learn"),
                     "threadpoolctl": version("threadpoolctl"), "joblib": version("joblib"),
                     "dagma": version("dagma"), "tqdm": version("tqdm"), "references": refs},
        "threads": THREAD_ENV,
        "cpu": {"machine": platform.machine(), "os_cpu_count": os.cpu_count(),
                "affinity_cpus": len(os.sched_getaffinity(0))},
        "loadavg_at_start": load_start,
        "loadavg_at_end": list(os.getloadavg()),
        "data": os.path.abspath(args.data),
        "quick": args.quick,
        "methods": methods,
        "metric_w_threshold": args.w_threshold,
        "dagma": {"available": DagmaLinear is not None, "skip_reason": dagma_skip if DagmaLinear is None else None,
                  "fit_defaults": dagma_defaults, "lambda1": DAGMA_LAMBDA1},
        "notes": {
            "score": "0.5/n ||X - X W||_F^2 of W with |w| < metric_w_threshold set to 0; score_raw: unthresholded W; "
                     "score_refit: the thresholded support refit (every node regressed on its kept parents, numpy lstsq)",
            "accuracy": "shd/tpr/fdr/fpr/nnz: notears.utils.count_accuracy on the thresholded support vs truth.csv",
            "time_s": "wall time (time.perf_counter) of the fit call only; topo_post: TOPO only (time_s_total adds NOTEARS)",
            "notears": "called with w_threshold=0; the manifest's w_threshold applied afterwards (as its last line does); h_raw = tr(expm(W*W)) - d of the raw W",
            "topo": ("reference TOPO_linear with the LS score / LinearRegression(fit_intercept=False) of "
                     "Topo_linear.py's __main__; Topo_linear.X set to X before fit (its _init_W reads the "
                     "global X); torch stubbed only while Topo_utils is imported; topo_loss is fit's "
                     "returned loss (= score_raw); outer_iterations/score_evals counted by wrapping "
                     "find_idx_set_updated and score in memory"),
            "topo_post": ("init order = dag_ref.order_from_weights(W_notears_raw, notears w_threshold): "
                          "Kahn topological sort, smallest index first; on cycles the smallest-|w| edge on "
                          "a cycle is dropped repeatedly (listed in notears_edges_dropped_for_order)"),
            "dagma": "fit(X.copy(), lambda1=0.02, w_threshold=0) then thresholded at the fit default (0.3)",
        },
        "skipped": skipped,
        "rows": rows,
    }
    print("dag_peers: wrote", write_json(args.out, doc))


if __name__ == "__main__":
    main()
