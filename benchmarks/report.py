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
                 "peak MiB = transient memory of one call + what it keeps for reuse; speed-up = t(ref) / t(impl)")
    return lines


# -- two kernels side by side, and the targets ------------------------------------------------------

SIDE_COLUMNS = ["case", "impl", "own ms", "own speed-up", "own % peak", "pinned ms", "pinned speed-up",
                "pinned % peak"]

# issue 18, on the CPU's own kernel: rnnlab's speed-up over torch, and the LSTM's share of the matmul rate
OWN_TARGETS = [("RNN layer fwd+bwd", 2.0), ("LSTM layer fwd+bwd", 1.2), ("GRU layer fwd+bwd", 1.5),
               ("tutorial LM SGD step", 3.0)]
LSTM_PEAK_SHARE = 70.0  # % of the measured matmul rate, on either kernel


def side_by_side(own: list, pinned: list) -> dict:
    """The rows of the own-kernel run with the pinned run's time, speed-up and share of the matmul rate
    beside them (rows are the dicts a child hands back: the table's cells plus ``ratio`` and ``ref``)."""
    other = {(r["case"], r["impl"]): r for r in pinned}
    body = []
    for r in own:
        p = other.get((r["case"], r["impl"]))
        if p is None:
            continue
        up = lambda x: f"{x['ratio']:.2f}x vs {x['ref']}" if x["ratio"] else ""
        body.append([r["case"], r["impl"], r["ms"], up(r), r["peak"], p["ms"], up(p), p["peak"]])
    for i in range(len(body) - 1, 0, -1):
        if body[i][0] == body[i - 1][0]:
            body[i][0] = ""
    width = [max(len(str(x)) for x in col) for col in zip(SIDE_COLUMNS, *body)]
    line = lambda c: "  ".join(str(x).ljust(w) if i < 2 else str(x).rjust(w) for i, (x, w) in enumerate(zip(c, width)))
    text = "\n".join([line(SIDE_COLUMNS), line(["-" * w for w in width])] + [line(c) for c in body])
    md = ["| " + " | ".join(SIDE_COLUMNS) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * 6) + "|"]
    md += ["| " + " | ".join(c) + " |" for c in body]
    return {"text": text, "markdown": "\n".join(md)}


def _vs_torch(rows, prefix):
    for r in rows:
        if r["case"].startswith(prefix) and r["ref"] == "torch" and r["ratio"]:
            return r
    return None


def _share(rows, prefix):
    r = next((r for r in rows if r["case"].startswith(prefix) and r["impl"] == "rnnlab"), None)
    return None if r is None or not r["peak"] else float(r["peak"].rstrip("%"))


def target_lines(own: list, pinned: list) -> list:
    """One line per target of issue 18: the measured value and met / MISSED."""
    mark = lambda ok: "met" if ok else "MISSED"
    out = ["targets (issue 18):"]
    for prefix, goal in OWN_TARGETS:
        r = _vs_torch(own, prefix)
        if r is not None:
            out.append(f"  own kernel: {prefix} vs torch {r['ratio']:.2f}x (target >= {goal}x): "
                       f"{mark(r['ratio'] >= goal)}")
    for label, rows in (("own", own), ("pinned", pinned)):
        s = _share(rows, "LSTM layer fwd+bwd")
        if s is not None:
            out.append(f"  {label} kernel: LSTM layer at {s:.0f}% of the matmul rate (target >= "
                       f"{LSTM_PEAK_SHARE:.0f}%): {mark(s >= LSTM_PEAK_SHARE)}")
    slower = [f"{r['case'].split(' T=')[0].split(',')[0]} {r['ratio']:.2f}x" for r in pinned
              if r["ref"] == "torch" and r["ratio"] and r["ratio"] < 1 and not r["case"].startswith("LSTM")]
    out.append("  pinned kernel: no case but the LSTM slower than torch: "
               + (mark(True) if not slower else "MISSED (" + "; ".join(slower) + ")"))
    return out
