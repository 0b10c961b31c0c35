"""python -m benchmarks [--quick] [--only NAME ...] [--kernel both|own|pinned] [--markdown FILE]: run the
cases, print the table.

Every comparison is timed side by side in one process, float32, on the same number of threads for
NumPy's BLAS and torch. By default the run measures two BLAS kernels, one child process each: the CPU's
own (every case) and the one this environment pins for CI (the cases compared with torch and the layer
parts), then prints their speed-ups side by side and the performance targets (see
``benchmarks.kernels``)."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

from . import kernels
from .harness import Config, Context, set_threads
from .report import cells, machine, markdown_table, side_by_side, target_lines, text_table

PINNED_CASES = ("matmul", "layers", "layer-parts", "lm")  # compared with torch, and what bounds the layers


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n", 1)[1].strip())
    p.add_argument("--quick", action="store_true", help="tiny sizes and few repeats: a smoke run")
    p.add_argument("--only", nargs="+", default=(), metavar="NAME",
                   help="run only the cases whose name contains one of these (matmul, layers, layer-parts, truncate, "
                        "lm, lm-reference, lm-class, train)")
    p.add_argument("--kernel", choices=("both",) + kernels.KERNELS, default="both",
                   help="BLAS kernel: the CPU's own, the environment's pinned one, or both (default; one "
                        "child process each; the pinned one runs only the cases compared with torch and the "
                        "layer parts, 9 samples each unless --repeats, no memory)")
    p.add_argument("--repeats", type=int, default=None, help="timed samples per implementation (default 15)")
    p.add_argument("--threads", type=int, default=2, help="BLAS and torch threads (default 2)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory child processes")
    p.add_argument("--markdown", metavar="FILE", help="also write the table(s) and machine as Markdown")
    p.add_argument("--cases", nargs="+", default=None, help=argparse.SUPPRESS)   # exact case names (children)
    p.add_argument("--result", default=None, help=argparse.SUPPRESS)             # JSON for the parent
    return p.parse_args(argv)


def run(config: Config, out=sys.stdout, cases=None) -> Context:
    """Run the selected cases in order; rows are printed as each case finishes."""
    from .cases import CASES

    set_threads(config.threads)
    ctx = Context(config)
    for name, fn in CASES.items():
        if cases is not None and name not in cases:
            continue
        if config.only and not any(s in name for s in config.only):
            continue
        print(f"[{name}] ...", file=sys.stderr, flush=True)
        ctx.rows.extend(fn(ctx))
    return ctx


def _one_kernel(a, cfg: Config) -> int:
    """Run the cases on this process's kernel; print its header and table (and hand them to a parent)."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    ctx = run(cfg, cases=a.cases)
    info = [kernels.describe(a.kernel)] + machine(cfg.threads, load)
    print("\n".join(info))
    print()
    print(text_table(ctx.rows, ctx.peak_gflops), flush=True)
    md = "\n".join(["```", *info, "```", "", markdown_table(ctx.rows, ctx.peak_gflops), ""])
    if a.result:
        rows = [dict(zip(("case", "impl", "ms", "spread", "throughput", "gflops", "peak", "mib", "speedup"),
                         cells(r, ctx.peak_gflops)), ratio=r.ratio, ref=r.ref) for r in ctx.rows]
        with open(a.result, "w") as f:
            json.dump({"kernel": a.kernel, "markdown": md, "rows": rows}, f)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(md)
        print(f"\nwrote {a.markdown}")
    return 0


def _both_kernels(a, argv) -> int:
    """One child process per kernel, then the two side by side."""
    base = [x for x in (sys.argv[1:] if argv is None else list(argv))]
    base = _drop_option(_drop_option(base, "--markdown", 1), "--kernel", 1)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k in kernels.KERNELS:
            path = os.path.join(tmp, f"{k}.json")
            extra = []
            if k == "pinned":  # the second pass: fewer samples, no memory (it does not depend on the kernel)
                extra = ["--cases", *PINNED_CASES, "--no-memory"] + ([] if a.repeats else ["--repeats", "9"])
            print(f"\n=== BLAS kernel: {k} ===", flush=True)
            cmd = [sys.executable, "-m", "benchmarks", *base, *extra, "--kernel", k, "--result", path]
            rc = subprocess.run(cmd, env=kernels.environment(k)).returncode
            if rc != 0:
                print(f"the {k}-kernel run failed (exit status {rc})", file=sys.stderr)
                return rc
            with open(path) as f:
                results[k] = json.load(f)
    summary = side_by_side(results["own"]["rows"], results["pinned"]["rows"])
    targets = target_lines(results["own"]["rows"], results["pinned"]["rows"])
    print("\n=== speed-ups side by side: the CPU's own kernel | the pinned kernel ===")
    print(summary["text"])
    print("\n" + "\n".join(targets))
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write("\n".join(["## The CPU's own BLAS kernel", "", results["own"]["markdown"],
                               "## The pinned kernel (this environment, CI)", "", results["pinned"]["markdown"],
                               "## Side by side", "", summary["markdown"], "", targets[0],
                               "", *[f"- {t.strip()}" for t in targets[1:]], ""]))
        print(f"\nwrote {a.markdown}")
    return 0


def _drop_option(args, name, nvals):
    out, i = [], 0
    while i < len(args):
        if args[i] == name:
            i += 1 + nvals
        elif args[i].startswith(name + "="):
            i += 1
        else:
            out.append(args[i])
            i += 1
    return out


def main(argv=None) -> int:
    a = parse_args(argv)
    cfg = Config(quick=a.quick, threads=a.threads, only=tuple(a.only), memory=not (a.no_memory or a.quick))
    if a.quick:
        cfg.repeats, cfg.warmup, cfg.settle = 3, 1, 0
    if a.repeats is not None:
        cfg.repeats = a.repeats
    if a.kernel == "both":
        return _both_kernels(a, argv)
    if not kernels.matches(a.kernel):  # OpenBLAS reads its variables at load: a fresh process with them
        args = sys.argv[1:] if argv is None else list(argv)
        cmd = [sys.executable, "-m", "benchmarks", *args]
        return subprocess.run(cmd, env=kernels.environment(a.kernel)).returncode
    return _one_kernel(a, cfg)


if __name__ == "__main__":
    sys.exit(main())
