"""Elman RNN cell: the tutorial's recurrence.

    s_t = f(U x_t + W s_{t-1} + b)          (tutorial notation)
    h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)   (torch names: U = weight_ih, W = weight_hh)

Backward of one step, given dL/dh_t (``dh``):

    dz_t = dh * f'(z_t)          f' read off h_t: tanh 1-h^2, sigmoid h(1-h), relu [h>0], linear 1
    dL/dh_{t-1} = dz_t @ W_hh    (the bptt machinery does this product; the step has no other path)

Cache fields (arrays over all steps, time-major):
    ``hs``  (T+1, B, H): hs[0] = h0, hs[t+1] = h_t, so the state entering step t is hs[t].
    ``dact`` (T, B, H): f'(z_t) for every step, added by ``prepare_backward`` (once per backward, shared by
            full BPTT, every truncation lag and the diagnostics).
"""
from __future__ import annotations

import numpy as np

from ..workspace import workspace_of


def _sigmoid(z, out=None):
    # 1 / (1 + exp(-z)) without overflow warnings: 0.5 * (1 + tanh(z / 2)) is exact and stable.
    out = np.multiply(z, 0.5, out=out)
    np.tanh(out, out=out)
    out += 1.0
    out *= 0.5
    return out


def _relu(z, out=None):
    return np.maximum(z, 0, out=out)


def _linear(z, out=None):
    if out is None:
        return z.copy()
    out[...] = z
    return out


ACTIVATIONS = {"tanh": np.tanh, "sigmoid": _sigmoid, "relu": _relu, "linear": _linear}


def activation_grad(nonlinearity: str, h: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """f'(z) expressed through h = f(z); into ``out`` (h's shape and dtype) when given."""
    if out is not None:
        if nonlinearity == "tanh":
            np.multiply(h, h, out=out)
            return np.subtract(1.0, out, out=out)
        if nonlinearity == "sigmoid":
            np.subtract(1.0, h, out=out)
            return np.multiply(h, out, out=out)
        if nonlinearity == "relu":
            return np.greater(h, 0, out=out)
        out.fill(1)
        return out
    if nonlinearity == "tanh":
        return 1.0 - h * h
    if nonlinearity == "sigmoid":
        return h * (1.0 - h)
    if nonlinearity == "relu":
        return (h > 0).astype(h.dtype)
    return np.ones_like(h)


class RNNCell:
    """Maps (input projection gi_t, state h_{t-1}) to h_t = f(gi_t + W_hh h_{t-1})."""

    gates = 1
    has_cell_state = False
    shares_preactivation = True  # dL/d(input projection) == dL/d(recurrent projection)

    def __init__(self, nonlinearity: str = "tanh"):
        self.nonlinearity = nonlinearity
        self.f = ACTIVATIONS[nonlinearity]

    def input_bias(self, b_ih, b_hh):
        """b_ih + b_hh: both biases fold into the input projection, computed for all steps at once."""
        return b_ih + b_hh

    def forward(self, gi, h0, W_hh, b_hh, mask=None, ws=None):
        """gi: (T, B, H) input projection with both biases; h0: (B, H); mask: None, or a (B, H) recurrent
        dropout mask m (``rnnlab.dropout``): W_hh then reads m * h_{t-1} at every step; ws: a
        ``rnnlab.workspace.Workspace`` the cache comes from, or None (a new array). Returns out, hn, cache."""
        T, B, H = gi.shape
        hs = workspace_of(ws).empty((T + 1, B, H), gi.dtype)
        hs[0] = h0
        z = np.empty((B, H), dtype=gi.dtype)
        WT = W_hh.T
        for t in range(T):
            np.matmul(hs[t] if mask is None else hs[t] * mask, WT, out=z)
            z += gi[t]
            self.f(z, out=hs[t + 1])
        return hs[1:], hs[T], {"hs": hs}

    def prepare_backward(self, cache, ws=None, into=False):
        """Derivative factors of every step, computed once and kept in the cache; ``ws``: the
        ``rnnlab.workspace.Workspace`` they come from, or None (a new array); ``into``: unused (the
        factors serve both backward steps)."""
        if "dact" not in cache:
            h = cache["hs"][1:]
            cache["dact"] = activation_grad(self.nonlinearity, h, workspace_of(ws).empty(h.shape, h.dtype))

    def backward_step(self, cache, s, dh, dc=None):
        """Local backward of step(s) ``s`` (an index or a slice of steps) given dL/dh at their outputs.

        Returns (dgi, dgh, dh_local, dc_prev): gradients w.r.t. the input and recurrent
        pre-activations, the part of dL/dh_{t-1} that does not go through W_hh (none here), and the
        cell-state gradient (none here). Call ``prepare_backward(cache)`` first."""
        dz = dh * cache["dact"][s]
        return dz, dz, None, None

    def backward_step_into(self, cache, t, dh, dc, dgi, dgh):
        """``backward_step`` of one step ``t`` written into ``dgi`` (B, H) (``dgh`` is the same array), the
        fast path of ``rnnlab.bptt``; ``dh`` is left unchanged. Returns None."""
        np.multiply(dh, cache["dact"][t], out=dgi)
        return None
