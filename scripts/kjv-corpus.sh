#!/usr/bin/env bash
# A second English benchmark corpus (~880k words) from Debian's King James Bible, built with the same
# method as ../shared/corpora/fortunes.sh (prepare.py: one sentence per line, lower-cased, 8000 words with
# <unk>, 90/5/5 split). Usage: scripts/kjv-corpus.sh OUT_DIR [path/to/prepare.py]
set -euo pipefail
out=${1:?usage: kjv-corpus.sh OUT_DIR [prepare.py]}
here=$(cd "$(dirname "$0")" && pwd)
prepare=${2:-$here/../../shared/corpora/prepare.py}
if ! command -v bible >/dev/null; then
  apt-get update -qq >/dev/null && apt-get install -y -qq bible-kjv bible-kjv-text >/dev/null
fi
# one verse per line, without its reference ("Ge1:1 In the beginning ...")
bible -f "gen1:1-rev22:21" | sed -E 's/^[0-9A-Za-z]+[0-9]+:[0-9]+ //' | python3 "$prepare" "$out"
