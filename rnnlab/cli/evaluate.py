"""`rnnlab evaluate`: perplexity of a trained model on a corpus."""
from __future__ import annotations

import json

from ._common import add_data_options


def register(sub):
    """Add the ``evaluate`` sub-command to ``sub`` (the sub-parsers of ``rnnlab.cli.build_parser``)."""
    p = sub.add_parser("evaluate", help="perplexity of a trained model on a corpus",
                       description="Compute the perplexity (and cross-entropy in nats per token) of a trained "
                       "model on a corpus. Every predicted token of a sentence counts, its </s> included, "
                       "its <s> not.")
    p.add_argument("--model", required=True, metavar="DIR", help="model directory (or .npz checkpoint)")
    p.add_argument("--test", required=True, metavar="FILE", help="corpus to evaluate on (or builtin:agreement:test)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a sentence")
    add_data_options(p, with_vocab=False)
    p.set_defaults(func=run)


def run(args) -> int:
    """``rnnlab evaluate``: ``rnnlab.pipeline.evaluate_model``, printed as a sentence or JSON; returns 0."""
    from ..pipeline import evaluate_model

    opts = {"format": args.format, "column": args.column, "field": args.field, "errors": args.errors,
            "skip_bad_lines": args.skip_bad_lines}
    r = evaluate_model(args.model, args.test, opts)
    if args.json:
        print(json.dumps(r))
    else:
        print(f"perplexity {r['perplexity']:.2f} | cross-entropy {r['cross_entropy']:.4f} nats/token "
              f"({r['bits_per_token']:.3f} bits) | {r['tokens']} tokens in {r['sentences']} sentences")
    return 0
