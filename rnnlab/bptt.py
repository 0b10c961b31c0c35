"""Backpropagation through time, written once for every cell type.

A cell supplies ``prepare_backward(cache, ws, into)`` (its per-step factors, once per cache; ``into``: the
sweep will call only ``backward_step_into``, whose compiled version may compute them itself) and
``backward_step(cache, s, dh, dc)``: the local backward of step(s) ``s`` (one index or a
slice of steps, so the same code serves one step or all steps at once). It returns the gradients of the
step's input and recurrent pre-activations (``dgi``, ``dgh``), any part of dL/dh_{t-1} that bypasses
W_hh (GRU's ``dh * z``), and dL/dc_{t-1} (LSTM). This module chains those steps:

Full BPTT (``truncate=None``): one backward sweep, t = T-1 .. 0,

    dh_t = dout_t + dL/dh_t from step t+1,    dL/dh_{t-1} = dgh_t @ W_hh + local.

Per-output truncation (``truncate=k``, the tutorial's ``bptt_truncate``): the gradient arriving at output
t flows back through steps t, t-1, ..., t-k only; the state entering step t-k is a constant when t-k > 0,
and h0 receives gradient from every window that reaches step 0. The tutorial computes this with a double
loop over outputs and steps (O(T k) small products). Here the k+1 lags are swept instead, each lag for all
outputs at once: D_0[t] = dout_t; D_{j+1}[s-1] = backward of step s applied to D_j[s], where D_j[s] is the
gradient at the state of step s coming from output s+j. Each lag is one batched step backward and one
(T B, G H) x (G H, H) product, so truncation costs k+1 large products instead of T small ones.
When k >= T-1 every window reaches step 0 and truncation equals full BPTT, which is then used.

Recurrent dropout (``rnnlab.dropout``): when the forward read m * h_{t-1} through W_hh, the cache holds
the (B, H) mask as ``mask_hh`` and every product through W_hh is multiplied by it,
dL/dh_{t-1} = (dgh_t @ W_hh) * m + local (the GRU's bypass ``dh * z`` is not masked: it never met W_hh).

Weight gradients are not touched here: the caller assembles them from ``dgi``/``dgh`` with a few large
products after the sweep.
"""
from __future__ import annotations

import numpy as np

from .workspace import workspace_of

STEP_BLOCK = 1 << 16  # elements per step block of the cells' per-step factors (float32: 256 KiB an array)


