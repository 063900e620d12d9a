#!/usr/bin/env bash
# Optional peer benchmarks: set up the pinned venv, then write
#   bench/out/peers/grn_scipy.json   (scipy Newton-CG / trust-exact / L-BFGS-B on logistic regression)
#   bench/out/peers/mlp_optax.json   (jax+optax MLP training throughput, one CPU thread)
#   bench/out/peers/constrained.json (Ipopt / SLSQP / trust-constr on 19 HS problems + Poisson control)
#   bench/out/peers/cbo_cbx.json     (CBXpy CBO on Rastrigin / Ackley, d = 2/10/20, + update throughput)
#   bench/out/peers/dsm_nomad.json   (NOMAD 4 MADS on branin / rosenbrock / hartmann6 / styblinski_tang)
# `optlab bench` reads the first two when they exist (constrained.json is not read by it yet).
# Nothing here is needed by the Rust tests.
#
# Usage: bash bench/peers/run_all.sh [--fixtures]
#   --fixtures  also regenerate the golden fixtures checked into the repository:
#               crates/optlab-classic/tests/fixtures/logreg_breast_cancer.json,
#               crates/optlab-nn/tests/fixtures/lion_optax.json and
#               crates/optlab-problems/tests/fixtures/hs_derivatives.json
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
  "$PY" "$ROOT/crates/optlab-problems/tests/fixtures/gen_constrained.py"
fi
"$PY" "$HERE/grn_scipy.py" "${GRN_ARGS[@]}"
"$PY" "$HERE/mlp_optax.py" --out "$OUT/mlp_optax.json"
"$PY" "$HERE/constrained_peers.py" --out "$OUT/constrained.json"
"$PY" "$HERE/cbo_cbx.py" --out "$OUT/cbo_cbx.json"        # ~2 min
"$PY" "$HERE/dsm_nomad.py" --out "$OUT/dsm_nomad.json"    # ~4 min (Python callbacks)
echo "run_all: wrote $(ls "$OUT"/*.json | tr '\n' ' ')"
