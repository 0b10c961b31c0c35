"""One recurrent step and its derivatives, in the form forward-mode gradient algorithms need.

The layers run whole sequences; an online algorithm advances one step at a time and needs, at every
step, three derivatives of the step map s_t = F(s_{t-1}, a_t) (s = h, or (h, c) for the LSTM; a = the
pre-activations, gi = W_ih x_t + b_ih from the input and gh = W_hh h_{t-1} + b_hh from the state):

    J_t       = ds_t/ds_{t-1}          the state Jacobian (network path through gh, plus the unit's own
                                       direct path: the LSTM's c_{t-1} -> c_t, the GRU's z * h_{t-1}, a leak)
    D_t       = ds_t/da_t              the immediate Jacobian; element-wise: unit j's state depends on the
                                       pre-activations of unit j only, so D_t is (G, S) per sequence
    Mbar_t    = ds_t/dtheta|_{s_{t-1}} = D_t (x) u_t with u_t = [x_t, 1] for W_ih, b_ih and
                                       [h_{t-1}, 1] for W_hh, b_hh (theta enters a_t linearly)

They are computed from the step's saved factors as products with vectors, never as dense matrices:

    ``local_jvp``   tangent of s_t from tangents of (gi, gh) and of the direct path: the forward-mode rule
    ``local_vjp``   cotangents of (gi, gh) and of the direct path from a cotangent of s_t: the cell's
                    backward step (the same equations as ``rnnlab.layers``' ``backward_step``)
    ``state_jvp``   J_t v = local_jvp(0, v_h W_hh^T, v);   ``state_vjp`` u^T J_t
    ``immediate``   D_t for the gi and gh pre-activations, ``jacobian_diagonal`` J_t's per-unit blocks
                    (1x1, 2x2 for the LSTM), ``direct_diagonal`` the same without the network path.

Vectors carry any leading axes before (B, ·): the step's arrays are (B, ·) and broadcast, so one call
propagates every column of an influence matrix, or every random draw, at once.

The step is written here from the parameters (not taken from a layer's cache, whose fields are the
layer's business); ``tests/test_estimators_jacobians.py`` holds it equal to ``rnnlab.layers``' forward
and backward, to torch autograd and to finite differences.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..bptt import mm
from ..errors import ConfigError
from ..layers.gru import GRUCell
from ..layers.lstm import LSTMCell
from ..layers.rnn import ACTIVATIONS, RNNCell, activation_grad


@dataclass(frozen=True)
class CellSpec:
    """Which step: ``kind`` rnn | lstm | gru; the RNN's ``nonlinearity`` and ``leak`` alpha in (0, 1]
    (h_t = (1 - alpha) h_{t-1} + alpha f(z_t); alpha = 1 is rnnlab's RNN)."""
    kind: str
    hidden: int
    nonlinearity: str = "tanh"
    leak: float = 1.0

    @property
    def gates(self) -> int:
        return {"rnn": 1, "lstm": 4, "gru": 3}[self.kind]

    @property
    def parts(self) -> int:
        """State parts: 2 for the LSTM (h, c), else 1; the state size is S = parts * H."""
        return 2 if self.kind == "lstm" else 1

    @property
    def shared(self) -> bool:
        """True when gi and gh enter the step only through their sum (RNN, LSTM): D^i = D^h."""
        return self.kind != "gru"


def cell_spec(layer, leak: float = 1.0) -> CellSpec:
    """The ``CellSpec`` of a one-layer rnnlab RNN, LSTM or GRU. Raises ConfigError otherwise."""
    if getattr(layer, "num_layers", None) != 1:
        raise ConfigError(f"gradient estimators take a one-layer RNN, LSTM or GRU, got {layer!r}")
    cell = layer.cell
    if not (isinstance(leak, (int, float)) and 0.0 < leak <= 1.0):
        raise ConfigError(f"leak must be a number in (0, 1], got {leak!r}")
    if isinstance(cell, RNNCell):
        return CellSpec("rnn", layer.hidden_size, cell.nonlinearity, float(leak))
    if leak != 1.0:
        raise ConfigError("leak applies to the plain RNN only")
    if isinstance(cell, LSTMCell):
        return CellSpec("lstm", layer.hidden_size)
    if isinstance(cell, GRUCell):
        return CellSpec("gru", layer.hidden_size)
    raise ConfigError(f"no step for cell {type(cell).__name__}")


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


# -- forward --------------------------------------------------------------------------------------

def step_forward(spec: CellSpec, p: dict, x, state, hW=None):
    """One step. ``p``: the layer's params (``weight_ih_l0`` ...); x (B, I); state (B, S) = [h, c];
    ``hW``: h_{t-1} W_hh^T (B, G H) when the caller has it (UORO gets it in one product with its tangent's).

    Returns (state_t (B, S), saved): ``saved`` holds what the derivatives below read (shapes (B, ·))."""
    H = spec.hidden
    W_ih, W_hh, b_ih, b_hh = p["weight_ih_l0"], p["weight_hh_l0"], p["bias_ih_l0"], p["bias_hh_l0"]
    h = state[:, :H]
    gi = x @ W_ih.T
    gi += b_ih                                                 # (B, G H)
    sv = {"x": x, "h_prev": h}
    if spec.kind == "rnn":      # z = gi + gh formed in gi's array (new), then f(z) in place: no temporaries
        gi += b_hh
        gi += h @ W_hh.T if hW is None else hW
        a = ACTIVATIONS[spec.nonlinearity](gi, out=gi)
        sv["fp"] = activation_grad(spec.nonlinearity, a)       # f'(z_t)
        h_new = a if spec.leak == 1.0 else (1.0 - spec.leak) * h + spec.leak * a
        return h_new, sv
    gh = (h @ W_hh.T if hW is None else hW) + b_hh             # (B, G H)
    if spec.kind == "lstm":
        c = state[:, H:]
        z = gi + gh
        i, f, g, o = _sigmoid(z[:, :H]), _sigmoid(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), _sigmoid(z[:, 3 * H:])
        c_new = f * c + i * g
        tc = np.tanh(c_new)
        sv.update(i=i, f=f, g=g, o=o, c_prev=c, tc=tc)
        return np.concatenate([o * tc, c_new], axis=1), sv
    r = _sigmoid(gi[:, :H] + gh[:, :H])
    zg = _sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
    n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
    sv.update(r=r, z=zg, n=n, ghn=gh[:, 2 * H:])
    return n + zg * (h - n), sv


# -- forward-mode and reverse-mode rules of one step, side by side -------------------------------

def local_jvp(spec: CellSpec, sv: dict, dgi, dgh, vh=None, vc=None):
    """Tangent of s_t given tangents dgi, dgh (..., B, G H) of the pre-activations (None = 0) and vh, vc
    (..., B, H) of the state entering the step along the unit's direct path only (the network path is
    dgh = vh W_hh^T, added by ``state_jvp``). Returns ds (..., B, S).

        RNN   dh = alpha f'(z) (dgi + dgh) + (1 - alpha) vh
        LSTM  di, df, dg, do = i(1-i) dz_i, f(1-f) dz_f, (1-g^2) dz_g, o(1-o) dz_o     (dz = dgi + dgh)
              dc = df c_{t-1} + f vc + di g + i dg;   dh = do tanh(c_t) + o (1 - tanh(c_t)^2) dc
        GRU   dr = r(1-r)(dgi_r + dgh_r);  dz = z(1-z)(dgi_z + dgh_z);  dn = (1-n^2)(dgi_n + dr ghn + r dgh_n)
              dh = (1 - z) dn + dz (h_{t-1} - n) + z vh
    """
    H = spec.hidden
    if spec.shared:
        dz = dgi if dgh is None else (dgh if dgi is None else dgi + dgh)
    if spec.kind == "rnn":
        dh = sv["fp"] * dz if spec.leak == 1.0 else (spec.leak * sv["fp"]) * dz
        if spec.leak != 1.0 and vh is not None:
            dh = dh + (1.0 - spec.leak) * vh
        return dh
    if spec.kind == "lstm":
        i, f, g, o, tc = sv["i"], sv["f"], sv["g"], sv["o"], sv["tc"]
        dc = (i * (1.0 - i) * g) * dz[..., :H]
        dc += (f * (1.0 - f) * sv["c_prev"]) * dz[..., H:2 * H]
        dc += (i * (1.0 - g * g)) * dz[..., 2 * H:3 * H]
        if vc is not None:
            dc += f * vc
        dh = (o * (1.0 - o) * tc) * dz[..., 3 * H:] + (o * (1.0 - tc * tc)) * dc
        return np.concatenate([dh, dc], axis=-1)
    r, z, n = sv["r"], sv["z"], sv["n"]
    lead = (dgh if dgi is None else dgi).shape[:-1]
    pre = np.zeros(lead + (3 * H,), dtype=n.dtype) if dgi is None else dgi.copy()
    if dgh is not None:
        pre[..., :2 * H] += dgh[..., :2 * H]
    dr = (r * (1.0 - r)) * pre[..., :H]
    dzg = (z * (1.0 - z)) * pre[..., H:2 * H]
    dn_in = pre[..., 2 * H:] + dr * sv["ghn"]
    if dgh is not None:
        dn_in += r * dgh[..., 2 * H:]
    dh = ((1.0 - z) * (1.0 - n * n)) * dn_in + dzg * (sv["h_prev"] - n)
    if vh is not None:
        dh += z * vh
    return dh


def local_vjp(spec: CellSpec, sv: dict, u):
    """Cotangents from a cotangent u (..., B, S) of s_t: returns (dgi, dgh, uh_direct, uc_prev), the
    pre-activation gradients (..., B, G H) and the parts of dL/ds_{t-1} along the direct path
    ((..., B, H) or None). The network path to h_{t-1} is dgh W_hh (``state_vjp``). The transpose of
    ``local_jvp``, term by term (the layers' ``backward_step`` equations)."""
    H = spec.hidden
    uh = u[..., :H]
    if spec.kind == "rnn":
        dz = sv["fp"] * uh if spec.leak == 1.0 else (spec.leak * sv["fp"]) * uh
        return dz, dz, (None if spec.leak == 1.0 else (1.0 - spec.leak) * uh), None
    if spec.kind == "lstm":
        i, f, g, o, tc = sv["i"], sv["f"], sv["g"], sv["o"], sv["tc"]
        dct = u[..., H:] + uh * (o * (1.0 - tc * tc))
        da = np.concatenate([dct * (i * (1.0 - i) * g), dct * (f * (1.0 - f) * sv["c_prev"]),
                             dct * (i * (1.0 - g * g)), uh * (o * (1.0 - o) * tc)], axis=-1)
        return da, da, None, dct * f
    r, z, n = sv["r"], sv["z"], sv["n"]
    dn = uh * ((1.0 - z) * (1.0 - n * n))
    dzg = uh * ((sv["h_prev"] - n) * z * (1.0 - z))
    dr = dn * (sv["ghn"] * r * (1.0 - r))
    dgi = np.concatenate([dr, dzg, dn], axis=-1)
    dgh = np.concatenate([dr, dzg, dn * r], axis=-1)
    return dgi, dgh, uh * z, None


def state_jvp(spec: CellSpec, sv: dict, W_hh, v):
    """J_t v for tangents v (..., B, S) of s_{t-1}."""
    H = spec.hidden
    vh = v[..., :H]
    return local_jvp(spec, sv, None, mm(vh, W_hh.T), vh, v[..., H:] if spec.parts == 2 else None)


def state_vjp(spec: CellSpec, sv: dict, W_hh, u):
    """u^T J_t for cotangents u (..., B, S) of s_t; returns (u_prev (..., B, S), dgi, dgh)."""
    dgi, dgh, uh_dir, uc_prev = local_vjp(spec, sv, u)
    uh_prev = mm(dgh, W_hh)
    if uh_dir is not None:
        uh_prev = uh_prev + uh_dir
    u_prev = uh_prev if uc_prev is None else np.concatenate([uh_prev, uc_prev], axis=-1)
    return u_prev, dgi, dgh


_TANGENTS = {}


def _block_tangents(spec: CellSpec, ndim: int, dtype):
    """(G, 1, ..., 1, G H) with ``ndim`` ones: tangent g is 1 on every unit of gate block g, 0 elsewhere
    (broadcast over the step's leading axes; built once per shape, read-only)."""
    key = (spec.gates, spec.hidden, ndim, np.dtype(dtype))
    if key not in _TANGENTS:
        G, H = spec.gates, spec.hidden
        e = np.zeros((G,) + (1,) * ndim + (G * H,), dtype=dtype)
        for k in range(G):
            e[k, ..., k * H:(k + 1) * H] = 1.0
        e.flags.writeable = False
        _TANGENTS[key] = e
    return _TANGENTS[key]


def immediate(spec: CellSpec, sv: dict):
    """D^i_t = ds_t/dgi_t and D^h_t = ds_t/dgh_t, each (..., B, G, S): entry [b, g, p H + j] is
    d s_{p, j} / d a_{g, j} (the step is element-wise across units, so nothing else is nonzero).
    For the RNN and LSTM the two are the same array. ``sv``'s arrays may carry leading axes (several
    steps' saved factors stacked: (L, B, ·)), and so does the result."""
    h = sv["h_prev"]
    e = _block_tangents(spec, h.ndim - 1, h.dtype)
    Di = np.moveaxis(local_jvp(spec, sv, e, None), 0, -2)           # (..., B, G, S)
    if spec.shared:
        return Di, Di
    return Di, np.moveaxis(local_jvp(spec, sv, None, e), 0, -2)


def self_connections(spec: CellSpec, W_hh):
    """W_hh[g H + j, j] for every gate block g and unit j, (G H,): the network path's part of J_t's
    per-unit blocks. A copy, so that the weights may change after the step."""
    G, H = spec.gates, spec.hidden
    return np.diagonal(W_hh.reshape(G, H, H), axis1=1, axis2=2).reshape(-1).copy()


def unit_blocks(spec: CellSpec, sv: dict, w_self=None):
    """The per-unit blocks of J_t, (..., B, P_out, P_in, H): entry [b, q, p, j] = d s_{q, j, t} /
    d s_{p, j, t-1}, with the network path through the self-connections ``w_self`` ((..., 1, G H),
    ``self_connections``; None: the direct path only). ``sv`` may carry leading axes, as in ``immediate``."""
    h = sv["h_prev"]
    H, GH = spec.hidden, spec.gates * spec.hidden
    dgh = np.zeros((1, GH), dtype=h.dtype) if w_self is None else w_self
    one = np.ones((1, H), dtype=h.dtype)
    cols = [local_jvp(spec, sv, None, dgh, one, None)]                # d s_{., j} / d h_{t-1, j}
    if spec.parts == 2:                                                # d s_{., j} / d c_{t-1, j}
        cols.append(local_jvp(spec, sv, None, np.zeros((1, GH), dtype=h.dtype), None, one))
    P = spec.parts
    lead = np.broadcast_shapes(h.shape, cols[0].shape[:-1] + (H,))[:-1]
    return np.stack([np.broadcast_to(c, lead + (P * H,)).reshape(lead + (P, H)) for c in cols], axis=-2)


def jacobian_diagonal(spec: CellSpec, sv: dict, W_hh):
    """The per-unit blocks of J_t: (B, P, P, H), entry [b, q, p, j] = d s_{q, j, t} / d s_{p, j, t-1}
    (1x1 for RNN and GRU, 2x2 (h, c) for the LSTM): what SnAp-1 keeps of J_t."""
    return unit_blocks(spec, sv, self_connections(spec, W_hh))


def direct_diagonal(spec: CellSpec, sv: dict):
    """The per-unit blocks of J_t without the network path (pre-activations held fixed): what e-prop's
    eligibility traces and RFLO keep of J_t. Zero for rnnlab's RNN, (1 - alpha) for a leaky one, z for
    the GRU, [[0, o (1 - tanh(c)^2) f], [0, f]] for the LSTM."""
    return unit_blocks(spec, sv, None)


# -- parameters in the (G, H, K) layout of the influence matrices ---------------------------------

def inputs_u(sv: dict):
    """u^i_t = [x_t, 1] (..., B, I+1) and u^h_t = [h_{t-1}, 1] (..., B, H+1): W_ih and b_ih multiply the
    first, W_hh and b_hh the second."""
    x, h = sv["x"], sv["h_prev"]
    one = np.ones(x.shape[:-1] + (1,), dtype=h.dtype)
    return np.concatenate([x, one], axis=-1), np.concatenate([h, one], axis=-1)


def grads_from_groups(spec: CellSpec, gi, gh) -> dict:
    """(.., G, H, I+1) and (.., G, H, H+1) gradients in the influence layout -> the layer's param dict
    (``weight_ih_l0`` (.., G H, I) ..., torch's row order: gate block g, then unit j)."""
    G, H = spec.gates, spec.hidden
    lead = gi.shape[:-3]
    return {"weight_ih_l0": gi[..., :-1].reshape(lead + (G * H, -1)),
            "weight_hh_l0": gh[..., :-1].reshape(lead + (G * H, H)),
            "bias_ih_l0": gi[..., -1].reshape(lead + (G * H,)),
            "bias_hh_l0": gh[..., -1].reshape(lead + (G * H,))}
