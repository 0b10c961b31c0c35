"""Argument groups shared by several sub-commands."""
from __future__ import annotations


def add_data_options(p, with_vocab=True):
    g = p.add_argument_group("data")
    g.add_argument("--format", choices=["text", "lines", "csv", "jsonl"], default=None,
                   help="text: prose split into sentences and words; lines: one sentence per line, tokens "
                        "separated by spaces (the RNNLM format); csv: a text column; jsonl: a text field "
                        "(default: text for training; the model's own for evaluation)")
    g.add_argument("--column", help="csv: the column holding the text (e.g. body)")
    g.add_argument("--field", default=None, help="jsonl: the field holding the text (default text)")
    if with_vocab:
        g.add_argument("--level", choices=["word", "char"], default="word",
                       help="model words or characters (default word)")
        g.add_argument("--vocab-size", type=int, default=8000,
                       help="vocabulary size including <unk>, <s>, </s> (default 8000)")
    g.add_argument("--errors", choices=["strict", "replace"], default=None,
                   help="bytes that are not UTF-8: stop with an error (strict, default) or replace them")
    g.add_argument("--skip-bad-lines", action="store_true", default=None,
                   help="jsonl/csv: skip malformed lines (they are counted and reported)")
    return g
