#!/usr/bin/env bash
# CBO particle-update throughput, optlab vs CBXpy, interleaved: on a shared machine whose speed
# drifts by up to 2x within minutes, one peer run followed by one optlab run can land in
# different regimes. Each round re-measures CBXpy's throughput rows (in place in
# bench/out/peers/cbo_cbx.json, which must exist: run cbo_cbx.py once first) and then runs
# `optlab bench --only dfo` (quick suite), which reads them; the script prints each round's
# ratios and their medians. (Within a round the bench's CBO success runs come between the
# peer's timing and optlab's, about 10 s.)
#
#   bash bench/peers/cbo_throughput_rounds.sh [ROUNDS]     # default 5, ~15 s a round
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
ROUNDS="${1:-5}"
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
  "$BIN" bench --only dfo --out "$OUT/round-$r" > "$OUT/round-$r.log" 2>&1
  # rows: | f | N x d | optlab ms | updates/s | CBXpy ms | ratio |
  awk -F'|' -v r="$r" '/^\| (sphere|rastrigin) \| 1000 x 20/ {
      gsub(/ /, "", $2); gsub(/ /, "", $4); gsub(/ /, "", $6); gsub(/[ x]/, "", $7);
      print r "\t" $2 "\t" $4 "\t" $6 "\t" $7 }' "$OUT/round-$r/report.md" | tee -a "$OUT/ratios.tsv"
done
rows=$(awk -F'\t' '$5 != "-" && $5 != ""' "$OUT/ratios.tsv" | wc -l)
if [ "$rows" -ne $((2 * ROUNDS)) ]; then
  echo "expected $((2 * ROUNDS)) ratio rows, got $rows (see $OUT/round-*.log)" >&2
  exit 1
fi
for f in sphere rastrigin; do
  awk -F'\t' -v f="$f" '$2 == f { print $5 }' "$OUT/ratios.tsv" | sort -g |
    awk -v f="$f" '{ a[NR] = $1 } END { printf "%s: median ratio %.1fx over %d rounds (min %.1fx, max %.1fx)\n", f, (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2), NR, a[1], a[NR] }'
done | tee "$OUT/summary.txt"
