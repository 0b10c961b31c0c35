#!/usr/bin/env bash
# The adding problem (T = 20) trained online with gradient algorithms of rnnlab.estimators: an LSTM of 16
# units, 16 sequences per batch, Adam; the loss sits at the last step, so every algorithm updates once per
# sequence (bptt: --update-every 20, the whole sequence). Prints one table of learning curves.
#   bash scripts/estimators-adding.sh [OUT]     (STEPS=20000 time steps = 1,000 sequences per run)
set -euo pipefail
OUT=${1:-runs/estimators-adding}
STEPS=${STEPS:-20000}
RNNLAB=${RNNLAB:-rnnlab}
PY=${PY:-python}
for est in ${ESTIMATORS:-bptt tbptt-5 rtrl uoro snap-1 eprop}; do
  every=1
  [ "$est" = bptt ] && every=20
  "$RNNLAB" experiment adding --lengths 20 --models lstm --seeds 1 --hidden 16 --batch-size 16 \
    --steps "$STEPS" --eval-every 2000 --eval-sequences 1000 --lr 0.003 --estimator "$est" --update-every "$every" \
    --quiet --out "$OUT/$est" > /dev/null
  echo "done: $est" >&2
done
"$PY" - "$OUT" <<'PYEOF'
import json, pathlib, sys
rows = [r for f in sorted(pathlib.Path(sys.argv[1]).glob("*/results.json")) for r in json.loads(f.read_text())["records"]]
if rows:
    steps = [s for s, _ in rows[0]["curve"]]
    print("| estimator | " + " | ".join(f"MSE @ {s}" for s in steps) + " | final MSE (1,000 fresh) | wrong | s |")
    print("|---|" + "---|" * len(steps) + "---|---|---|")
    for r in rows:
        pts = " | ".join(f"{l:.4f}" for _, l in r["curve"])
        final = "n/a" if r["metric"] is None else f"{r['metric']:.4f}"
        print(f"| {r['estimator']} | {pts} | {final} | {r['fraction_wrong']:.3f} | {r['seconds']:.0f} |")
    print(f"\nbaseline (predict the mean): {rows[0]['baseline']:.4f}")
PYEOF
