"""Shared helpers of the DAG-learning peer (`dag_peers.py`) and fixture generator
(`crates/optlab-classic/tests/fixtures/gen_dag.py`).

The reference codes are NOT part of this repository and are never downloaded or built by it.
They are read from local copies whose paths come from a flag or an environment variable:

  NOTEARS  (github.com/xunzheng/notears, tested at commit 4a9ab19fe502e392503da331773c5223d82d3666):
           --notears-src / $NOTEARS_SRC, default /work/peer_src/notears; file notears/linear.py
  TOPO     (github.com/Duntrain/TOPO, tested at commit dd9073889c60021ea15274fb4768e2804d0e846e):
           --topo-src / $TOPO_SRC, default /work/peer_src/TOPO; files Topo_utils.py, Topo_linear.py

e.g. `git clone https://github.com/xunzheng/notears /work/peer_src/notears` (or `git archive` of
a mirror). The copies are loaded without modification:

  - notears/linear.py is loaded by file (only numpy/scipy); notears/utils.py is not imported
    (it needs python-igraph); `count_accuracy` and `is_dag` are re-implemented below.
  - Topo_linear.py does `from topo_utils import ...` while the file is `Topo_utils.py` (works
    only on case-insensitive file systems), and Topo_utils.py does `import torch` (used only by
    its unused `squared_loss`). `load_topo` imports numpy/scipy/scikit-learn first, puts a stub
    module `torch` into sys.modules only while Topo_utils.py executes (then removes it again, so
    that scipy/scikit-learn's array-API checks never see it), and registers the module under both
    names `topo_utils` and `Topo_utils`.
  - TOPO_linear._init_W reads the module-global `X` instead of `self.X` (a bug that the
    repository's `__main__` hides because it defines a global `X`). `run_topo` sets
    `Topo_linear.X = X` before `fit` and removes it afterwards.
"""
import hashlib
import importlib.util
import os
import sys
import types

import numpy as np
import scipy.linalg  # noqa: F401  (imported before the torch stub exists)
import sklearn.linear_model  # noqa: F401  (likewise)
from sklearn.linear_model import LinearRegression

DEFAULT_NOTEARS_SRC = "/work/peer_src/notears"
DEFAULT_TOPO_SRC = "/work/peer_src/TOPO"
NOTEARS_COMMIT = "4a9ab19fe502e392503da331773c5223d82d3666"
TOPO_COMMIT = "dd9073889c60021ea15274fb4768e2804d0e846e"


def resolve_src(flag_value, env_name, default):
    return os.path.abspath(flag_value or os.environ.get(env_name) or default)


def _need(path, what, flag, env, url):
    if not os.path.isfile(path):
        sys.exit(f"{what} not found: {path} is missing.\n"
                 f"  Put a local copy of {url} there (e.g. `git clone {url} <dir>`) and pass "
                 f"{flag} <dir> or set ${env}. Nothing is downloaded by this script.")


