"""`rnnlab score`: the log probability of each sentence (or n-best hypothesis) of a text, one output line
per input line, in input order; optionally mixed with an n-gram model, optionally with dynamic evaluation."""
from __future__ import annotations

import argparse
import json
import math
import sys

from ._common import finite_float, positive_float

LN10 = math.log(10.0)


def unit_float(s: str) -> float:
    """An argparse type: a number in [0, 1]."""
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {s!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1] (the network's weight), got {s!r}")
    return v


def add_mixture_options(p):
    """--ngram, --lambda, --dynamic: shared by ``score`` and ``evaluate``."""
    g = p.add_argument_group("n-gram mixture and dynamic evaluation")
    g.add_argument("--ngram", metavar="ARPA", help="mix per word with this back-off n-gram model (ARPA, "
                   "optionally .gz): p = lambda p_network + (1 - lambda) p_ngram")
    g.add_argument("--lambda", dest="lam", type=unit_float, default=None, metavar="L",
                   help="weight of the network in the mixture, in [0, 1] (default 0.5)")
    g.add_argument("--dynamic", type=positive_float, default=None, metavar="LR",
                   help="dynamic evaluation: after each sentence is scored, one SGD step of this learning rate "
                        "on it, on a copy of the model (the model on disk never changes)")
    return g


def register(sub):
    """Add the ``score`` sub-command to ``sub`` (the sub-parsers of ``rnnlab.cli.build_parser``)."""
    p = sub.add_parser("score", help="log probability of each sentence or n-best hypothesis",
                       description="Write the log probability of each input line under a trained model, one "
                       "output line per input line, in input order: log10 by default, as rnnlm and faster-rnnlm "
                       "print it, the sentence's </s> included. Input is read as the model's training text was "
                       "(its format, lower-casing and level), one sentence per line. See docs/scoring.md.")
    p.add_argument("--model", required=True, metavar="DIR", help="model directory (or .npz checkpoint)")
    p.add_argument("input", nargs="?", default="-", metavar="FILE", help="text to score (default -: stdin)")
    o = p.add_argument_group("input and output")
    o.add_argument("--nbest", action="store_true",
                   help="n-best input: 'ID w1 w2 ...'; consecutive lines with one ID are hypotheses of one "
                        "utterance, each read from a fresh state")
    o.add_argument("--carry-context", action="store_true",
                   help="--nbest: the best hypothesis of each utterance is the context of the next one")
    o.add_argument("--kaldi", action="store_true",
                   help="--nbest for Kaldi's rnnlm_compute_scores.sh: write 'ID COST', COST = -ln p (the "
                        "negated natural log), as that script's output")
    o.add_argument("--base", choices=["10", "e"], default="10", help="logarithm base of the scores (default 10)")
    o.add_argument("--words", action="store_true", help="add each word's log probability: SCORE<TAB>w1=lp1<TAB>...")
    o.add_argument("--json", action="store_true", help="one JSON object per line (words, per-word scores, OOVs)")
    o.add_argument("--errors", choices=["strict", "replace"], default=None,
                   help="bytes that are not UTF-8: stop with an error (strict) or replace them (default: the "
                        "model's training setting)")
    v = p.add_argument_group("unknown words")
    v.add_argument("--oov", choices=["penalty", "skip"], default="penalty",
                   help="words that no model in use knows (a model with <unk> knows every word): give them "
                        "--oov-penalty (default), or skip the sentence (its line reads OOV; stderr says which)")
    v.add_argument("--oov-penalty", type=finite_float, default=-5.0, metavar="LOG10PROB",
                   help="log10 probability of such a word (default -5, as rnnlm)")
    add_mixture_options(p)
    p.set_defaults(func=run)


class Writer:
    """Formats a Scored as one output line and writes it (flushed per block by the caller)."""

    def __init__(self, args, out, err):
        self.args, self.out, self.err = args, out, err
        self.scale = 1.0 if args.base == "e" else 1.0 / LN10
        self.skipped = 0

    def __call__(self, lineno, key, r):
        a, s = self.args, self.scale
        if r.skipped:
            self.skipped += 1
            print(f"rnnlab score: line {lineno}: skipped ({r.notes[0]})", file=self.err)
        if a.json:
            rec = {"line": lineno} | ({"id": key} if key is not None else {}) | {
                "logprob": None if r.skipped else r.total * s, "base": a.base, "words": r.words + ["</s>"],
                "oov": [bool(o) for o in r.oov]}
            if not r.skipped:
                rec["word_logprobs"] = [float(v) * s for v in r.logp]
            if r.ngram is not None:
                rec["network"] = float(r.network.sum()) * s
                rec["ngram"] = float(r.ngram.sum()) * s
            if r.skipped:
                rec["skipped"] = r.notes[0]
            line = json.dumps(rec, ensure_ascii=False)
        elif a.kaldi:
            line = f"{key} {'OOV' if r.skipped else f'{-r.total:.6f}'}"
        else:
            line = "OOV" if r.skipped else f"{r.total * s:.6f}"
            if a.words and not r.skipped:
                line += "".join(f"\t{w}={lp * s:.6f}" for w, lp in zip(r.words + ["</s>"], r.logp))
        self.out.write(line + "\n")


def run(args) -> int:
    """``rnnlab score``; returns 0. Raises ConfigError/DataError/CheckpointError for bad input (the lines
    before a bad input line are written first)."""
    from ..errors import ConfigError
    from ..scoring.lines import LineSource
    from ..scoring.network import load_network
    from ..scoring.ngram import ArpaModel
    from ..scoring.score import Scorer

    if args.kaldi:
        args.nbest = True
    if args.carry_context and not args.nbest:
        raise ConfigError("--carry-context applies to n-best input; add --nbest")
    if args.kaldi and (args.json or args.words):
        raise ConfigError("--kaldi writes 'ID COST' lines; leave out --json and --words")
    if args.lam is not None and not args.ngram:
        raise ConfigError("--lambda weighs the network against an n-gram model; give --ngram FILE too")
    lm, vocab, dcfg = load_network(args.model)
    ngram = ArpaModel.read(args.ngram) if args.ngram else None
    scorer = Scorer(lm, vocab, ngram=ngram, lam=args.lam, oov=args.oov, oov_penalty=args.oov_penalty,
                    dynamic=args.dynamic)
    errors = args.errors or dcfg.errors
    if args.input == "-":
        source = LineSource(sys.stdin.buffer, "<stdin>", errors)
        return _run(source, scorer, dcfg, args)
    from ..data.reader import check_file
    check_file(args.input)
    with open(args.input, "rb") as f:
        return _run(LineSource(f, args.input, errors), scorer, dcfg, args)


def _run(source, scorer, dcfg, args) -> int:
    from ..scoring.stream import score_stream

    writer = Writer(args, sys.stdout, sys.stderr)

    def write(lineno, key, r):
        writer(lineno, key, r)
        if not source.ready():
            sys.stdout.flush()

    try:
        score_stream(source, scorer, dcfg, write, nbest=args.nbest, carry_context=args.carry_context)
    finally:
        sys.stdout.flush()
    if writer.skipped:
        print(f"rnnlab score: {writer.skipped} line{'s' if writer.skipped > 1 else ''} skipped for "
              f"out-of-vocabulary words (marked OOV)", file=sys.stderr)
    return 0
