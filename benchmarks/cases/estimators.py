"""Gradient estimators (rnnlab.estimators): cost per time step against the hidden size n, float32.

One call runs one whole sequence (T steps, B sequences) through the algorithm's ``sequence_gradient``;
the row's time is per call, the throughput in time steps. Per algorithm the exponent of time ~ n^p is
fitted by least squares on log time against log n, over all sizes and between the two largest: a fixed
cost per step of NumPy calls flattens the fit at small n, so each algorithm runs up to sizes where its
arithmetic dominates (BPTT, UORO and SnAp-1 to n = 2048, KF-RTRL to 512, RTRL to 128). RTRL should be
near 4 (its J_t M_{t-1} product has S^2 P ~ n^4 terms), KF-RTRL near 3, UORO and SnAp-1 near 2 (O(n^2)
per step, like BPTT's). The algorithms of one size are timed side by side (interleaved), except a call
that takes more than ``SLOW_S`` (RTRL from n = 96, KF-RTRL at 512: seconds), timed apart 3 times after one
untimed call. At n = 128 the ratio to BPTT (the layer's forward and backward) is printed: target, UORO and
SnAp-1 within 3x of BPTT's time.
Peak memory (child process, RSS): stored BPTT against checkpointed BPTT on a long sequence (T states
against about 2 sqrt(T)).
"""
from __future__ import annotations

import dataclasses
import sys
import time

import numpy as np

from ..harness import Context, Row, Timing, compare, peak_memory

SLOW_S = 0.5    # seconds: a call this slow gets the short timing schedule (``timed``)


def estimator_step(name: str, cell: str, n: int, T: int, B: int, I: int = 8):
    """A zero-argument call: the gradient of one batch of sequences by algorithm ``name``."""
    from rnnlab.estimators import make_estimator
    from rnnlab.layers import make_layer

    layer = make_layer(cell, input_size=I, hidden_size=n, dtype=np.float32, seed=0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I), dtype=np.float32)
    dout = rng.standard_normal((T, B, n), dtype=np.float32)
    est = make_estimator(name, layer, seed=0)

    def step():
        return est.sequence_gradient(x, dout)

    # the layer's workspace keeps a call's caches for the next one: part of what a call needs
    # (benchmarks.memchild adds it to the call's transient peak)
    step.kept_bytes = layer.workspace.nbytes
    return step


def fitted_exponent(ns, seconds) -> float:
    """Least-squares slope of log(seconds) against log(n)."""
    return float(np.polyfit(np.log(ns), np.log(seconds), 1)[0])


def timed(fns: dict, cfg) -> dict:
    """``compare`` of the calls in ``fns`` (name -> call), interleaved, so that their ratios hold on a
    machine whose load changes. One whose first call takes over ``SLOW_S`` (RTRL at n >= 96: seconds
    each) is timed apart, 3 samples with no warm-up or settling calls beyond that first one (the usual
    schedule would run it ~50 times)."""
    slow = {}
    for name, fn in fns.items():
        t0 = time.perf_counter()
        fn()
        if not cfg.quick and time.perf_counter() - t0 > SLOW_S:
            slow[name] = fn
    fast = {name: fn for name, fn in fns.items() if name not in slow}
    out = compare(fast, cfg) if fast else {}
    short = dataclasses.replace(cfg, warmup=0, settle=0, repeats=min(cfg.repeats, 3))
    for name, fn in slow.items():
        out.update(compare({name: fn}, short))
    return out


def run(ctx: Context) -> list:
    cfg = ctx.config
    T, B = cfg.pick((20, 8), (4, 2))
    # up to n = 2048 for the O(n^2) algorithms, 128 for RTRL: below that a fixed cost per step (NumPy
    # calls) is much of their time and flattens the fitted exponent
    big = [32, 64, 128, 256, 512, 1024, 2048]
    sizes = {"bptt": cfg.pick(big, [4, 8]), "uoro": cfg.pick(big, [4, 8]), "snap-1": cfg.pick(big, [4, 8]),
             "kf-rtrl": cfg.pick([32, 64, 128, 256, 512], [4, 8]), "rtrl": cfg.pick([16, 32, 48, 64, 96, 128], [4, 8])}
    targets = {"rtrl": "~4", "uoro": "~2", "snap-1": "~2", "kf-rtrl": "~3", "bptt": "~2"}
    rows, per = [], {}
    for n in sorted({n for ns in sizes.values() for n in ns}):     # the algorithms of one size side by side
        at_n = {name: estimator_step(name, "rnn", n, T, B) for name, ns in sizes.items() if n in ns}
        per.update({(name, n): t for name, t in timed(at_n, cfg).items()})
    top = 128 if 128 in sizes["bptt"] else max(sizes["bptt"])     # the target is stated at n = 128
    for name, ns in sizes.items():
        secs = [per[(name, n)].median / T for n in ns]
        p = fitted_exponent(ns, secs)
        # a fixed cost per step (NumPy calls) flattens the fit at small n: the two largest sizes say more
        p2 = fitted_exponent(ns[-2:], secs[-2:])
        print(f"[estimators] {name}: time per step ~ n^{p:.2f} over n = {ns}, n^{p2:.2f} between the two largest "
              f"(target {targets[name]})", file=sys.stderr)
        for n in ns:
            t = per[(name, n)]
            ratio = None
            notes = [f"time ~ n^{p:.2f} (n^{p2:.2f} at the top), target {targets[name]}"] if n == max(ns) else []
            if n == top and name in ("uoro", "snap-1", "kf-rtrl"):
                ratio = per[("bptt", n)].median / t.median
                notes.append("target for uoro, snap-1: >= 0.33x (within 3x of bptt)")
            note = "; ".join(notes)
            rows.append(Row(f"estimator RNN n={n} T={T} B={B}", name, t, items=T * B, item_unit="steps/s",
                            ratio=ratio, ref="bptt" if ratio else "", note=note))
    rows += run_checkpoint_memory(ctx)
    return rows


def run_checkpoint_memory(ctx: Context) -> list:
    """Stored BPTT against checkpointed BPTT on one long sequence: time and peak memory."""
    cfg = ctx.config
    T, B, n = cfg.pick((1024, 16, 128), (16, 2, 4))
    kw = dict(cell="lstm", n=n, T=T, B=B)
    timings = compare({"bptt": estimator_step("bptt", **kw), "checkpointed": estimator_step("checkpointed", **kw)},
                      cfg)
    rows = []
    for impl, t in timings.items():
        mem = peak_memory(cfg, "benchmarks.cases.estimators:estimator_step", name=impl, **kw)
        ratio = timings["bptt"].median / t.median if impl == "checkpointed" else None
        rows.append(Row(f"LSTM gradient T={T} B={B} H={n}", impl, t, items=T * B, item_unit="tokens/s", peak_mib=mem,
                        ratio=ratio, ref="bptt" if ratio else "",
                        note="about 2 sqrt(T) states stored, one extra forward pass" if ratio else ""))
    return rows


__all__ = ["run", "estimator_step", "fitted_exponent", "Timing"]
