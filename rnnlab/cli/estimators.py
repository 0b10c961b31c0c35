"""`rnnlab estimators`: every gradient algorithm on the same frozen weights and data, against exact BPTT."""
from __future__ import annotations

from ._common import int_at_least, positive_float


def _names(s):
    return [x.strip() for x in s.split(",") if x.strip()]


def register(sub):
    """Add the ``estimators`` sub-command to ``sub`` (the sub-parsers of ``rnnlab.cli.build_parser``)."""
    from ..estimators.measure import MeasureConfig

    d = MeasureConfig()
    p = sub.add_parser(
        "estimators", help="compare gradient algorithms (RTRL, UORO, SnAp, e-prop, ...) with exact BPTT",
        description="Run BPTT, truncated and checkpointed BPTT, RTRL, UORO, KF-RTRL, SnAp-1, SnAp-2, RFLO and "
        "e-prop on the same frozen weights and data and measure each against exact BPTT (float64): cosine, "
        "relative error, bias^2 and variance over --draws draws, seconds per step, peak memory, and the "
        "distances of the gradient-by-distance profile each recovers. Writes estimators.json "
        "({\"records\": [...]}), one figure per measure and estimators.html into --out.")
    g = p.add_argument_group("model and data")
    g.add_argument("--cell", choices=["rnn", "lstm", "gru"], default=d.cell, help=f"(default {d.cell})")
    g.add_argument("--hidden", type=int_at_least(1), default=d.hidden, help=f"hidden size H (default {d.hidden})")
    g.add_argument("--length", type=int_at_least(1), default=d.length, help=f"time steps T (default {d.length})")
    g.add_argument("--input-size", type=int_at_least(1), default=d.input_size,
                   help=f"input features of the synthetic problem (default {d.input_size})")
    g.add_argument("--batch", type=int_at_least(1), default=d.batch, help=f"sequences B (default {d.batch})")
    g.add_argument("--model", metavar="DIR", help="a trained one-layer language model: its weights, its "
                   "validation text and its output layer's learning signals (--cell/--hidden ignored)")
    g.add_argument("--seed", type=int, default=d.seed, help="weights, data and draws (default 0)")
    g = p.add_argument_group("measurement")
    g.add_argument("--estimators", type=_names, default=None, metavar="LIST",
                   help="comma-separated names (default: all: bptt, tbptt-K, checkpointed, rtrl, uoro, kf-rtrl, "
                        "snap-1, snap-2, rflo, eprop, eprop-exact)")
    g.add_argument("--dtype", choices=["float32", "float64"], default=d.dtype, help=f"(default {d.dtype})")
    g.add_argument("--draws", type=int_at_least(1), default=d.draws,
                   help=f"draws K of each stochastic algorithm (default {d.draws})")
    g.add_argument("--truncate", type=int_at_least(0), default=d.truncate, help=f"K of tbptt-K (default {d.truncate})")
    g.add_argument("--max-distance", type=int_at_least(0), default=d.max_distance,
                   help=f"largest distance d of the profile (default {d.max_distance})")
    g.add_argument("--max-gib", type=positive_float, default=d.max_bytes / 2**30,
                   help="skip an algorithm whose influence state needs more GiB (default %(default).2g)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run)


def run(args) -> int:
    """``rnnlab estimators``: measure, write estimators.json, the figures and estimators.html; returns 0."""
    import json
    import os
    import sys

    from ..errors import ConfigError
    from ..estimators import parse_name
    from ..estimators.measure import MeasureConfig, config_dict, measure, model_problem, synthetic_problem
    from ..threads import blas_threads

    cfg = MeasureConfig(cell=args.cell, hidden=args.hidden, length=args.length, input_size=args.input_size,
                        batch=args.batch, dtype=args.dtype, draws=args.draws, truncate=args.truncate,
                        max_distance=max(args.max_distance, 1), seed=args.seed, max_bytes=args.max_gib * 2**30)
    names = args.estimators
    if names is not None:
        if not names:
            raise ConfigError("--estimators needs at least one name")
        for n in names:
            parse_name(n)
    os.makedirs(args.out, exist_ok=True)
    layer, x, dout = model_problem(args.model, cfg) if args.model else synthetic_problem(cfg)

    def progress(i, n, r):
        if args.quiet:
            return
        if not r["applicable"]:
            print(f"[{i}/{n}] {r['estimator']}: not applicable: {r['reason']}", file=sys.stderr, flush=True)
            return
        print(f"[{i}/{n}] {r['estimator']:<12} cosine {r['cosine']:.4f}  rel. error {r['relative_error']:.3g}  "
              f"{1e3 * r['seconds_per_step']:.3g} ms/step  peak {r['peak_bytes'] / 2**20:.3g} MiB", file=sys.stderr,
              flush=True)

    with blas_threads(1):   # the steps' products are small: one BLAS thread, as training uses (rnnlab.threads)
        records = measure(layer, x, dout, cfg, names, progress)
    with open(os.path.join(args.out, "estimators.json"), "w") as f:
        json.dump({"config": {**config_dict(cfg), "model": args.model}, "records": records}, f, indent=1)
    written = ["estimators.json"]
    try:
        from ..estimators.figures import html_section, write_figures

        paths = write_figures(records, args.out)
        with open(os.path.join(args.out, "estimators.html"), "w") as f:
            f.write("<!doctype html><meta charset='utf-8'><title>rnnlab estimators</title>\n"
                    + html_section(records, paths) + "\n")
        written += [os.path.basename(p) for p in paths.values()] + ["estimators.html"]
    except ConfigError as e:   # no matplotlib: the numbers still stand
        print(f"rnnlab estimators: {e}", file=sys.stderr)
    print(f"wrote {', '.join(written)} to {args.out}")
    return 0
