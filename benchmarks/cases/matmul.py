"""The machine's float32 matrix-product rate, NumPy (its BLAS) and torch, on the benchmark threads.

A product (m, k) @ (k, n) costs 2 m k n flops. The largest NumPy rate measured here is the "peak" that
other cases report their achieved GFLOP/s against.
"""
from __future__ import annotations

import numpy as np

from ..harness import Context, Row, compare, optional_torch


def numpy_matmul_step(m: int, k: int, n: int):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    out = np.empty((m, n), dtype=np.float32)
    return lambda: np.matmul(a, b, out=out)


def torch_matmul_step(m: int, k: int, n: int):
    import torch

    g = torch.Generator().manual_seed(0)
    a = torch.randn(m, k, generator=g)
    b = torch.randn(k, n, generator=g)
    out = torch.empty(m, n)
    return lambda: torch.matmul(a, b, out=out)


def run(ctx: Context) -> list:
    cfg = ctx.config
    shapes = [
        ("LM output layer (T B, H) @ (H, V)", cfg.pick((640, 100, 8000), (64, 16, 256))),
        ("square", cfg.pick((2048, 2048, 2048), (128, 128, 128))),
    ]
    torch = optional_torch()
    rows = []
    for label, (m, k, n) in shapes:
        fns = {"numpy": numpy_matmul_step(m, k, n)}
        if torch is not None:
            fns["torch"] = torch_matmul_step(m, k, n)
        timings = compare(fns, cfg)
        case = f"matmul f32 {label} {m}x{k} @ {k}x{n}"
        for impl, t in timings.items():
            ratio = timings["numpy"].median / t.median if impl != "numpy" else None
            rows.append(Row(case, impl, t, flops=2.0 * m * k * n, ratio=ratio, ref="numpy" if ratio else ""))
    ctx.peak_gflops = max(r.gflops for r in rows if r.impl == "numpy")
    return rows
