"""Probe (issue 18): would a layer's time loops gain from two Python threads, each on half the batch rows?

    python -m benchmarks.row_threads_probe [--kernel own|pinned] [--cells gru,lstm,rnn] [--samples 15]
                                           [--modes today,rows,one,rows-one,half,steps]

The forward recurrence and the backward sweep make 2 T small products (B x H by H x G H) and a dozen
elementwise passes per step; two BLAS threads split the small products badly, and the passes run on one
core. Rows are independent in both loops, so each of two Python threads could run them on B/2 rows with a
one-thread BLAS (NumPy releases the interpreter lock inside matmul and the ufuncs). This times one layer
step (T = 100, B = 32, I = H = 256, float32: input product, forward loop, per-step factors and backward
sweep, weight-gradient products) six ways, each in its own process (OpenBLAS's worker threads keep
spinning after a two-thread call, so the modes must not share one):

    today     the BLAS on two threads throughout (the layers' path)
    rows      the loops as two Python threads on B/2 rows, one BLAS thread inside; the large products on
              two BLAS threads (the seam the experiment would build)
    one       the BLAS on one thread throughout (OPENBLAS_NUM_THREADS=1), the loops on all B rows
    rows-one  as ``one``, the loops as two Python threads on B/2 rows (their best case: no BLAS thread
              spinning beside them)
    half      as ``one``, the loops on B/2 rows only (what each of the two threads would take alone)
    steps     as ``one``, the whole step (products included) as two Python threads on B/2 rows each, the
              halves' weight gradients summed: no two-thread BLAS call at all

and prints the median and the best milliseconds of the forward loop, the backward loops (per-step
factors + sweep) and the whole step. Then, with one BLAS thread, a loop of N x (a 16 x 256 product and
a tanh over its result) for a product of 768 and of 256 columns, run once on one thread and as two
threads at once: whether two threads of such calls overlap at all. The halves' caches are separate
arrays here, and the weight products run per half (as much work as one product over all rows); in
``steps`` the loop columns are the slower half's.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from benchmarks.kernels import environment

MODES = ("today", "rows", "one", "rows-one", "half", "steps")
T, B, H = 100, 32, 256


def _cells():
    from rnnlab.layers.gru import GRUCell
    from rnnlab.layers.lstm import LSTMCell
    from rnnlab.layers.rnn import RNNCell
    return {"gru": GRUCell(), "lstm": LSTMCell(), "rnn": RNNCell()}


def _step(cell, p, x, dout, mode, pool, wss):
    """One layer step in ``mode``; returns (forward loop, backward loops, whole step) seconds."""
    from rnnlab.bptt import _full_into
    from rnnlab.threads import blas_threads
    G = p["W_ih"].shape[0]
    big = 2 if mode in ("today", "rows") else 1
    loops = 2 if mode == "today" else 1
    halves = [(0, B // 2), (B // 2, B)]
    parts = {"rows": halves, "rows-one": halves, "half": [(0, B // 2)], "steps": halves}.get(mode, [(0, B)])
    h0 = np.zeros((B, H), x.dtype)
    if mode == "steps":
        return _step_halves(cell, p, x, dout, parts, pool, wss)

    def forward(k):
        a, c = parts[k]
        s0 = (h0[a:c], h0[a:c]) if cell.has_cell_state else h0[a:c]
        return cell.forward(gi[:, a:c], s0, p["W_hh"], p["b_hh"], None, wss[k])[2]

    def backward(k):
        cell.prepare_backward(caches[k], wss[k])
        a, c = parts[k]
        return _full_into(cell, caches[k], p["W_hh"], dout[:, a:c], None, None, None, wss[k])

    def both(f):
        if len(parts) == 1:
            return [f(0)]
        other = pool.submit(f, 0)
        mine = f(1)
        return [other.result(), mine]

    t0 = time.perf_counter()
    with blas_threads(big):
        gi = (x.reshape(T * B, -1) @ p["W_ih"].T).reshape(T, B, G) + p["bias"]
    t1 = time.perf_counter()
    with blas_threads(loops):
        caches = both(forward)
    t2 = time.perf_counter()
    with blas_threads(loops):
        grads = both(backward)
    t3 = time.perf_counter()
    with blas_threads(big):
        for (a, c), (dgi, dgh, _, _), cache in zip(parts, grads, caches):
            xk = x[:, a:c].reshape(-1, x.shape[-1])
            dW_ih = dgi.reshape(-1, G).T @ xk
            dW_hh = dgh.reshape(-1, G).T @ cache["hs"][:-1].reshape(-1, H)
            dx = dgi.reshape(-1, G) @ p["W_ih"]
            dgi.reshape(-1, G).sum(axis=0), dgh.reshape(-1, G).sum(axis=0)
    t4 = time.perf_counter()
    del dW_ih, dW_hh, dx
    return t2 - t1, t3 - t2, t4 - t0


def overlap(n=2000):
    """Seconds for n steps of (a 16 x 256 product, a tanh) on one thread and twice that on two threads at
    once, for products of 768 and 256 columns: how far two threads of NumPy calls of this size overlap."""
    pool = ThreadPoolExecutor(1)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((16, 256)).astype(np.float32)
    result = {}
    for cols in (768, 256):
        w = (rng.standard_normal((256, cols)) / 16).astype(np.float32)
        outs = [np.empty((16, cols), np.float32) for _ in range(2)]

        def loop(k, w=w, outs=outs):
            for _ in range(n):
                np.matmul(a, w, out=outs[k])
                np.tanh(outs[k], out=outs[k])
        best = [float("inf")] * 2
        for _ in range(5):
            t0 = time.perf_counter()
            loop(0)
            t1 = time.perf_counter()
            other = pool.submit(loop, 0)
            loop(1)
            other.result()
            t2 = time.perf_counter()
            best = [min(best[0], t1 - t0), min(best[1], t2 - t1)]
        result[cols] = best
    return result


def _step_halves(cell, p, x, dout, parts, pool, wss):
    """The ``steps`` mode: each of two threads runs the whole step on its rows (one BLAS thread)."""
    from rnnlab.bptt import _full_into
    G = p["W_ih"].shape[0]
    h0 = np.zeros((B, H), x.dtype)
    marks = [[0.0, 0.0] for _ in parts]  # each half's forward and backward loops

    def step(k):
        a, c = parts[k]
        xk = x[:, a:c].reshape(-1, x.shape[-1])
        gi = (xk @ p["W_ih"].T).reshape(T, c - a, G) + p["bias"]
        s0 = (h0[a:c], h0[a:c]) if cell.has_cell_state else h0[a:c]
        t1 = time.perf_counter()
        cache = cell.forward(gi, s0, p["W_hh"], p["b_hh"], None, wss[k])[2]
        t2 = time.perf_counter()
        cell.prepare_backward(cache, wss[k])
        dgi, dgh, _, _ = _full_into(cell, cache, p["W_hh"], dout[:, a:c], None, None, None, wss[k])
        t3 = time.perf_counter()
        marks[k] = [t2 - t1, t3 - t2]
        dgi, dgh = dgi.reshape(-1, G), dgh.reshape(-1, G)
        return (dgi.T @ xk, dgh.T @ cache["hs"][:-1].reshape(-1, H), dgi @ p["W_ih"], dgi.sum(axis=0),
                dgh.sum(axis=0))

    t0 = time.perf_counter()
    other = pool.submit(step, 0)
    mine = step(1)
    first = other.result()
    sums = [u + v for u, v in zip(first[:2], mine[:2])]  # the weight gradients of the two halves
    t1 = time.perf_counter()
    del sums
    return max(m[0] for m in marks), max(m[1] for m in marks), t1 - t0


def child(mode, cell_names, samples):
    if mode == "overlap":
        return print(json.dumps(overlap()))
    from rnnlab.workspace import Workspace
    rng = np.random.default_rng(0)
    pool = ThreadPoolExecutor(1)
    result = {}
    for name in cell_names:
        cell = _cells()[name]
        G = cell.gates * H
        p = {"W_ih": (rng.standard_normal((G, H)) / 16).astype(np.float32),
             "W_hh": (rng.standard_normal((G, H)) / 16).astype(np.float32),
             "b_hh": (rng.standard_normal(G) / 10).astype(np.float32)}
        p["bias"] = cell.input_bias(p["b_hh"], p["b_hh"])
        x = rng.standard_normal((T, B, H)).astype(np.float32)
        dout = rng.standard_normal((T, B, H)).astype(np.float32)
        wss = [Workspace(), Workspace()]
        times = []
        for i in range(samples + 2):  # two untimed steps settle the workspace and the BLAS threads
            t = _step(cell, p, x, dout, mode, pool, wss)
            if i >= 2:
                times.append(t)
        times = np.array(times) * 1e3
        result[name] = {"median": np.median(times, axis=0).tolist(), "best": times.min(axis=0).tolist()}
    print(json.dumps(result))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", default="own", choices=("own", "pinned"))
    ap.add_argument("--cells", default="gru,lstm,rnn")
    ap.add_argument("--samples", type=int, default=15)
    ap.add_argument("--modes", default=",".join(MODES), help="some of " + ", ".join(MODES))
    ap.add_argument("--child", choices=MODES + ("overlap",), help=argparse.SUPPRESS)
    args = ap.parse_args()
    cells, modes = args.cells.split(","), tuple(args.modes.split(","))
    if args.child:
        return child(args.child, cells, args.samples)
    print(f"T={T} B={B} I=H={H} float32, kernel {args.kernel}, load {os.getloadavg()[0]:.2f}; "
          "ms, median (best) of", args.samples)
    rows = {}
    for mode in modes + ("overlap",):
        env = environment(args.kernel)
        if mode in ("one", "rows-one", "half", "steps", "overlap"):
            env["OPENBLAS_NUM_THREADS"] = "1"
        out = subprocess.run([sys.executable, "-m", "benchmarks.row_threads_probe", "--child", mode,
                              "--cells", args.cells, "--samples", str(args.samples)],
                             env=env, capture_output=True, text=True, check=True).stdout
        rows[mode] = json.loads(out)
    print("| cell | mode | forward loop | backward loops | whole step |\n|---|---|---:|---:|---:|")
    for name in cells:
        for mode in modes:
            r = rows[mode][name]
            cols = " | ".join(f"{m:.1f} ({b:.1f})" for m, b in zip(r["median"], r["best"]))
            print(f"| {name} | {mode} | {cols} |")
    for cols, (one, two) in rows["overlap"].items():
        print(f"2000 x (16x256 @ 256x{cols}, tanh), one BLAS thread: {one * 1e3:.1f} ms on one thread; twice "
              f"that on two threads at once {two * 1e3:.1f} ms ({2 * one / two:.2f}x the work per second)")


if __name__ == "__main__":
    main()
