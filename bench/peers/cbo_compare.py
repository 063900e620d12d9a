#!/usr/bin/env python3
"""Compare optlab's CBO success rates and best values with CBXpy's, cell by cell.

Reads optlab's `results.json` (from `optlab bench --suite full --only dfo --out DIR`, key
`dfo_cbo`) and the peer's `bench/out/peers/cbo_cbx.json` (`bench/peers/cbo_cbx.py`), and prints,
for every (problem, d, noise): the success counts at 100 / 300 / 1000 iterations with a
two-sided Fisher exact test, and a two-sided Mann-Whitney U test on the best f after 1000
iterations. Run with the peers' venv (it has scipy):

  bench/peers/.venv/bin/python bench/peers/cbo_compare.py DIR/results.json [bench/out/peers/cbo_cbx.json]
"""

import json
import math
import sys

from scipy.stats import fisher_exact, mannwhitneyu


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    ours = json.load(open(sys.argv[1]))["dfo_cbo"]
    peer_path = sys.argv[2] if len(sys.argv) > 2 else "bench/out/peers/cbo_cbx.json"
    peer = json.load(open(peer_path))["rows"]
    min_fisher, min_mw = 1.0, 1.0
    print("| problem | d | noise | optlab / CBXpy successes @100, 300, 1000 (Fisher p) "
          "| best f @1000: Mann-Whitney p |")
    print("|---|---|---|---|---|")
    for r in ours:
        group = [x for x in peer
                 if x["problem"] == r["problem"] and x["d"] == r["d"] and x["noise"] == r["noise"]]
        if not group:
            print(f"| {r['problem']} | {r['d']} | {r['noise']} | no peer rows | - |")
            continue
        n, m = r["seeds"], len(group)
        cells = []
        for ci in range(len(r["checkpoints"])):
            a = r["success"][ci]
            c = sum(1 for x in group if x["checkpoints"][ci]["success"])
            p = fisher_exact([[a, n - a], [c, m - c]])[1]
            min_fisher = min(min_fisher, p)
            cells.append(f"{a}/{n} vs {c}/{m} ({p:.2f})")
        # A failed run's best f is null (JSON has no NaN): compare the finite values only.
        finite = lambda v: [x for x in v if x is not None and math.isfinite(x)]
        a = finite(r["best_f"])
        b = finite([x["checkpoints"][-1]["best_f"] for x in group])
        mw = mannwhitneyu(a, b)[1] if a and b else float("nan")
        if not math.isnan(mw):
            min_mw = min(min_mw, mw)
        print(f"| {r['problem']} | {r['d']} | {r['noise']} | {'; '.join(cells)} | {mw:.3f} |")
    print(f"\nsmallest Fisher p {min_fisher:.3f}, smallest Mann-Whitney p {min_mw:.3f}")


if __name__ == "__main__":
    main()
