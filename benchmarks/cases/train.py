"""Whole ``rnnlab train`` on the fortunes corpus (~500k words): training throughput in tokens/s, in one
process and with two Hogwild worker processes (``--workers 2``, ``rnnlab.hogwild``), and in one process
with the language model's direct connections (``--direct``, order 4) and with dropout (``--dropout`` and
``--dropout-recurrent``): what each costs against the same recipe without it (the ratio column: tokens/s
against one process's).

The command is run as a user runs it (a child process, the CLI's own thread settings), tanh RNN, hidden
100, class output, with the settings of the comparison with faster-rnnlm in docs/PERFORMANCE.md, 3 epochs;
each epoch's training time and tokens come from its ``log.jsonl``
(validation excluded). The corpus is ``$RNNLAB_FORTUNES`` (a directory with train.txt, valid.txt) or
/work/notes/fortunes; without it the case is skipped with a note. Build it with

    ../shared/corpora/fortunes.sh DIR      (Debian's fortune files -> one sentence per line, 8000 words)
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ..harness import Context, Row, Timing

DEFAULT_DIRS = ("/work/notes/fortunes",)
# the settings of docs/PERFORMANCE.md's fortunes comparison with faster-rnnlm (the CLI's defaults otherwise)
TRAIN_ARGS = ["--format", "lines", "--output", "class", "--hidden", "100", "--cell", "rnn", "--nonlinearity", "tanh",
              "--optimizer", "sparseadam", "--lr", "0.008", "--batch-size", "128", "--lr-decay-after", "2"]


def corpus_dir() -> Path | None:
    for d in ([os.environ["RNNLAB_FORTUNES"]] if os.environ.get("RNNLAB_FORTUNES") else []) + list(DEFAULT_DIRS):
        p = Path(d)
        if (p / "train.txt").is_file() and (p / "valid.txt").is_file():
            return p
    return None


def train_epochs(corpus: Path, epochs: int, extra=()) -> list:
    """Run ``rnnlab train`` for ``epochs``; returns the epoch records of its log.jsonl."""
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with tempfile.TemporaryDirectory(prefix="rnnlab-bench-") as out:
        cmd = [sys.executable, "-m", "rnnlab", "train", "--train", str(corpus / "train.txt"),
               "--valid", str(corpus / "valid.txt"), *TRAIN_ARGS, "--epochs", str(epochs),
               "--out", out, "--quiet", "--no-report", *extra]
        res = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if res.returncode != 0:
            raise RuntimeError(f"rnnlab train failed:\n{res.stderr[-2000:]}")
        with open(Path(out) / "log.jsonl") as f:
            return [r for r in map(json.loads, f) if r.get("event") == "epoch"]


def run(ctx: Context) -> list:
    """tokens/s of whole training epochs, one process and two Hogwild workers (target: >= 400k on two
    cores), run one after the other."""
    cfg = ctx.config
    corpus = corpus_dir()
    if corpus is None:
        print("[train] skipped: fortunes corpus not found (set RNNLAB_FORTUNES=DIR; build it with "
              "../shared/corpora/fortunes.sh DIR)", file=sys.stderr)
        return []
    if cfg.quick:
        return []  # a real corpus run takes tens of seconds: not a smoke test
    rows = []
    for impl, extra, target in VARIANTS:
        records = train_epochs(corpus, epochs=3, extra=extra)
        seconds = [r["seconds"] for r in records]
        tokens = [r["tokens_per_s"] * r["seconds"] for r in records]
        case = (f"rnnlab train, fortunes ({tokens[0] / 1e3:.0f}k tokens/epoch), tanh H=100, class output, "
                f"sparseadam, batch 128, {len(records)} epochs; valid PPL after the last")
        timing = Timing(seconds)
        per_epoch = sum(tokens) / len(tokens)
        # tokens/s against one process's (the epochs hold the same tokens: the ratio of the epoch times)
        ratio = rows[0].timing.median / timing.median if rows else None
        rows.append(Row(case, impl, timing, items=per_epoch, item_unit="tokens/s", ratio=ratio,
                        ref="1 process, tokens/s" if rows else "",
                        note=f"valid PPL {records[-1]['valid_ppl']:.1f}; {target}"))
    return rows


# (row name, extra flags, target): the README recipe in one process and with two Hogwild workers, then the
# language-model quality features (issue 14) on the one-process recipe, their speed beside it
VARIANTS = [
    ("1 process", ["--workers", "1"], "target >= 400k tokens/s"),
    ("--workers 2", ["--workers", "2"], "target >= 400k tokens/s"),
    ("--direct 10 --direct-order 4", ["--workers", "1", "--direct", "10", "--direct-order", "4"],
     "target: >= 0.5x the tokens/s without"),
    ("--dropout 0.2 --dropout-recurrent 0.2", ["--workers", "1", "--dropout", "0.2", "--dropout-recurrent", "0.2"],
     "no target: what the masks cost"),
]
