"""`rnnlab generate`: sample sentences from a trained model."""
from __future__ import annotations

from ._common import int_at_least, positive_float


def register(sub):
    """Add the ``generate`` sub-command to ``sub`` (the sub-parsers of ``rnnlab.cli.build_parser``)."""
    p = sub.add_parser("generate", help="sample sentences from a trained model",
                       description="Sample sentences from a trained language model, one per line.")
    p.add_argument("--model", required=True, metavar="DIR", help="model directory (or .npz checkpoint)")
    p.add_argument("-n", type=int_at_least(1), default=10, help="number of sentences (default 10)")
    p.add_argument("--temperature", type=positive_float, default=1.0,
                   help="below 1: more likely words; above 1: more varied (default 1.0)")
    p.add_argument("--prime", metavar="TEXT", help="start every sentence with this text")
    p.add_argument("--max-length", type=int_at_least(1), default=None,
                   help="tokens per sentence at most (default 50 words or 200 characters)")
    p.add_argument("--allow-unk", action="store_true", help="allow the unknown-word token in samples")
    p.add_argument("--seed", type=int_at_least(0), default=None, help="random seed (default: different every run)")
    p.set_defaults(func=run)


def run(args) -> int:
    """``rnnlab generate``: ``rnnlab.pipeline.generate_text``, one sentence per line; returns 0."""
    from ..use import generate_text

    for s in generate_text(args.model, n=args.n, temperature=args.temperature, prime=args.prime,
                           max_length=args.max_length, seed=args.seed, allow_unk=args.allow_unk):
        print(s)
    return 0
