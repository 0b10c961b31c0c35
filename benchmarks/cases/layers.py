"""Recurrent layers, forward + backward (time-major, float32): rnnlab against torch eager, and
rnnlab's per-output truncation (``truncate=k``) against full BPTT.

One step is ``out = layer(x)`` then the gradients of ``sum(out * dout)`` with respect to x, h0 and
every parameter. Its products, with G = gates * H:

    forward   x W_ih^T (T B, I, G)  and  h W_hh^T (T B, H, G)            2 T B G (I + H)
    backward  dx, dW_ih (I)  and  dh, dW_hh (H)                          4 T B G (I + H)

so 6 T B G (I + H) flops for full BPTT. Truncation to k repeats the dh product once per lag.
"""
from __future__ import annotations

import numpy as np

from rnnlab import kernels

from ..harness import Context, Row, compare, optional_torch, peak_memory

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
NUMPY_ONLY = "rnnlab, NumPy code"     # the gated cells without their compiled kernels


def _data(T, B, I, H):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I), dtype=np.float32)
    dout = rng.standard_normal((T, B, H), dtype=np.float32)
    return x, dout


def rnnlab_layer_step(cell: str, T: int, B: int, I: int, H: int, truncate: int | None = None):
    import rnnlab

    layer = rnnlab.make_layer(cell, I, H, dtype=np.float32, seed=0)
    x, dout = _data(T, B, I, H)

    def step():
        out, hn, cache = layer.forward(x)
        return layer.backward(cache, dout, truncate=truncate)

    step.kept_bytes = layer.workspace.nbytes                 # the arrays it reuses (benchmarks.memchild)
    return step


def numpy_layer_step(cell: str, T: int, B: int, I: int, H: int, truncate: int | None = None):
    """``rnnlab_layer_step`` with the gated cells' NumPy code instead of the compiled kernels
    (``rnnlab.kernels``): what the kernels gain, in the same run."""
    from rnnlab import kernels

    step = rnnlab_layer_step(cell, T, B, I, H, truncate)

    def plain():
        with kernels.numpy_only():
            return step()

    plain.kept_bytes = step.kept_bytes
    return plain


def torch_layer_step(cell: str, T: int, B: int, I: int, H: int):
    import torch

    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    torch.manual_seed(0)
    mod = cls(I, H)
    x_np, dout_np = _data(T, B, I, H)
    x = torch.from_numpy(x_np).requires_grad_(True)
    dout = torch.from_numpy(dout_np)
    params = list(mod.parameters())

    def step():
        for p in params:
            p.grad = None
        x.grad = None
        out, _ = mod(x)
        out.backward(dout)

    return step


def layer_flops(cell, T, B, I, H, truncate=None):
    G = GATES[cell] * H
    full = 6.0 * T * B * G * (I + H)
    if truncate is None or truncate >= T - 1:
        return full
    # one dh product of 2 B G H per lag and per step still reached, instead of one per step
    lagged = sum(T - j for j in range(truncate + 1))
    return full + 2.0 * B * G * H * (lagged - T)


def _sizes(cfg):
    return cfg.pick((100, 32, 256, 256), (8, 4, 16, 16))


def run_layers(ctx: Context) -> list:
    """rnnlab vs torch eager, forward + backward."""
    cfg = ctx.config
    T, B, I, H = _sizes(cfg)
    torch = optional_torch()
    rows = []
    for cell in ("rnn", "lstm", "gru"):
        kw = dict(cell=cell, T=T, B=B, I=I, H=H)
        fns = {"rnnlab": rnnlab_layer_step(**kw)}
        if cell != "rnn" and kernels.available():   # the gated cells' compiled kernels, and without them
            fns[NUMPY_ONLY] = numpy_layer_step(**kw)
        if torch is not None:
            fns["torch"] = torch_layer_step(**kw)
        timings = compare(fns, cfg)
        case = f"{cell.upper()} layer fwd+bwd T={T} B={B} I={I} H={H}"
        flops = layer_flops(cell, T, B, I, H)
        for impl, t in timings.items():
            ratio = timings["torch"].median / t.median if impl != "torch" and "torch" in timings else None
            maker = {"rnnlab": "rnnlab", NUMPY_ONLY: "numpy", "torch": "torch"}[impl]
            mem = peak_memory(cfg, f"benchmarks.cases.layers:{maker}_layer_step", **kw)
            note = ""
            if impl == "rnnlab" and NUMPY_ONLY in timings:
                note = f"compiled gate kernels: {timings[NUMPY_ONLY].median / t.median:.2f}x the NumPy code"
            rows.append(Row(case, impl, t, flops=flops, items=T * B, item_unit="tokens/s", peak_mib=mem,
                            ratio=ratio, ref="torch" if ratio else "", note=note))
    return rows


