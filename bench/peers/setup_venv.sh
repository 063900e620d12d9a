#!/usr/bin/env bash
# Create bench/peers/.venv with the pinned Python peers used by optlab's optional
# fixture generators and peer benchmarks (jax/optax, numpy, scipy, cyipopt/Ipopt, cbx/CBXpy,
# pynomadbbo/NOMAD, cvxpy with Clarabel/ECOS/OSQP/SCS, scikit-learn + dagma for the DAG peers).
#
# Idempotent: if the venv exists and the pinned packages import with the pinned
# versions, nothing is done. Otherwise the venv is (re)created and the pins installed.
# Only PyPI is used. The Rust build and tests never need any of this.
#
# Usage: bash bench/peers/setup_venv.sh            (from anywhere)
#        FORCE=1 bash bench/peers/setup_venv.sh    (recreate from scratch)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"

# Exact pins (the versions these fixtures and benchmarks were produced with).
PINS=(
  "jax[cpu]==0.10.2"
  "jaxlib==0.10.2"
  "optax==0.2.8"
  "numpy==2.4.6"
  "scipy==1.17.1"
  "ml_dtypes==0.6.0"
  "opt_einsum==3.4.0"
  "absl-py==2.5.1"
  # Ipopt 3.14.11 (+ MUMPS, OpenBLAS) bundled in a binary cp311 wheel; import name `cyipopt`.
  # (The plain `cyipopt` sdist needs a system libipopt / ipopt.pc and does not build here.)
  "cyipopt-wheels==1.7.0.dev0"
  # CBO peer (CBXpy, import name `cbx`; cbo_cbx.py). It requires numpy, scipy and matplotlib;
  # matplotlib's own dependencies are pinned too (they were pulled in by `cbx`).
  "cbx==1.0.4"
  "matplotlib==3.11.2"
  "contourpy==1.3.3"
  "cycler==0.12.1"
  "fonttools==4.68.0"
  "kiwisolver==1.5.1"
  "packaging==26.4"
  "pillow==13.0.0"
  "pyparsing==3.3.3"
  "python-dateutil==4.0.0"
  "tzdata==2026.6"
  # MADS peer: NOMAD 4.6.0 binary cp311 wheel (bundles libgomp; no Python deps), import name
  # `PyNomad` (dsm_nomad.py).
  "pynomadbbo==4.6.0"
  # Convex two-layer ReLU peer / fixture (convex_relu_cvxpy.py, gen_convex_relu.py): cvxpy with
  # its default solvers (clarabel, scs, osqp; highspy) and ecos (no longer a cvxpy default
  # dependency since 1.6, installed explicitly). All binary cp311 / abi3 manylinux wheels.
  "cvxpy==1.9.3"
  "clarabel==0.11.1"
  "ecos==2.0.14"
  "scs==3.3.1"
  "osqp==1.1.3"
  "highspy==1.16.0"
  "qdldl==0.1.9.post1"
  "sparsediffpy==0.6.1"
  "cffi==2.1.1"
  "pycparser==3.12"
  "Jinja2==3.1.6"
  "MarkupSafe==3.0.4"
  "joblib==1.6.0"
  "cloudpickle==3.1.3"
  # DAG-learning peers (dag_peers.py, gen_dag.py): the reference TOPO code needs scikit-learn
  # (LinearRegression); its dependencies threadpoolctl, joblib (pinned above) and narwhals (a
  # scikit-learn >= 1.8 requirement). tqdm is the only import of dagma.linear besides numpy/scipy.
  "scikit-learn==1.9.1"
  "threadpoolctl==3.8.0"
  "narwhals==2.29.0"
  "tqdm==4.70.1"
  # Encoder fixture (gen_encoder.py): Hugging Face tokenizers (Rust wheel) for the golden
  # WordPiece ids; installed without its huggingface_hub dependency (NODEPS_PINS below).
)

