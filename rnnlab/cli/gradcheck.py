"""`rnnlab gradcheck`: finite differences against every layer's analytic BPTT gradients."""
from __future__ import annotations

import itertools

from ._common import int_at_least


def register(sub):
    """Add the ``gradcheck`` sub-command to ``sub`` (the sub-parsers of ``rnnlab.cli.build_parser``)."""
    p = sub.add_parser("gradcheck", help="check every layer's gradients against finite differences",
                       description="Check the analytic BPTT gradients of every layer type, nonlinearity, "
                       "depth and truncation setting against central finite differences (float64). "
                       "Prints one line per case; exits 1 if any case fails.")
    p.add_argument("--tol", type=float, default=1e-5, help="largest relative error that passes (default 1e-5)")
    p.add_argument("--steps", type=int, default=6, help="sequence length T of the random problems (default 6)")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="random seed (default 0)")
    p.set_defaults(func=run)


def run(args) -> int:
    """``rnnlab gradcheck``: ``rnnlab.finite_differences.layer_gradcheck`` over every cell, nonlinearity, depth
    (1, 2) and truncation (full, k = 0, 1, 3); returns 1 if any case fails, else 0.

    Raises:
        ConfigError: ``--tol`` not positive or ``--steps`` below 1.
    """
    from ..errors import ConfigError
    from ..finite_differences import layer_gradcheck
    from ..layers import LAYERS, NONLINEARITIES

    if args.tol <= 0 or args.steps < 1:
        raise ConfigError("--tol must be > 0 and --steps >= 1")
    cases = [("rnn", nl) for nl in NONLINEARITIES] + [(cell, "tanh") for cell in LAYERS if cell != "rnn"]
    failed = 0
    T = args.steps
    for (kind, nl), layers, trunc in itertools.product(cases, (1, 2), (None, 0, 1, 3)):
        r = layer_gradcheck(kind, nl, num_layers=layers, truncate=trunc, T=T, seed=args.seed,
                            max_entries=30, tol=args.tol)
        name = f"{kind}-{nl}" if kind == "rnn" else kind
        trunc_s = "full" if trunc is None else f"k={trunc}"
        status = "PASS" if r.passed else "FAIL"
        failed += not r.passed
        print(f"{name:<12} layers={layers} bptt={trunc_s:<5} max rel error {r.worst:.1e}  {status}", flush=True)
    total = len(cases) * 2 * 4
    print(f"{total - failed} passed, {failed} failed")
    return 1 if failed else 0