def run_truncate(ctx: Context, k: int = 4) -> list:
    """rnnlab truncate=k against full BPTT (target: at most 2x the time)."""
    cfg = ctx.config
    T, B, I, H = _sizes(cfg)
    rows = []
    for cell in ("rnn", "lstm", "gru"):
        kw = dict(cell=cell, T=T, B=B, I=I, H=H)
        timings = compare({"full BPTT": rnnlab_layer_step(**kw),
                           f"truncate={k}": rnnlab_layer_step(**kw, truncate=k)}, cfg)
        case = f"{cell.upper()} layer rnnlab truncate={k} vs full, T={T} B={B} H={H}"
        for impl, t in timings.items():
            trunc = None if impl == "full BPTT" else k
            ratio = timings["full BPTT"].median / t.median if trunc is not None else None
            mem = peak_memory(cfg, "benchmarks.cases.layers:rnnlab_layer_step", **kw, truncate=trunc)
            rows.append(Row(case, impl, t, flops=layer_flops(cell, T, B, I, H, trunc), items=T * B,
                            item_unit="tokens/s", peak_mib=mem, ratio=ratio, ref="full" if ratio else "",
                            note="target: time <= 2x full" if ratio else ""))
    return rows


def layer_parts(cell: str, T: int, B: int, I: int, H: int) -> dict:
    """The phases of one rnnlab layer step as separate callables (label -> (callable, flops)), each on
    inputs the earlier phases made once: what the layer's time is made of."""
    import rnnlab
    from rnnlab import bptt

    layer = rnnlab.make_layer(cell, I, H, dtype=np.float32, seed=0)
    x, dout = _data(T, B, I, H)
    p = layer._layer_params(0)
    W_ih, W_hh, c = p["W_ih"], p["W_hh"], layer.cell
    G = c.gates * H
    bias = c.input_bias(p["b_ih"], p["b_hh"])
    zeros = np.zeros((B, H), dtype=np.float32)
    state0 = (zeros, zeros) if c.has_cell_state else zeros

    def input_product():
        gi = bptt.mm(x, W_ih.T)
        gi += bias
        return gi

    gi = input_product()
    _, _, cache = c.forward(gi, state0, W_hh, p["b_hh"])
    factors = ("coef", "oc", "dact")
    plain = {k: v for k, v in cache.items() if k not in factors}
    c.prepare_backward(cache)
    dgi, dgh, _ = bptt.bptt(c, cache, W_hh, dout)
    hs = cache["hs"][:-1].reshape(-1, H)
    h, a, dh = hs[:B], np.empty((B, G), np.float32), np.empty((B, H), np.float32)
    WT, d = W_hh.T, dgh[0]

    def step_products():
        for _ in range(T):
            np.matmul(h, WT, out=a)
            np.matmul(d, W_hh, out=dh)

    def weight_products():
        dgi.reshape(-1, G).T @ x.reshape(-1, I)
        bptt.mm(dgi, W_ih)
        dgh.reshape(-1, G).T @ hs

    def bias_sums():
        dgi.reshape(-1, G).sum(axis=0)
        dgh.reshape(-1, G).sum(axis=0)

    fwd_flops, step_flops = 2.0 * T * B * G * I, 2.0 * T * B * G * H
    return {
        "input product x W_ih^T + bias": (input_product, fwd_flops),
        "forward recurrence (cell loop)": (lambda: c.forward(gi, state0, W_hh, p["b_hh"]), step_flops),
        # as full BPTT asks for them (the gated cells' compiled backward steps form their own)
        "per-step factors (prepare_backward)": (lambda: c.prepare_backward(dict(plain), into=True), None),
        "backward sweep (bptt, full)": (lambda: bptt.bptt(c, cache, W_hh, dout), step_flops),
        "dW_ih, dx, dW_hh products": (weight_products, 2 * fwd_flops + step_flops),
        "bias gradient sums": (bias_sums, None),
        "the loops' products alone (2 T per-step)": (step_products, 2 * step_flops),
    }


def run_parts(ctx: Context) -> list:
    """What an rnnlab layer step is made of: each phase timed on its own (side by side, interleaved); the
    first six add up to about one layer step, the last is the per-step products inside the two loops."""
    cfg = ctx.config
    T, B, I, H = _sizes(cfg)
    rows = []
    for cell in ("rnn", "lstm", "gru"):
        parts = layer_parts(cell, T, B, I, H)
        timings = compare({k: f for k, (f, _) in parts.items()}, cfg)
        case = f"{cell.upper()} layer parts (rnnlab) T={T} B={B} I={I} H={H}"
        for impl, t in timings.items():
            rows.append(Row(case, impl, t, flops=parts[impl][1]))
    return rows
