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
    p.add_argument("--test", metavar="FILE", help="corpus to evaluate on (or builtin:agreement:test)")
    p.add_argument("--agreement", action="store_true",
                   help="score subject-verb agreement instead (models trained on builtin:agreement): the share "
                        "of fresh sentences where the model prefers the verb form that agrees, by distance")
    p.add_argument("--per-distance", type=int, default=200, help="--agreement: items per distance (default 200)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a sentence")
    ctx = p.add_mutually_exclusive_group()
    ctx.add_argument("--stream", dest="stream", action="store_true", default=None,
                     help="carry the state across sentences, as the standard benchmarks report (default for a "
                          "model trained with --stream)")
    ctx.add_argument("--sentences", dest="stream", action="store_false",
                     help="each sentence from the zero state (default for a model trained on sentences)")
    add_data_options(p, with_vocab=False)
    from .score import add_mixture_options
    add_mixture_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    """``rnnlab evaluate``: ``rnnlab.pipeline.evaluate_model``, printed as a sentence or JSON; returns 0."""
    from ..errors import ConfigError
    from ..use import evaluate_model

    if args.agreement:
        return run_agreement(args)
    if not args.test:
        raise ConfigError("give --test FILE (the corpus to compute perplexity on), or --agreement")
    opts = {"format": args.format, "column": args.column, "field": args.field, "errors": args.errors,
            "skip_bad_lines": args.skip_bad_lines}
    if args.ngram or args.lam is not None or args.dynamic is not None:
        if args.stream:
            raise ConfigError("--ngram, --lambda and --dynamic score sentence by sentence; drop --stream")
        return run_mixture(args, opts)
    r = evaluate_model(args.model, args.test, opts, stream=args.stream)
    if args.json:
        print(json.dumps(r))
    else:
        if r["skipped_note"]:
            print(r["skipped_note"])
        print(f"perplexity {r['perplexity']:.2f} | cross-entropy {r['cross_entropy']:.4f} nats/token "
              f"({r['bits_per_token']:.3f} bits) | {r['tokens']} tokens in {r['sentences']} sentences | "
              f"{'state carried across sentences' if r['stream'] else 'sentence by sentence'}")
    return 0


def run_mixture(args, opts) -> int:
    """``rnnlab evaluate --ngram/--lambda/--dynamic``: ``rnnlab.scoring.evaluate.evaluate_mixture``,
    printed as lines or JSON; returns 0."""
    from ..errors import ConfigError
    from ..scoring.evaluate import evaluate_mixture, format_mixture

    if args.lam is not None and not args.ngram:
        raise ConfigError("--lambda weighs the network against an n-gram model; give --ngram FILE too")
    r = evaluate_mixture(args.model, args.test, opts, ngram=args.ngram, lam=args.lam, dynamic=args.dynamic)
    print(json.dumps(r) if args.json else "\n".join(format_mixture(r)))
    return 0


def run_agreement(args) -> int:
    """``rnnlab evaluate --agreement``: ``rnnlab.tasks.agreement.agreement_benchmark`` on the model,
    printed as a table row or JSON; returns 0. Raises ConfigError for ``--per-distance`` below 1."""
    from ..errors import ConfigError
    from ..tasks.agreement import agreement_benchmark, format_header, format_scores
    from ..use import load_trained

    if args.per_distance < 1:
        raise ConfigError("--per-distance must be at least 1")
    lm, _ = load_trained(args.model)
    scores = agreement_benchmark(lm, lm.vocab, per_distance=args.per_distance)
    if args.json:
        print(json.dumps(scores))
    else:
        print(format_header(scores))
        from pathlib import Path
        print(format_scores(Path(args.model).name or str(args.model), scores))
    return 0
