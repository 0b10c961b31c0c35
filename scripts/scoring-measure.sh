#!/usr/bin/env bash
# The measurements of docs/scoring.md: interpolation with an n-gram model and dynamic evaluation.
# Usage: scripts/scoring-measure.sh CORPUS_DIR [OTHER_CORPUS_DIR]
#   CORPUS_DIR holds train.txt valid.txt test.txt, one sentence per line (../shared/corpora/fortunes.sh DIR);
#   OTHER_CORPUS_DIR another domain's (scripts/kjv-corpus.sh DIR), read with the model trained on the first.
# Trains the PERFORMANCE.md recipe (tanh H=100, class output, 3 epochs), estimates a 4-gram with IRSTLM (shift-beta discounting, singletons kept) on
# the same training text (Debian: apt-get install irstlm), then prints the test perplexities of the network,
# the n-gram model and their mixture for a few lambdas, and of dynamic evaluation for a few learning rates
# (each chosen on the validation text; the test numbers are printed for all of them).
set -euo pipefail
dir=$(cd "${1:?usage: scoring-measure.sh CORPUS_DIR [OTHER_CORPUS_DIR]}" && pwd)
other=${2:-}
tlm=/usr/lib/irstlm/bin/tlm
[ -x "$tlm" ] || { echo "needs IRSTLM's tlm (apt-get install irstlm)" >&2; exit 1; }
work=${SCORING_WORK:-$(mktemp -d)}
mkdir -p "$work"
echo "work dir $work; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ ! -f "$work/model/best.npz" ]; then
  rnnlab train --train "$dir/train.txt" --valid "$dir/valid.txt" --format lines --output class --hidden 100 \
      --optimizer sparseadam --lr 0.008 --batch-size 128 --epochs 3 --lr-decay-after 2 --seed 0 \
      --out "$work/model" --quiet --no-report > "$work/train.log"
fi
tail -n 2 "$work/train.log"
if [ ! -f "$work/ngram.arpa" ]; then
  sed 's/^/<s> /; s/$/ <\/s>/' "$dir/train.txt" > "$work/train.se"
  "$tlm" -tr="$work/train.se" -n=4 -lm=sb -ps=no -bo=yes -o="$work/ngram.arpa" > "$work/tlm.log" 2>&1
fi
echo "== interpolation (4-gram, IRSTLM shift-beta, singletons kept)"
for split in valid test; do
  for lam in 0.3 0.5 0.7; do
    echo "-- $split, lambda $lam"
    rnnlab evaluate --model "$work/model" --test "$dir/$split.txt" --ngram "$work/ngram.arpa" --lambda "$lam"
  done
done
echo "== dynamic evaluation (SGD after each sentence)"
for lr in 0.003 0.01 0.03 0.1; do
  for split in valid test; do
    echo "-- $(basename "$dir") $split, lr $lr"
    rnnlab evaluate --model "$work/model" --test "$dir/$split.txt" --dynamic "$lr"
  done
  if [ -n "$other" ]; then
    echo "-- $(basename "$other") test (another domain), lr $lr"
    rnnlab evaluate --model "$work/model" --test "$other/test.txt" --dynamic "$lr"
  fi
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
