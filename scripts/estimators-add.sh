#!/usr/bin/env bash
# The Add task of Marschall et al. (2020) trained online with every gradient algorithm of rnnlab.estimators:
# t2 = 10 (t1 = 5) beyond truncated BPTT's window of 5, a tanh RNN of 32 units, 16 streams, Adam, an update
# every step. Writes OUT/<estimator>/results.json (with the learning curve) and prints one table.
#   bash scripts/estimators-add.sh [OUT]        (STEPS=20000 LR=0.001 SEEDS=1 to change the budget,
#                                               LENGTHS=10 for t2, t1 = ceil(t2 / 2); ESTIMATORS="...")
#   BUDGET=60 bash scripts/estimators-add.sh OUT   matched compute: every run trains for 60 s of wall-clock
#                                                  time instead (--budget-seconds); the table gives the steps
#                                                  each one got through and its final loss
set -euo pipefail
OUT=${1:-runs/estimators-add}
STEPS=${STEPS:-20000}
LR=${LR:-0.001}
SEEDS=${SEEDS:-1}
LENGTHS=${LENGTHS:-10}
BUDGET=${BUDGET:-}
LIMIT=()
if [ -n "$BUDGET" ]; then
  STEPS=100000000
  LIMIT=(--budget-seconds "$BUDGET")
fi
RNNLAB=${RNNLAB:-rnnlab}
PY=${PY:-python}
for est in ${ESTIMATORS:-tbptt-5 rtrl uoro kf-rtrl snap-1 rflo eprop}; do
  "$RNNLAB" experiment add --lengths "$LENGTHS" --models rnn-tanh --seeds "$SEEDS" --hidden 32 --batch-size 16 \
    --steps "$STEPS" --eval-every 2000 --eval-sequences 500 --lr "$LR" --estimator "$est" --quiet \
    "${LIMIT[@]}" --out "$OUT/$est" > /dev/null
  echo "done: $est" >&2
done
BUDGET="$BUDGET" "$PY" - "$OUT" <<'PYEOF'
import json, os, pathlib, sys
out = pathlib.Path(sys.argv[1])
rows = [r for f in sorted(out.glob("*/results.json")) for r in json.loads(f.read_text())["records"]]
if rows and os.environ.get("BUDGET"):   # matched compute: each run got through its own number of steps
    print("| estimator | seed | steps trained | last training loss | final (500 fresh streams) | s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        last = "n/a" if r["train_loss"] is None else f"{r['train_loss']:.4f}"
        final = "n/a" if r["metric"] is None else f"{r['metric']:.4f}"
        print(f"| {r['estimator']} | {r['seed']} | {r['steps']} | {last} | {final} | {r['seconds']:.0f} |")
elif rows:
    steps = [s for s, _ in rows[0]["curve"]]
    print("| estimator | seed | " + " | ".join(f"loss @ {s}" for s in steps) + " | final (500 fresh streams) | s |")
    print("|---|---|" + "---|" * len(steps) + "---|---|")
    for r in rows:
        pts = " | ".join(f"{l:.4f}" for _, l in r["curve"])
        final = "n/a" if r["metric"] is None else f"{r['metric']:.4f}"
        print(f"| {r['estimator']} | {r['seed']} | {pts} | {final} | {r['seconds']:.0f} |")
if rows:
    p = rows[0]["plateaus"]
    print(f"\nplateaus: nothing {p['nothing']:.4f}, only t1 {p['t1_only']:.4f}, both {p['both']:.4f}")
PYEOF
