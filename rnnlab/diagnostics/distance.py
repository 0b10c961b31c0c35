"""Gradient by distance: how much of the loss at step t reaches the state d steps back.

With L = sum_t L_t and L_t depending on the layer's output h_t only, the part of the loss at t that reaches
the state d steps back is

    g_{t,d} = dL_t / ds_{t-d} = dL_t/dh_t  J_t J_{t-1} ... J_{t-d+1}       (s = h, or (h, c) for LSTM)

and the full BPTT gradient at a state is the sum of these parts over every output that reaches it:
dL/ds_u = sum_d g_{u+d,d}. The weight gradient splits the same way: the d-steps-back term of dL/dW_hh is
sum_t dgh_{t,d}^T h_{t-d-1}, where dgh_{t,d} is the recurrent pre-activation gradient of step t-d caused by
L_t, and summing the terms d = 0..k gives the truncate=k gradient (all d: full BPTT).

The lag sweep computes every g_{t,d} without a loop over t, as ``rnnlab.bptt`` does for truncation:
G_0[t] = dL_t/dh_t for all t at once, G_{d+1} = one batched step VJP applied to G_d. One step per distance.

Distance d = t + 1 reaches the initial state h0 (hs[0]); it is included (it is a real d-steps-back part).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..bptt import bptt, mm
from ..errors import ShapeError
from .steps import as_float64, state_vjp


@dataclass
class Lag:
    """The vectors of a lag sweep at distance ``d`` (m rows still alive, each with B batch columns)."""
    d: int
    rows: np.ndarray        # (m,) indices of the rows (into the sweep's ``ends``) still alive
    state: np.ndarray       # (m,) index u of the state hs[u] each vector sits at (0 = initial state)
    uh: np.ndarray          # (m, B, H) the h part
    uc: np.ndarray | None   # (m, B, H) the c part (LSTM; None = zero)
    live: np.ndarray        # (m,) bool: rows not at the initial state, i.e. propagated through a step
    steps: np.ndarray | slice  # the steps the live rows were propagated through (= state - 1)
    dgh: np.ndarray | None  # (m_live, B, G H) recurrent pre-activation gradients of those steps
    log_scale: np.ndarray | None = None  # (m, B) with ``rescale``: the true vectors are exp(log_scale) * u


def _index(steps: np.ndarray):
    """A slice when ``steps`` is a contiguous ascending range (views, no gather), else the array."""
    if len(steps) and steps[-1] - steps[0] == len(steps) - 1 and np.all(np.diff(steps) == 1):
        return slice(int(steps[0]), int(steps[-1]) + 1)
    return steps


def lag_sweep(cell, cache, W_hh, ends, uh0, uc0=None, max_distance=None, rescale=None):
    """Propagate vectors placed at the output states of steps ``ends`` back, one step per distance.

    Args:
        cell, cache, W_hh: one layer's cell, forward cache and recurrent weights (G H, H).
        ends: (M,) int step indices; row m starts at the state hs[ends[m] + 1] (the output h_t, t = ends[m]).
        uh0, uc0: (M, B, H) the starting vectors (uc0 None: zero cell part).
        max_distance: the last distance yielded (None: until every row reaches the initial state).
        rescale: None, or a group size g: consecutive groups of g rows (sharing a step) are divided by
            their joint norm at every lag, per batch column, and the logarithm of the factor is kept in
            ``Lag.log_scale``; this keeps long products of contracting Jacobians from underflowing.
    Yields:
        ``Lag`` for d = 0, 1, ...; a row dies after it reaches the initial state.
    """
    steps = np.asarray(ends, dtype=np.int64)
    rows = np.arange(len(steps))
    uh, uc = uh0, uc0
    log_scale = None if rescale is None else np.zeros(uh0.shape[:2])
    d_max = int(steps.max()) + 1 if max_distance is None else int(max_distance)
    for d in range(d_max + 1):
        live = steps >= 0
        if live.all():
            ls, lh, lc = steps, uh, uc
        else:
            ls, lh = steps[live], uh[live]
            lc = None if uc is None else uc[live]
        idx = _index(ls)
        if len(ls):
            uh_prev, uc_prev, dgh = state_vjp(cell, cache, W_hh, idx, lh, lc)
        else:
            uh_prev = uc_prev = dgh = None
        yield Lag(d, rows, steps + 1, uh, uc, live, idx, dgh, log_scale)
        if not len(ls):
            return
        rows, steps, uh, uc = rows[live], ls - 1, uh_prev, uc_prev
        if rescale is not None:
            log_scale = log_scale[live] + _rescale(uh, uc, rescale)


def _rescale(uh, uc, g):
    """Divide each group of g rows by its norm (per batch column) in place; returns log(norm) (m, B)."""
    m, B = uh.shape[:2]
    sq = np.einsum("gkbh,gkbh->gb", uh.reshape(m // g, g, B, -1), uh.reshape(m // g, g, B, -1))
    if uc is not None:
        sq = sq + np.einsum("gkbh,gkbh->gb", uc.reshape(m // g, g, B, -1), uc.reshape(m // g, g, B, -1))
    n = np.sqrt(sq)
    n[n == 0] = 1.0
    f = np.repeat(1.0 / n, g, axis=0)[..., None]                  # (m, B, 1)
    uh *= f
    if uc is not None:
        uc *= f
    return np.repeat(np.log(n), g, axis=0)


@dataclass
class DistanceProfile:
    """Gradient by distance for one layer; arrays are indexed by distance d = 0..D."""
    distance: np.ndarray          # (D+1,) 0..D
    grad_norm: np.ndarray         # mean over outputs (t, b) of ||dL_t/ds_{t-d}|| (s = h, or (h, c) for LSTM)
    grad_share: np.ndarray        # grad_norm / grad_norm.sum(): the share of each distance
    hidden_grad_norm: np.ndarray  # the h part alone (equals grad_norm except for LSTM)
    cell_grad_norm: np.ndarray | None  # LSTM: the c part alone (0 at d = 0 by definition)
    weight_grad_norm: np.ndarray  # ||sum_t d-steps-back term of dL/dW_hh||_F
    count: np.ndarray             # number of output steps t that reach distance d (padding included)
    weight_grad_sum: np.ndarray   # (G H, H) sum of the terms d = 0..D: the truncate=D gradient of W_hh


def distance_profile(cell, cache, W_hh, dout, max_distance=None, mask=None) -> DistanceProfile:
    """Gradient by distance of one layer, given dL_t/dh_t = dout[t] (T, B, H); the means run over the
    outputs (t, b) where ``mask`` (T, B) is true (default all; e.g. y >= 0 to leave padding out)."""
    T, B, H = dout.shape
    D = T if max_distance is None else min(int(max_distance), T)
    n = D + 1
    w = np.ones((T, B)) if mask is None else np.asarray(mask, dtype=np.float64)
    norm, hid, cel, wnorm, count = (np.zeros(n) for _ in range(5))
    wsum = np.zeros(W_hh.shape, dtype=np.float64)
    hs = cache["hs"]
    for lag in lag_sweep(cell, cache, W_hh, np.arange(T), dout, None, D):
        sq_h = np.einsum("mbh,mbh->mb", lag.uh, lag.uh, dtype=np.float64)
        sq_c = 0.0 if lag.uc is None else np.einsum("mbh,mbh->mb", lag.uc, lag.uc, dtype=np.float64)
        wt = w[lag.rows]                                             # (m, B) which outputs count
        norm[lag.d] = _weighted_mean(np.sqrt(sq_h + sq_c), wt)
        hid[lag.d] = _weighted_mean(np.sqrt(sq_h), wt)
        cel[lag.d] = _weighted_mean(np.sqrt(sq_c), wt) if lag.uc is not None else 0.0
        count[lag.d] = len(lag.rows)
        if lag.dgh is not None:
            G = lag.dgh.shape[-1]
            term = lag.dgh.reshape(-1, G).T @ hs[lag.steps].reshape(-1, H)   # (G H, H)
            wsum += term
            wnorm[lag.d] = np.linalg.norm(term)
    total = norm.sum()
    return DistanceProfile(np.arange(n), norm, norm / total if total > 0 else np.zeros(n), hid,
                           cel if cell.has_cell_state else None, wnorm, count, wsum)


def _weighted_mean(a, w) -> float:
    total = w.sum()
    return float(np.sum(a * w) / total) if total > 0 else 0.0


def layer_output_grads(layer, cache, dout, params=None) -> list:
    """dL/d(output of layer l) for every layer l of a stack (full BPTT through the layers above)."""
    L = layer.num_layers
    P = layer.params if params is None else params
    douts = [None] * L
    douts[L - 1] = dout
    for l in range(L - 1, 0, -1):
        dgi, _, _ = bptt(layer.cell, cache[l], P[f"weight_hh_l{l}"], douts[l])
        douts[l - 1] = mm(dgi, P[f"weight_ih_l{l}"])
    return douts


def gradient_by_distance(layer, cache, dout, max_distance=None, mask=None) -> list[DistanceProfile]:
    """Gradient by distance of every layer of a stack (index l = layer l; the last is the top layer).

    For a lower layer, L_t is the part of the loss that reaches that layer's output at step t through
    the layers above (full BPTT there), so each layer's profile is about its own recurrence only.
    Computed in float64 whatever the layer's dtype (``steps.as_float64``).

    Args:
        layer: an RNN, LSTM or GRU (``rnnlab.layers.Recurrent``).
        cache: from ``layer.forward``.
        dout: (T, B, H) dL_t/dh_t for the top layer's outputs.
        max_distance: largest d (default T, the initial state of the last output).
        mask: (T, B) bool, the outputs that carry a loss (default all): the means run over these only.
    """
    if np.shape(dout) != cache[-1]["hs"][1:].shape:
        raise ShapeError(f"dout must have the shape of the layer's output {cache[-1]['hs'][1:].shape}, "
                         f"got {np.shape(dout)}")
    if mask is not None and np.shape(mask) != np.shape(dout)[:2]:
        raise ShapeError(f"mask must have shape {np.shape(dout)[:2]}, got {np.shape(mask)}")
    caches = [as_float64(c) for c in cache]
    P = {k: np.asarray(v, dtype=np.float64) for k, v in layer.params.items()}
    douts = layer_output_grads(layer, caches, np.asarray(dout, dtype=np.float64), P)
    return [distance_profile(layer.cell, caches[l], P[f"weight_hh_l{l}"], douts[l], max_distance, mask)
            for l in range(layer.num_layers)]


def decay_distance(grad_norm, fraction: float = 0.01):
    """The first distance at which the gradient falls below ``fraction`` of its value at distance 0
    (None if it never does within the measured distances)."""
    g = np.asarray(grad_norm, dtype=np.float64)
    if not len(g) or not np.isfinite(g[0]) or g[0] <= 0:
        return None
    below = np.flatnonzero(g < fraction * g[0])
    return int(below[0]) if len(below) else None
