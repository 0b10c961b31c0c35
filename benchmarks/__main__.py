"""python -m benchmarks [--quick] [--only NAME ...] [--markdown FILE]: run the cases, print the table.

Every comparison is timed side by side in one process, float32, on the same number of threads for
NumPy's BLAS and torch."""
from __future__ import annotations

import argparse
import os
import sys

from .harness import Config, Context, set_threads
from .report import machine, markdown_table, text_table


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n", 1)[1].strip())
    p.add_argument("--quick", action="store_true", help="tiny sizes and few repeats: a smoke run")
    p.add_argument("--only", nargs="+", default=(), metavar="NAME",
                   help="run only the cases whose name contains one of these (matmul, layers, truncate, lm)")
    p.add_argument("--repeats", type=int, default=None, help="timed samples per implementation (default 15)")
    p.add_argument("--threads", type=int, default=2, help="BLAS and torch threads (default 2)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory child processes")
    p.add_argument("--markdown", metavar="FILE", help="also write the table and machine as Markdown")
    return p.parse_args(argv)


def run(config: Config, out=sys.stdout) -> Context:
    """Run the selected cases in order; rows are printed as each case finishes."""
    from .cases import CASES

    set_threads(config.threads)
    ctx = Context(config)
    for name, fn in CASES.items():
        if config.only and not any(s in name for s in config.only):
            continue
        print(f"[{name}] ...", file=sys.stderr, flush=True)
        ctx.rows.extend(fn(ctx))
    return ctx


def main(argv=None) -> int:
    a = parse_args(argv)
    cfg = Config(quick=a.quick, threads=a.threads, only=tuple(a.only), memory=not (a.no_memory or a.quick))
    if a.quick:
        cfg.repeats, cfg.warmup, cfg.settle = 3, 1, 0
    if a.repeats is not None:
        cfg.repeats = a.repeats
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    ctx = run(cfg)
    info = machine(cfg.threads, load)
    print("\n".join(info))
    print()
    print(text_table(ctx.rows, ctx.peak_gflops))
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write("\n".join(["```", *info, "```", "", markdown_table(ctx.rows, ctx.peak_gflops), ""]))
        print(f"\nwrote {a.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
