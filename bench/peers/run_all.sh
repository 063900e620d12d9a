#!/usr/bin/env bash
# Optional peer benchmarks: set up the pinned venv, then write
#   bench/out/peers/grn_scipy.json   (scipy Newton-CG / trust-exact / L-BFGS-B on logistic regression)
#   bench/out/peers/mlp_optax.json   (jax+optax MLP training throughput, one CPU thread)
#   bench/out/peers/tiny_lm_jax.json (jax+optax tiny transformer LM training tokens/s, one CPU thread)
#   bench/out/peers/optimizer_steps_optax.json (optax Lion/AdamW/AdaGrad on 10M params; SAM overhead)
#   bench/out/peers/galore_jax.json  (GaLore / Natural GaLore step and refresh cost in jax + optax)
#   bench/out/peers/constrained.json (Ipopt / SLSQP / trust-constr on 19 HS problems + Poisson control)
#   bench/out/peers/cbo_cbx.json     (CBXpy CBO on Rastrigin / Ackley, d = 2/10/20, + update throughput)
#   bench/out/peers/dsm_nomad.json   (NOMAD 4 MADS on branin / rosenbrock / hartmann6 / styblinski_tang)
#   bench/out/peers/convex_relu.json (cvxpy + Clarabel / SCS / ECOS on the convex two-layer ReLU programs
#                                     optlab exported to bench/out/convex_relu/data; skipped without them)
#   bench/out/peers/dag.json         (reference NOTEARS / TOPO / TOPO-after-NOTEARS and DAGMA on the
#                                     linear-SEM datasets optlab wrote to bench/out/dag/data; skipped
#                                     without them or without the local reference copies, see below)
# `optlab bench` reads every JSON above that exists (the kernels, grn, lion, lm, constrained, dfo,
# convex-relu and dag sections print the peer's figures next to optlab's).
# Nothing here is needed by the Rust tests.
#
# Usage: bash bench/peers/run_all.sh [--fixtures]
#   --fixtures  also regenerate the golden fixtures checked into the repository:
#               crates/optlab-classic/tests/fixtures/logreg_breast_cancer.json,
#               crates/optlab-nn/tests/fixtures/lion_optax.json,
#               crates/optlab-nn/tests/fixtures/tiny_lm_jax.json,
#               crates/optlab-nn/tests/fixtures/tiny_encoder/ + tiny_encoder_golden.json
#               (gen_encoder.py; add `--real DIR` by hand to refresh minilm_real_golden.json),
#               crates/optlab-nn/tests/fixtures/sam_optax.json, adagrad_optax.json,
#               crates/optlab-problems/tests/fixtures/hs_derivatives.json,
#               crates/optlab-classic/tests/fixtures/convex_relu.json and
#               crates/optlab-classic/tests/fixtures/dag_golden.json (needs the reference copies)
# The DAG scripts read local copies of github.com/xunzheng/notears and github.com/Duntrain/TOPO
# from $NOTEARS_SRC / $TOPO_SRC (defaults /work/peer_src/notears, /work/peer_src/TOPO); nothing
# is downloaded. Without them the DAG steps are skipped with a message.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PY="$HERE/.venv/bin/python"
OUT="$ROOT/bench/out/peers"

FIXTURES=0
for arg in "$@"; do
  case "$arg" in
    --fixtures) FIXTURES=1 ;;
    *) echo "run_all.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

bash "$HERE/setup_venv.sh"
mkdir -p "$OUT"

GRN_ARGS=(--out "$OUT/grn_scipy.json")
if [[ "$FIXTURES" == 1 ]]; then
  GRN_ARGS+=(--fixture)
  "$PY" "$ROOT/crates/optlab-nn/tests/fixtures/gen_lion.py"
  "$PY" "$HERE/tiny_lm_jax.py" --fixture
  "$PY" "$ROOT/crates/optlab-nn/tests/fixtures/gen_encoder.py"
  "$PY" "$ROOT/crates/optlab-nn/tests/fixtures/gen_sam.py"
  "$PY" "$ROOT/crates/optlab-nn/tests/fixtures/gen_adagrad.py"
  "$PY" "$ROOT/crates/optlab-problems/tests/fixtures/gen_constrained.py"
  "$PY" "$ROOT/crates/optlab-classic/tests/fixtures/gen_convex_relu.py"   # ~10 s
fi
NOTEARS_SRC="${NOTEARS_SRC:-/work/peer_src/notears}"
TOPO_SRC="${TOPO_SRC:-/work/peer_src/TOPO}"
export NOTEARS_SRC TOPO_SRC
DAG_REFS=0
if [[ -f "$NOTEARS_SRC/notears/linear.py" && -f "$TOPO_SRC/Topo_linear.py" && -f "$TOPO_SRC/Topo_utils.py" ]]; then
  DAG_REFS=1
fi
if [[ "$FIXTURES" == 1 ]]; then
  if [[ "$DAG_REFS" == 1 ]]; then
    "$PY" "$ROOT/crates/optlab-classic/tests/fixtures/gen_dag.py"        # ~3 s
  else
    echo "run_all: skipping gen_dag.py: no reference copies at NOTEARS_SRC=$NOTEARS_SRC / TOPO_SRC=$TOPO_SRC"
  fi
fi
"$PY" "$HERE/grn_scipy.py" "${GRN_ARGS[@]}"
"$PY" "$HERE/mlp_optax.py" --out "$OUT/mlp_optax.json"
"$PY" "$HERE/tiny_lm_jax.py" --out "$OUT/tiny_lm_jax.json"   # ~1 min
"$PY" "$HERE/optimizer_steps_optax.py" --out "$OUT/optimizer_steps_optax.json"
"$PY" "$HERE/galore_jax.py" --out "$OUT/galore_jax.json"   # ~10 s
"$PY" "$HERE/constrained_peers.py" --out "$OUT/constrained.json"
"$PY" "$HERE/cbo_cbx.py" --out "$OUT/cbo_cbx.json"        # ~10 min (100 seeds)
"$PY" "$HERE/dsm_nomad.py" --out "$OUT/dsm_nomad.json"    # ~4 min (Python callbacks)
CR_DATA="$ROOT/bench/out/convex_relu/data"
if [[ -f "$CR_DATA/manifest.json" ]]; then
  "$PY" "$HERE/convex_relu_cvxpy.py" --data "$CR_DATA" --out "$OUT/convex_relu.json"
else
  echo "run_all: skipping convex_relu_cvxpy.py: no $CR_DATA/manifest.json (export the problems with optlab first)"
fi
DAG_DATA="$ROOT/bench/out/dag/data"
if [[ ! -f "$DAG_DATA/manifest.json" ]]; then
  echo "run_all: skipping dag_peers.py: no $DAG_DATA/manifest.json (write the DAG datasets with optlab first)"
elif [[ "$DAG_REFS" == 0 ]]; then
  echo "run_all: skipping dag_peers.py: no reference copies at NOTEARS_SRC=$NOTEARS_SRC / TOPO_SRC=$TOPO_SRC"
else
  "$PY" "$HERE/dag_peers.py" --data "$DAG_DATA" --out "$OUT/dag.json"
fi
echo "run_all: wrote $(ls "$OUT"/*.json | tr '\n' ' ')"
