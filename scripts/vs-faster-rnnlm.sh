#!/usr/bin/env bash
# rnnlab against faster-rnnlm on one corpus, one after the other on the same machine: wall time of each
# training command and each tool's test perplexity (both count </s>).
# Usage: scripts/vs-faster-rnnlm.sh CORPUS_DIR FASTER_RNNLM_BINARY [extra rnnlab train flags]
# Then (unless RACE=0) scripts/race.py: faster-rnnlm with -direct 100 -direct-order 4 (and NCE + direct with
# RACE_NCE=1) against rnnlab --preset fast and --preset best, each timed to every validation perplexity.
#   CORPUS_DIR holds train.txt valid.txt test.txt, one sentence per line (../shared/corpora/fortunes.sh,
#   scripts/kjv-corpus.sh); the binary is yandex/faster-rnnlm's `rnnlm`, built separately.
set -euo pipefail
dir=$(cd "${1:?usage: vs-faster-rnnlm.sh CORPUS_DIR FASTER_RNNLM_BINARY [rnnlab flags]}" && pwd)
frnn=${2:?the path of the faster-rnnlm binary}
shift 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$dir"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
s=$(date +%s.%N)
"$frnn" -rnnlm "$work/frnn" -train train.txt -valid valid.txt -hidden 100 -hidden-type tanh -threads 2 \
    -bptt 4 -bptt-skip 10 -alpha 0.1 > "$work/frnn.log" 2>&1
e=$(date +%s.%N)
bits=$("$frnn" -rnnlm "$work/frnn" -test test.txt 2>&1 >/dev/null | awk '/Test entropy/ {print $3}')
python3 -c "import sys; e, s, b = map(float, sys.argv[1:]); print(f'faster-rnnlm: {e - s:.2f} s, test perplexity {2 ** b:.2f}')" "$e" "$s" "$bits"
s=$(date +%s.%N)
rnnlab train --train train.txt --valid valid.txt --format lines --output class --hidden 100 \
    --optimizer sparseadam --lr 0.008 --batch-size 128 --epochs 3 --lr-decay-after 2 \
    --out "$work/rnnlab" --quiet --no-report "$@" > "$work/rnnlab.log" 2>&1
e=$(date +%s.%N)
rnnlab evaluate --model "$work/rnnlab" --test test.txt --json > "$work/eval.json"
python3 - "$e" "$s" "$work/eval.json" <<'PY'
import json, sys
e, s, path = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
print(f"rnnlab:       {e - s:.2f} s, test perplexity {json.load(open(path))['perplexity']:.2f}")
PY
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
# the race to the best model: faster-rnnlm with direct connections (and NCE + direct with RACE_NCE=1) against
# rnnlab's presets, with the time-to-perplexity table (scripts/race.py); RACE=0 skips it
if [ "${RACE:-1}" != 0 ]; then
  python3 "$(dirname "$0")/race.py" "$dir" --frnn "$frnn" ${RACE_NCE:+--nce}
fi