def step_blocks(T: int, per_step: int) -> list:
    """Slices of consecutive steps, ~STEP_BLOCK elements of ``per_step`` each: a cell's ``prepare_backward``
    runs its dozen elementwise passes block by block, so they reuse what the first pass brought into the
    cache (measured: the GRU's 12.3 -> 6.5 ms, the LSTM's 12.0 -> 9.1 ms at T 100, B 32, H 256)."""
    n = max(1, STEP_BLOCK // max(per_step, 1))
    return [slice(s, min(s + n, T)) for s in range(0, T, n)]


def mm(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """a @ w for a of any leading shape, as one 2-D BLAS call."""
    lead = a.shape[:-1]
    return (a.reshape(-1, a.shape[-1]) @ w).reshape(lead + (w.shape[1],))


def bptt(cell, cache, W_hh, dout, dstate_n=None, truncate=None, ws=None):
    """Gradients of one layer's pre-activations for all steps.

    Args:
        cell: the layer's cell (RNNCell, LSTMCell, GRUCell).
        cache: the cell's forward cache for this layer.
        W_hh: (G H, H) recurrent weights.
        dout: (T, B, H) dL/dh_t arriving from above (the layer's outputs).
        dstate_n: None, or dL/d(final state): (B, H) array, or (dh, dc) for LSTM (entries may be None).
        truncate: None for full BPTT, or k >= 0.
        ws: a ``rnnlab.workspace.Workspace`` that the per-step factors and dgi, dgh come from, or None
            (new arrays).

    Returns:
        dgi, dgh: (T, B, G H) gradients of the input / recurrent pre-activations (the same array when the
            cell shares them); dstate0: dL/dh0 (B, H), or (dh0, dc0) for LSTM.
    """
    T = dout.shape[0]
    lstm = cell.has_cell_state
    ws = workspace_of(ws)
    whole = truncate is None or truncate >= T - 1
    into = whole and hasattr(cell, "backward_step_into")
    cell.prepare_backward(cache, ws, into=into)
    dhn, dcn = (dstate_n if lstm and dstate_n is not None else (dstate_n, None))
    m = cache.get("mask_hh")                                     # recurrent dropout: (B, H) or None
    if whole:
        full = _full_into if into else _full
        dgi, dgh, dh0, dc0 = full(cell, cache, W_hh, dout, dhn, dcn, m, ws)
    else:
        dgi, dgh, dh0, dc0 = _truncated(cell, cache, W_hh, dout, dhn, dcn, int(truncate), m, ws)
    return dgi, dgh, ((dh0, dc0) if lstm else dh0)


def _sweep_start(cell, W_hh, dout, dhn, dcn, ws=None):
    """What a full backward sweep starts from: the (T, B, G) outputs dgi, dgh (one array when the cell's
    two pre-activations share it; from the workspace ``ws``), dL/dh_{T-1} (its output's gradient plus dhn)
    and dL/dc_{T-1} (LSTM)."""
    T, B, H = dout.shape
    dt = dout.dtype
    G = W_hh.shape[0]
    ws = workspace_of(ws)
    dgi = ws.empty((T, B, G), dt)
    dgh = dgi if cell.shares_preactivation else ws.empty((T, B, G), dt)
    dh = dout[T - 1].copy()
    if dhn is not None:
        dh += dhn
    dc = None
    if cell.has_cell_state:
        dc = np.zeros((B, H), dtype=dt) if dcn is None else dcn.astype(dt, copy=True)
    return dgi, dgh, dh, dc


def _full(cell, cache, W_hh, dout, dhn, dcn, m=None, ws=None):
    T = dout.shape[0]
    dgi, dgh, dh, dc = _sweep_start(cell, W_hh, dout, dhn, dcn, ws)
    for t in range(T - 1, -1, -1):
        gi_t, gh_t, dh_local, dc = cell.backward_step(cache, t, dh, dc)
        dgi[t] = gi_t
        if dgh is not dgi:
            dgh[t] = gh_t
        dh = gh_t @ W_hh
        if m is not None:
            dh *= m                                              # W_hh read m * h_{t-1}
        if dh_local is not None:
            dh += dh_local
        if t > 0:
            dh += dout[t - 1]
    return dgi, dgh, dh, dc


def _full_into(cell, cache, W_hh, dout, dhn, dcn, m=None, ws=None):
    """``_full`` with the cell's ``backward_step_into``: every step writes into the output arrays and
    reuses two (B, H) buffers, so the sweep allocates and copies nothing per step (the same operations in
    the same order: equal to ``_full`` bit for bit)."""
    T = dout.shape[0]
    dgi, dgh, dh, dc = _sweep_start(cell, W_hh, dout, dhn, dcn, ws)
    for t in range(T - 1, -1, -1):
        dh_local = cell.backward_step_into(cache, t, dh, dc, dgi[t], dgh[t])
        np.matmul(dgh[t], W_hh, out=dh)                          # dL/dh_{t-1} through W_hh
        if m is not None:
            dh *= m                                              # W_hh read m * h_{t-1}
        if dh_local is not None:
            dh += dh_local
        if t > 0:
            dh += dout[t - 1]
    return dgi, dgh, dh, dc


def _truncated(cell, cache, W_hh, dout, dhn, dcn, k, m=None, ws=None):
    T, B, H = dout.shape
    dt = dout.dtype
    G = W_hh.shape[0]
    ws = workspace_of(ws)
    dgi = ws.zeros((T, B, G), dt)
    dgh = dgi if cell.shares_preactivation else ws.zeros((T, B, G), dt)
    # Lag 0: D[s] is dL/dh_s from output s itself (dhn arrives as if at the last output).
    Dh = dout.copy()
    if dhn is not None:
        Dh[T - 1] += dhn
    Dc = None
    if cell.has_cell_state:
        Dc = np.zeros((T, B, H), dtype=dt)
        if dcn is not None:
            Dc[T - 1] = dcn
    dh0 = np.zeros((B, H), dtype=dt)
    dc0 = np.zeros((B, H), dtype=dt) if cell.has_cell_state else None
    for j in range(k + 1):
        n = T - j  # steps s = 0 .. T-1-j still reached at lag j
        gi_j, gh_j, dh_local, dc_prev = cell.backward_step(cache, slice(0, n), Dh, Dc)
        dgi[:n] += gi_j
        if dgh is not dgi:
            dgh[:n] += gh_j
        # Step 0's entering state is h0: it receives gradient at every lag.
        dh0 += gh_j[0] @ W_hh if m is None else (gh_j[0] @ W_hh) * m
        if dh_local is not None:
            dh0 += dh_local[0]
        if dc_prev is not None:
            dc0 += dc_prev[0]
        if j == k or n == 1:
            break
        # Entering states of steps 1..n-1 are the outputs of steps 0..n-2: next lag's D.
        Dh = mm(gh_j[1:], W_hh)
        if m is not None:
            Dh *= m                                              # the same mask at every step
        if dh_local is not None:
            Dh += dh_local[1:]
        Dc = dc_prev[1:] if dc_prev is not None else None
    return dgi, dgh, dh0, dc0
