"""Argument groups and value checks shared by several sub-commands.

The checks are argparse ``type=`` functions, so a nonsensical value (``--hidden 0``, ``--lr -1``,
``--temperature nan``) fails while the command line is parsed, before any file is read, with argparse's
one-line error: ``rnnlab train: error: argument --hidden: must be an integer >= 1, got '0'``.
"""
from __future__ import annotations

import argparse
import math


def int_at_least(lo: int):
    """An argparse type: an integer >= lo."""
    def parse(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {lo}, got {s!r}") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"must be an integer >= {lo}, got {s!r}")
        return v
    parse.__name__ = f"integer >= {lo}"
    return parse


def _float(s: str, what: str, ok) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {s!r}") from None
    if not (math.isfinite(v) and ok(v)):
        raise argparse.ArgumentTypeError(f"must be {what}, got {s!r}")
    return v


def positive_float(s: str) -> float:
    """An argparse type: a finite number > 0."""
    return _float(s, "a positive number", lambda v: v > 0)


def nonnegative_float(s: str) -> float:
    """An argparse type: a finite number >= 0."""
    return _float(s, "a number >= 0", lambda v: v >= 0)


def probability(s: str) -> float:
    """An argparse type: a dropout probability, 0 <= p < 1 (checked before any data is read)."""
    return _float(s, "a probability in [0, 1)", lambda v: 0 <= v < 1)


def finite_float(s: str) -> float:
    """An argparse type: any finite number."""
    return _float(s, "a finite number", lambda v: True)


def add_data_options(p, with_vocab=True):
    from ..data import FORMATS, LEVELS

    g = p.add_argument_group("data")
    g.add_argument("--format", choices=list(FORMATS), default=None,
                   help="text: prose split into sentences and words; lines: one sentence per line, tokens "
                        "separated by spaces (the RNNLM format); csv: a text column; jsonl: a text field "
                        "(default: text for training; the model's own for evaluation)")
    g.add_argument("--column", help="csv: the column holding the text (e.g. body)")
    g.add_argument("--field", default=None, help="jsonl: the field holding the text (default text)")
    if with_vocab:
        g.add_argument("--level", choices=list(LEVELS), default="word",
                       help="model words or characters (default word)")
        g.add_argument("--vocab-size", type=int_at_least(4), default=None,
                       help="vocabulary size including <unk>, <s>, </s> (default: every word of a corpus that has "
                            "its own <unk>, a closed vocabulary as in PTB; else 8000, the rest folded into <unk>)")
    g.add_argument("--errors", choices=["strict", "replace"], default=None,
                   help="bytes that are not UTF-8: stop with an error (strict, default) or replace them")
    g.add_argument("--skip-bad-lines", action="store_true", default=None,
                   help="jsonl/csv: skip malformed lines (they are counted and reported)")
    return g
