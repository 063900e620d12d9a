#!/usr/bin/env bash
# CBO particle-update throughput, optlab vs CBXpy, interleaved: on a shared machine whose speed
# drifts by up to 2x within minutes, one peer run followed by one optlab run can land in
# different regimes. Each round re-measures CBXpy's throughput rows (in place in
# bench/out/peers/cbo_cbx.json, which must exist: run cbo_cbx.py once first) and then runs
# `optlab bench --only dfo` (quick suite), which reads them and times optlab on one thread and
# on every core (and on one thread with `normals = "double"`, the `/f64-normals` rows); the
# script prints each round's ratios and their medians per thread count.
# (Within a round the bench's CBO success runs come between the peer's timing and optlab's,
# about 10 s.)
#
#   bash bench/peers/cbo_throughput_rounds.sh [ROUNDS] [THREADS]   # default 5 rounds; ~20 s a round
#   (THREADS, default 1, is passed to `optlab bench --threads`: one more thread count to time)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
ROUNDS="${1:-5}"
THREADS="${2:-1}"
PY="$HERE/.venv/bin/python"
BIN="$ROOT/target/release/optlab"
PEER="$ROOT/bench/out/peers/cbo_cbx.json"
[ -f "$PEER" ] || { echo "run bench/peers/cbo_cbx.py first ($PEER missing)" >&2; exit 2; }
[ -x "$BIN" ] || { echo "build first: cargo build --release -p optlab-cli" >&2; exit 2; }
OUT="$ROOT/bench/out/cbo-throughput-rounds"
[ "$ROUNDS" -ge 1 ] || { echo "ROUNDS must be >= 1" >&2; exit 2; }
cd "$ROOT"   # optlab bench reads the peer JSON from bench/out/peers relative to here
mkdir -p "$OUT"
: > "$OUT/ratios.tsv"
for r in $(seq 1 "$ROUNDS"); do
  "$PY" "$HERE/cbo_cbx.py" --out "$PEER" --throughput-only > "$OUT/round-$r-peer.log" 2>&1
  "$BIN" bench --only dfo --threads "$THREADS" --out "$OUT/round-$r" > "$OUT/round-$r.log" 2>&1
  # rows: | f | N x d | threads | optlab ms | updates/s | CBXpy ms | ratio |
  awk -F'|' -v r="$r" '/^\| (sphere|rastrigin)(\/f64-normals)? \| 1000 x 20/ {
      gsub(/ /, "", $2); gsub(/ /, "", $4); gsub(/ /, "", $5); gsub(/ /, "", $7); gsub(/[ x]/, "", $8);
      print r "\t" $2 "\t" $4 "\t" $5 "\t" $7 "\t" $8 }' "$OUT/round-$r/report.md" | tee -a "$OUT/ratios.tsv"
done
threads_seen=$(awk -F'\t' '{ print $3 }' "$OUT/ratios.tsv" | sort -u | wc -l)
rows=$(awk -F'\t' '$6 != "-" && $6 != ""' "$OUT/ratios.tsv" | wc -l)
# Per round: sphere and rastrigin on each thread count, and both with f64 normals on one thread.
if [ "$threads_seen" -lt 1 ] || [ "$rows" -ne $(((2 * threads_seen + 2) * ROUNDS)) ]; then
  echo "expected $(((2 * threads_seen + 2) * ROUNDS)) ratio rows, got $rows (see $OUT/round-*.log)" >&2
  exit 1
fi
for t in $(awk -F'\t' '{ print $3 }' "$OUT/ratios.tsv" | sort -un); do
  for f in sphere rastrigin sphere/f64-normals rastrigin/f64-normals; do
    awk -F'\t' -v f="$f" -v t="$t" '$2 == f && $3 == t { print $6 }' "$OUT/ratios.tsv" | sort -g |
      awk -v f="$f" -v t="$t" '{ a[NR] = $1 } END { if (NR == 0) exit; printf "%s, %s thread(s): median ratio %.1fx over %d rounds (min %.1fx, max %.1fx)\n", f, t, (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2), NR, a[1], a[NR] }'
  done
done | tee "$OUT/summary.txt"
