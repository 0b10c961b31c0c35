"""The benchmark table (plain text for the terminal, Markdown for docs/PERFORMANCE.md) and the machine
it ran on."""
from __future__ import annotations

import datetime
import os
import platform

import numpy as np

from .harness import Row, optional_torch

COLUMNS = ["case", "impl", "ms", "±", "throughput", "GFLOP/s", "% peak", "peak MiB", "speed-up"]


def _si(x: float) -> str:
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= div:
            return f"{x / div:.3g}{suffix}"
    return f"{x:.3g}"


def cells(row: Row, peak_gflops: float | None) -> list:
    t = row.timing.median
    thr = f"{_si(row.items / t)} {row.item_unit}" if row.items else ""
    gf = row.gflops
    share = f"{100 * gf / peak_gflops:.0f}%" if gf is not None and peak_gflops else ""
    return [
        row.case, row.impl, f"{1e3 * t:.3f}" if t < 0.01 else f"{1e3 * t:.1f}", f"{100 * row.timing.spread:.0f}%",
        thr, "" if gf is None else f"{gf:.1f}", share,
        "" if row.peak_mib is None else f"{row.peak_mib:.1f}",
        (row.note if row.ratio is None
         else f"{row.ratio:.2f}x vs {row.ref}" + (f" ({row.note})" if row.note else "")),
    ]


def _table(rows, peak_gflops):
    out, prev = [], None
    for r in rows:
        c = cells(r, peak_gflops)
        if r.case == prev:
            c[0] = ""
        prev = r.case
        out.append(c)
    return out


def text_table(rows, peak_gflops) -> str:
    body = _table(rows, peak_gflops)
    width = [max(len(str(x)) for x in col) for col in zip(COLUMNS, *body)]
    line = lambda c: "  ".join(str(x).ljust(w) if i < 2 else str(x).rjust(w) for i, (x, w) in enumerate(zip(c, width)))
    return "\n".join([line(COLUMNS), line(["-" * w for w in width])] + [line(c) for c in body])


def markdown_table(rows, peak_gflops) -> str:
    body = _table(rows, peak_gflops)
    out = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * (len(COLUMNS) - 2)) + "|"]
    out += ["| " + " | ".join(c) + " |" for c in body]
    return "\n".join(out)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine(threads: int, load_before: tuple | None = None) -> list:
    """Lines describing the machine, the BLAS, the thread settings and the load (other processes share
    the cores: a load average above 0 before the run means the timings are noisier)."""
    from threadpoolctl import threadpool_info

    lines = [f"date: {datetime.datetime.now().isoformat(timespec='seconds')}",
             f"cpu: {_cpu_model()}, {os.cpu_count()} logical cores; {platform.system()} {platform.release()}",
             f"python {platform.python_version()}, numpy {np.__version__}"]
    for info in threadpool_info():
        lines.append(f"  {info.get('user_api')}: {info.get('internal_api')} {info.get('version')}, "
                     f"kernel {info.get('architecture', '?')}, {info.get('num_threads')} threads")
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    if env:
        lines.append(f"  environment: {', '.join(f'{k}={v}' for k, v in env.items())}")
    torch = optional_torch()
    if torch is not None:
        lines.append(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if load_before is not None and hasattr(os, "getloadavg"):
        after = os.getloadavg()[0]
        lines.append(f"load average (1 min) before the run {load_before[0]:.2f}, after {after:.2f}")
        if max(load_before[0], after) > 0.5 * (os.cpu_count() or 1) + threads:
            lines.append("WARNING: other processes share the cores: timings are unreliable (torch's OpenMP "
                         "threads suffer most, waiting on descheduled partners)")
    lines.append(f"float32, {threads} threads; median of repeated runs after warm-up, implementations "
                 "interleaved; ± = interquartile range / median; % peak = share of the numpy matmul rate; "
                 "peak MiB = transient memory of one call; speed-up = t(ref) / t(impl)")
    return lines