# Installed with --no-deps: dagma declares torch and python-igraph as dependencies, but
# dagma.linear (the only part used, dag_peers.py) imports numpy, scipy and tqdm only.
NODEPS_PINS=(
  "dagma==1.1.1"
  "tokenizers==0.23.3"
)

# The import check: every pinned distribution at its pinned version.
CHECK='
import importlib.metadata as md, sys
want = {"jax": "0.10.2", "jaxlib": "0.10.2", "optax": "0.2.8", "numpy": "2.4.6",
        "scipy": "1.17.1", "ml_dtypes": "0.6.0", "opt_einsum": "3.4.0", "absl-py": "2.5.1",
        "cyipopt-wheels": "1.7.0.dev0", "cbx": "1.0.4", "matplotlib": "3.11.2", "contourpy": "1.3.3",
        "cycler": "0.12.1", "fonttools": "4.68.0", "kiwisolver": "1.5.1", "packaging": "26.4",
        "pillow": "13.0.0", "pyparsing": "3.3.3", "python-dateutil": "4.0.0", "tzdata": "2026.6",
        "pynomadbbo": "4.6.0", "cvxpy": "1.9.3", "clarabel": "0.11.1", "ecos": "2.0.14",
        "scs": "3.3.1", "osqp": "1.1.3", "highspy": "1.16.0", "qdldl": "0.1.9.post1",
        "sparsediffpy": "0.6.1", "cffi": "2.1.1", "pycparser": "3.12", "Jinja2": "3.1.6",
        "MarkupSafe": "3.0.4", "joblib": "1.6.0", "cloudpickle": "3.1.3",
        "scikit-learn": "1.9.1", "threadpoolctl": "3.8.0", "narwhals": "2.29.0", "tqdm": "4.70.1",
        "dagma": "1.1.1"}
import jax, jaxlib, optax, numpy, scipy, scipy.optimize, cyipopt  # noqa: F401
import cbx, cbx.dynamics, PyNomad  # noqa: F401
import cvxpy, clarabel, ecos, scs, osqp  # noqa: F401
import sklearn, sklearn.linear_model, threadpoolctl, tqdm, dagma.linear  # noqa: F401
bad = {k: md.version(k) for k in want if md.version(k) != want[k]}
if sys.version_info[:2] != (3, 11):
    bad["python"] = sys.version
if "torch" in sys.modules:  # dagma is installed --no-deps; nothing here may need torch
    bad["torch"] = "imported"
if bad:
    print("version mismatch:", bad); sys.exit(1)
'

if [[ "${FORCE:-0}" != "1" && -x "$VENV/bin/python" ]]; then
  if "$VENV/bin/python" -c "$CHECK" >/dev/null 2>&1; then
    echo "setup_venv: $VENV already set up (pins verified); nothing to do."
    exit 0
  fi
  echo "setup_venv: existing venv fails the pin check; recreating it."
fi

# Pick a Python 3.11 interpreter.
PY=""
if command -v python3 >/dev/null 2>&1 && \
   python3 -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; then
  # resolve shims (e.g. pyenv) to the real interpreter
  PY="$(python3 -c 'import sys; print(sys.executable)')"
elif [[ -x /root/.pyenv/versions/3.11.7/bin/python3 ]]; then
  PY=/root/.pyenv/versions/3.11.7/bin/python3
else
  echo "setup_venv: no Python 3.11 found (tried python3 and /root/.pyenv/versions/3.11.7/bin/python3)" >&2
  exit 1
fi
echo "setup_venv: using $PY ($("$PY" --version 2>&1))"

rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip
"$VENV/bin/python" -m pip install --disable-pip-version-check -q "${PINS[@]}"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q --no-deps "${NODEPS_PINS[@]}"
"$VENV/bin/python" -c "$CHECK"
echo "setup_venv: done:"
"$VENV/bin/python" -m pip freeze --disable-pip-version-check
