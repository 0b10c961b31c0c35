"""`rnnlab diagnose`: gradient-flow report (report.html, report.json, figures) for trained models."""
from __future__ import annotations


def register(sub):
    """Add the ``diagnose`` sub-command to ``sub`` (the sub-parsers of ``rnnlab.cli.build_parser``)."""
    p = sub.add_parser("diagnose", help="gradient-flow report: see the gradient vanish (or explode)",
                       description="Measure how far the gradient reaches back in time in trained models: "
                       "gradient and weight-gradient contribution by distance, Jacobian norms against the "
                       "tutorial's bound, singular values of the recurrent matrices, saturation, truncation "
                       "bias, and exploding-gradient events of training. Several --model options are "
                       "overlaid on the same text. Writes report.html (self-contained), report.json and "
                       "the figures (PNG) into --out.")
    g = p.add_argument_group("models and data")
    g.add_argument("--model", action="append", required=True, metavar="DIR",
                   help="model directory (or .npz checkpoint); repeat to compare models side by side")
    g.add_argument("--text", metavar="FILE", help="text to measure on, read like the model's training data "
                   "(default: the model's validation data)")
    g.add_argument("--steps", type=int, default=100, help="time steps T of the measured batch (default 100)")
    g.add_argument("--batch", type=int, default=None,
                   help="sequences B in the measured batch (default 4 streams, or 32 sentences)")
    g.add_argument("--batching", choices=["stream", "sentences"], default=None,
                   help="stream: a continuous stream cut into B rows; sentences: the first B sentences from "
                        "a zero state (default: as the model was trained)")
    m = p.add_argument_group("measures")
    m.add_argument("--max-distance", type=int, default=50, help="largest distance d in steps (default 50)")
    m.add_argument("--jacobian", choices=["auto", "exact", "power"], default="auto",
                   help="Jacobian norms: exact (small hidden sizes), power iteration, or auto (default)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory for the report")
    p.set_defaults(func=run)


def run(args) -> int:
    """``rnnlab diagnose``: ``rnnlab.report.models.diagnose_model_dirs`` on the parsed ``args``; returns 0."""
    from pathlib import Path

    from ..report.models import diagnose_model_dirs

    diagnose_model_dirs(args.model, args.out, text=args.text, max_distance=args.max_distance, steps=args.steps,
                        batch=args.batch, batching=args.batching, jacobian=args.jacobian)
    print(f"report: {Path(args.out) / 'report.html'}")
    return 0