def _load_file(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def sha256(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def load_notears(src):
    """The reference `notears_linear` function and a provenance dict."""
    path = os.path.join(src, "notears", "linear.py")
    _need(path, "reference NOTEARS", "--notears-src", "NOTEARS_SRC",
          "https://github.com/xunzheng/notears")
    mod = _load_file("notears_ref_linear", path)
    return mod.notears_linear, {"path": src, "files": {"notears/linear.py": sha256(path)},
                                "tested_commit": NOTEARS_COMMIT}


def load_topo(src):
    """The reference modules (Topo_utils, Topo_linear) and a provenance dict."""
    utils_py = os.path.join(src, "Topo_utils.py")
    linear_py = os.path.join(src, "Topo_linear.py")
    for p in (utils_py, linear_py):
        _need(p, "reference TOPO", "--topo-src", "TOPO_SRC", "https://github.com/Duntrain/TOPO")
    if "topo_utils" in sys.modules and "Topo_linear" in sys.modules:
        tu, tl = sys.modules["topo_utils"], sys.modules["Topo_linear"]
    else:
        had_torch = "torch" in sys.modules
        if not had_torch:
            stub = types.ModuleType("torch")
            stub.__doc__ = "stub inserted by bench/peers/dag_ref.py (Topo_utils imports torch but the linear code never uses it)"

            class Tensor:  # never instantiated
                pass

            stub.Tensor = Tensor
            sys.modules["torch"] = stub
        try:
            tu = _load_file("topo_utils", utils_py)
            sys.modules["Topo_utils"] = tu
            tl = _load_file("Topo_linear", linear_py)
        finally:
            if not had_torch:
                del sys.modules["torch"]
    return tu, tl, {"path": src, "files": {"Topo_utils.py": sha256(utils_py),
                                           "Topo_linear.py": sha256(linear_py)},
                    "tested_commit": TOPO_COMMIT}


# --- the linear model of Topo_linear.py's __main__ (copied: it is defined under `if __name__`) ---
def topo_regress(X, y):
    reg = LinearRegression(fit_intercept=False)
    reg.fit(X=X, y=y)
    return reg.coef_


def topo_score(X, W):
    M = X @ W
    R = X - M
    loss = 0.5 / X.shape[0] * (R ** 2).sum()
    G_loss = - 1.0 / X.shape[0] * X.T @ R
    return loss, G_loss


def make_topo_model(tl):
    """A TOPO_linear with the LS regress/score of Topo_linear.py's __main__."""
    return tl.TOPO_linear(score=topo_score, regress=topo_regress)


def clamp_sizes(d, size_small, size_large):
    """find_idx_set_updated asserts size_large <= d(d-1)/2 and indexes the sorted candidate
    values at size-1; clamp both to the number of candidate pairs d(d-1)/2."""
    m = d * (d - 1) // 2
    return max(1, min(size_small, m)), max(1, min(size_large, m))


# --- graph helpers (numpy only) ---
def topo_order(A):
    """Kahn's algorithm on the boolean adjacency A (A[i, j]: edge i -> j), smallest ready index
    first; None if A has a cycle."""
    import heapq
    A = np.asarray(A, dtype=bool)
    d = A.shape[0]
    indeg = A.sum(axis=0).astype(int)
    ready = [i for i in range(d) if indeg[i] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for j in np.flatnonzero(A[i]):
            indeg[j] -= 1
            if indeg[j] == 0:
                heapq.heappush(ready, int(j))
    return order if len(order) == d else None


def is_dag(W):
    """True if the support of W is acyclic (replaces notears.utils.is_dag, which needs igraph)."""
    A = np.asarray(W) != 0
    return topo_order(A) is not None


def reachability(A):
    """R[i, j] = there is a directed path of length >= 1 from i to j."""
    R = np.asarray(A, dtype=bool).copy()
    while True:
        R2 = R | ((R.astype(np.int64) @ R.astype(np.int64)) > 0)
        if (R2 == R).all():
            return R
        R = R2


def order_from_weights(W, threshold):
    """Topological order of the graph {i -> j : |W_ij| >= threshold, i != j}.

    If that graph has cycles, edges are dropped one at a time until it is acyclic: each time
    the edge with the smallest |W_ij| among the edges that lie on a directed cycle (j reaches i)
    is removed. Ties in the order are broken by the smallest node index (Kahn's algorithm with a
    min-heap), so the result is deterministic. Returns (order, dropped) with dropped a list of
    [i, j, W_ij]."""
    W = np.asarray(W, dtype=float)
    A = np.abs(W) >= threshold
    A &= W != 0
    np.fill_diagonal(A, False)
    dropped = []
    while True:
        order = topo_order(A)
        if order is not None:
            return order, dropped
        R = reachability(A)
        on_cycle = A & R.T
        ii, jj = np.nonzero(on_cycle)
        k = int(np.argmin(np.abs(W[ii, jj])))
        i, j = int(ii[k]), int(jj[k])
        A[i, j] = False
        dropped.append([i, j, float(W[i, j])])


def count_accuracy(B_true, B_est, check_dag=True):
    """notears/utils.py count_accuracy, line for line (is_dag re-implemented without igraph).
    check_dag=False skips only the `B_est should be a DAG` check."""
    if (B_est == -1).any():  # cpdag
        if not ((B_est == 0) | (B_est == 1) | (B_est == -1)).all():
            raise ValueError('B_est should take value in {0,1,-1}')
        if ((B_est == -1) & (B_est.T == -1)).any():
            raise ValueError('undirected edge should only appear once')
    else:  # dag
        if not ((B_est == 0) | (B_est == 1)).all():
            raise ValueError('B_est should take value in {0,1}')
        if check_dag and not is_dag(B_est):
            raise ValueError('B_est should be a DAG')
    d = B_true.shape[0]
    # linear index of nonzeros
    pred_und = np.flatnonzero(B_est == -1)
    pred = np.flatnonzero(B_est == 1)
    cond = np.flatnonzero(B_true)
    cond_reversed = np.flatnonzero(B_true.T)
    cond_skeleton = np.concatenate([cond, cond_reversed])
    # true pos
    true_pos = np.intersect1d(pred, cond, assume_unique=True)
    # treat undirected edge favorably
    true_pos_und = np.intersect1d(pred_und, cond_skeleton, assume_unique=True)
    true_pos = np.concatenate([true_pos, true_pos_und])
    # false pos
    false_pos = np.setdiff1d(pred, cond_skeleton, assume_unique=True)
    false_pos_und = np.setdiff1d(pred_und, cond_skeleton, assume_unique=True)
    false_pos = np.concatenate([false_pos, false_pos_und])
    # reverse
    extra = np.setdiff1d(pred, cond, assume_unique=True)
    reverse = np.intersect1d(extra, cond_reversed, assume_unique=True)
    # compute ratio
    pred_size = len(pred) + len(pred_und)
    cond_neg_size = 0.5 * d * (d - 1) - len(cond)
    fdr = float(len(reverse) + len(false_pos)) / max(pred_size, 1)
    tpr = float(len(true_pos)) / max(len(cond), 1)
    fpr = float(len(reverse) + len(false_pos)) / max(cond_neg_size, 1)
    # structural hamming distance
    pred_lower = np.flatnonzero(np.tril(B_est + B_est.T))
    cond_lower = np.flatnonzero(np.tril(B_true + B_true.T))
    extra_lower = np.setdiff1d(pred_lower, cond_lower, assume_unique=True)
    missing_lower = np.setdiff1d(cond_lower, pred_lower, assume_unique=True)
    shd = len(extra_lower) + len(missing_lower) + len(reverse)
    return {'fdr': fdr, 'tpr': tpr, 'fpr': fpr, 'shd': shd, 'nnz': pred_size}


def ls_score(X, W):
    """0.5/n ||X - X W||_F^2."""
    R = X - X @ W
    return float(0.5 / X.shape[0] * (R ** 2).sum())


def refit(X, W):
    """Every column j: least squares of X_j on the columns i with W_ij != 0 (i != j), solved
    through the Cholesky factor of X_P^T X_P / n with optlab's pivot test (Score::refit: a
    pivot <= 1e-12 times its diagonal entry means collinear kept parents). Returns None where
    optlab's refit errors."""
    W = np.asarray(W, dtype=float)
    n = X.shape[0]
    out = np.zeros_like(W)
    for j in range(W.shape[1]):
        parents = [i for i in np.flatnonzero(W[:, j]) if i != j]
        k = len(parents)
        if k == 0:
            continue
        Xp = X[:, parents]
        S = Xp.T @ Xp / n
        L = np.zeros((k, k))
        for r in range(k):
            for c in range(r + 1):
                v = S[r, c] - L[r, :c] @ L[c, :c]
                if r == c:
                    if not v > 1e-12 * S[r, r]:
                        return None
                    L[r, r] = np.sqrt(v)
                else:
                    L[r, c] = v / L[c, c]
        b = Xp.T @ X[:, j] / n
        y = np.linalg.solve(L, b)
        out[parents, j] = np.linalg.solve(L.T, y)
    return out


def threshold(W, t):
    W = np.array(W, dtype=float, copy=True)
    W[np.abs(W) < t] = 0.0
    return W
