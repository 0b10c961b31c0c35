#!/usr/bin/env bash
# The main job (`make demo`): a tanh RNN and an LSTM language model trained side by side on the built-in
# agreement corpus, where a verb must agree with a subject many words back. Then samples from each, their
# agreement accuracy by distance, and the gradient report that shows why they differ.
set -euo pipefail
out=${1:-demo-out}
epochs=${DEMO_EPOCHS:-4}             # passes over the 20,000 training sentences, per model
common=(--train builtin:agreement --hidden 64 --embedding 32 --optimizer adam --lr 0.003 --batch-size 32
        --epochs "$epochs" --no-report --quiet)
mkdir -p "$out"
echo "== rnnlab demo: tanh RNN vs LSTM on builtin:agreement, $epochs epochs each"
for model in rnn-tanh lstm; do
  cell=${model%%-*}
  echo
  echo "== training $model"
  rnnlab train "${common[@]}" --cell "$cell" --out "$out/$model"
done
for model in rnn-tanh lstm; do
  echo
  echo "== sentences sampled from $model"
  rnnlab generate --model "$out/$model" -n 5 --seed 1
done
echo
echo "== subject-verb agreement on fresh sentences (chance is 50%)"
rnnlab evaluate --model "$out/rnn-tanh" --agreement --per-distance 100
rnnlab evaluate --model "$out/lstm" --agreement --per-distance 100 | tail -n 1
echo
echo "== gradient report"
rnnlab diagnose --model "$out/rnn-tanh" --model "$out/lstm" --out "$out/report"
echo
echo "Open $out/report/report.html and point at a word: how far back its gradient reaches in each model, and how that grew during training."
