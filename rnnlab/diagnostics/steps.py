"""One recurrent step, differentiated both ways, for any set of steps at once.

The recurrent *state* s_t is what one step hands to the next: h_t for RNN and GRU, the pair (h_t, c_t)
for LSTM (size S = H or 2H). Every diagnostic is a statement about the step Jacobian
J_t = ds_t / ds_{t-1} and its products dh_t/dh_{t-d} = J_t J_{t-1} ... J_{t-d+1} (the tutorial's chain of
dh_t/dh_{t-1} factors), applied to vectors:

    vector-Jacobian product (VJP):  u^T J_t   -- the cell's own ``backward_step`` plus ``dgh @ W_hh``;
    Jacobian-vector product (JVP):  J_t v     -- forward-mode derivative of the step, written here per cell.

Steps are addressed like the cell caches: step t maps the state hs[t] to hs[t+1]. ``steps`` is a slice or
an integer array of step indices (M,); vectors are (M, B, H) (one per step index and batch column), so
one call differentiates any mixture of steps, e.g. every output position at one lag.
"""
from __future__ import annotations

import numpy as np

from ..bptt import mm
from ..layers.gru import GRUCell
from ..layers.lstm import LSTMCell
from ..layers.rnn import RNNCell, activation_grad


def as_float64(cache: dict, cols=None) -> dict:
    """A float64 copy of one layer's cache (the input ``x`` left out), optionally of some batch columns.

    Diagnostics measure in float64 whatever the model's dtype: a tanh RNN's products of Jacobians fall
    below float32's range (1e-38) within a few dozen steps, and float32 denormals are very slow."""
    sel = slice(None) if cols is None else cols
    return {k: np.asarray(v[:, sel], dtype=np.float64) for k, v in cache.items() if k != "x"}


def state_size(cell, hidden_size: int) -> int:
    """S: the size of the recurrent state (2H for LSTM: h and c)."""
    return 2 * hidden_size if cell.has_cell_state else hidden_size


def state_vjp(cell, cache, W_hh, steps, uh, uc=None):
    """u^T ds_t/ds_{t-1} for the steps ``steps``, given u = (uh, uc) at their output states.

    Returns (uh_prev, uc_prev, dgh): the vector at the entering states (uc_prev None unless LSTM), and
    the recurrent pre-activation gradients dgh (M, B, G H), whose product with the entering h is the
    step's share of dL/dW_hh.
    """
    cell.prepare_backward(cache)
    _, dgh, dh_local, dc_prev = cell.backward_step(cache, steps, uh, uc)
    uh_prev = mm(dgh, W_hh)                       # (M, B, H)
    if dh_local is not None:
        uh_prev += dh_local
    return uh_prev, dc_prev, dgh


def state_jvp(cell, cache, W_hh, steps, vh, vc=None):
    """J_t v for the steps ``steps``, given the tangent v = (vh, vc) at their entering states.

    Forward-mode derivative of each cell (z = pre-activation, dz its tangent, dz = vh @ W_hh^T):

        RNN   dh = f'(z) dz
        LSTM  di, df, dg, do = i(1-i) dz_i, f(1-f) dz_f, (1-g^2) dz_g, o(1-o) dz_o
              dc = df c_{t-1} + f vc + di g + i dg;   dh = do tanh(c_t) + o (1 - tanh(c_t)^2) dc
        GRU   dr, dz_ = r(1-r) dz_r, z(1-z) dz_z;   dn = (1 - n^2)(dr ghn + r dz_n)
              dh = (1 - z) dn + dz_ (h_{t-1} - n) + z vh
    Returns (dh, dc) with dc None unless LSTM.
    """
    dz = mm(vh, W_hh.T)                           # (M, B, G H)
    if isinstance(cell, RNNCell):
        return activation_grad(cell.nonlinearity, cache["hs"][1:][steps]) * dz, None
    if isinstance(cell, LSTMCell):
        a = cache["gates"][steps]
        H = a.shape[-1] // 4
        i, f, g, o = a[..., :H], a[..., H:2 * H], a[..., 2 * H:3 * H], a[..., 3 * H:]
        tc = cache["tanh_c"][steps]
        c_prev = cache["cs"][:-1][steps]
        dc = i * (1.0 - i) * dz[..., :H] * g
        dc += f * (1.0 - f) * dz[..., H:2 * H] * c_prev
        dc += i * (1.0 - g * g) * dz[..., 2 * H:3 * H]
        if vc is not None:
            dc += f * vc
        dh = o * (1.0 - o) * dz[..., 3 * H:] * tc + o * (1.0 - tc * tc) * dc
        return dh, dc
    if isinstance(cell, GRUCell):
        a = cache["gates"][steps]
        H = a.shape[-1] // 3
        r, z, n = a[..., :H], a[..., H:2 * H], a[..., 2 * H:]
        h_prev = cache["hs"][:-1][steps]
        dr = r * (1.0 - r) * dz[..., :H]
        dzg = z * (1.0 - z) * dz[..., H:2 * H]
        dn = (1.0 - n * n) * (dr * cache["ghn"][steps] + r * dz[..., 2 * H:])
        return (1.0 - z) * dn + dzg * (h_prev - n) + z * vh, None
    raise TypeError(f"no forward-mode step for cell {type(cell).__name__}")
