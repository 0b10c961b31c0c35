"""LSTM cell, torch's equations and gate order (i, f, g, o):

    [i, f, g, o] = [sigma, sigma, tanh, sigma](W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

Backward of one step, given dL/dh_t (``dh``) and dL/dc_t from later steps (``dc``):

    dc~ = dc + dh * o * (1 - tanh(c_t)^2)
    do = dh * tanh(c_t);  di = dc~ * g;  dg = dc~ * i;  df = dc~ * c_{t-1}
    d(pre-activations) = [di i(1-i), df f(1-f), dg (1-g^2), do o(1-o)]
    dL/dc_{t-1} = dc~ * f  (the constant error carousel);  dL/dh_{t-1} = d(pre) @ W_hh

Cache fields: ``hs`` (T+1, B, H) with hs[0] = h0; ``cs`` (T+1, B, H) with cs[0] = c0;
``gates`` (T, B, 4H) activated gates i, f, g, o; ``tanh_c`` (T, B, H). ``prepare_backward`` adds the
per-step factors of the equations above, once per backward (except before a full sweep with the compiled
backward step, ``rnnlab.kernels.lstm``, which forms them itself): ``coef`` (T, B, 4, H) =
[g i(1-i), c_{t-1} f(1-f), i (1-g^2), tanh(c_t) o(1-o)] and ``oc`` (T, B, H) = o (1 - tanh(c_t)^2), so that

    dc~ = dc + dh * oc;   d(pre)[i, f, g] = dc~ * coef[i, f, g];   d(pre)[o] = dh * coef[o];   dc_{t-1} = dc~ * f
"""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..bptt import step_blocks
from ..workspace import workspace_of


def _factors(a, c_prev, tc, coef, oc, u):
    """coef = [g i(1-i), c_{t-1} f(1-f), i (1-g^2), tanh(c_t) o(1-o)] and oc = o (1 - tanh(c_t)^2) of some
    steps, in place with one temporary ``u`` (the shape of ``tc``)."""
    H = tc.shape[-1]
    i, f, g, o = a[..., :H], a[..., H:2 * H], a[..., 2 * H:3 * H], a[..., 3 * H:]
    ci, cf, cg, co = coef[:, :, 0], coef[:, :, 1], coef[:, :, 2], coef[:, :, 3]
    np.subtract(1.0, i, out=u)
    u *= i
    np.multiply(g, u, out=ci)                                    # g i (1 - i)
    np.subtract(1.0, f, out=u)
    u *= f
    np.multiply(c_prev, u, out=cf)                               # c_{t-1} f (1 - f)
    np.multiply(g, g, out=u)
    np.subtract(1.0, u, out=u)
    np.multiply(i, u, out=cg)                                    # i (1 - g^2)
    np.subtract(1.0, o, out=u)
    u *= o
    np.multiply(tc, u, out=co)                                   # tanh(c) o (1 - o)
    np.multiply(tc, tc, out=oc)
    np.subtract(1.0, oc, out=oc)
    oc *= o                                                      # o (1 - tanh(c)^2)


def _gate_scales(H, dtype):
    """(4H,) pre-activation scales -1 (sigmoid gates i, f, o) and -2 (tanh gate g), and the numerators
    1 and 2 of sigma(a) = 1 / (1 + exp(-a)) and tanh(a) + 1 = 2 / (1 + exp(-2a))."""
    scale = np.full(4 * H, -1.0, dtype=dtype)
    scale[2 * H:3 * H] = -2.0
    return scale, -scale


class LSTMCell:
    """Maps (input projection gi_t, state (h_{t-1}, c_{t-1})) to (h_t, c_t) by the equations above."""

    gates = 4
    has_cell_state = True
    shares_preactivation = True

    def input_bias(self, b_ih, b_hh):
        """b_ih + b_hh: both biases fold into the input projection, computed for all steps at once."""
        return b_ih + b_hh

    def forward(self, gi, state0, W_hh, b_hh, mask=None, ws=None):
        """Run the recurrence over all steps.

        Args:
            gi: (T, B, 4H) input projection W_ih x_t + b_ih + b_hh, gates i, f, g, o.
            state0: (h0, c0), each (B, H).
            W_hh: (4H, H) recurrent weights.
            b_hh: (4H,) recurrent bias (already inside ``gi``; unused here).
            mask: None, or a (B, H) recurrent dropout mask m (``rnnlab.dropout``): W_hh reads m * h_{t-1}
                (c_{t-1} is not dropped).
            ws: a ``rnnlab.workspace.Workspace`` the cache's arrays come from, or None (new arrays).
        Returns:
            out (T, B, H) = h_1..h_T, the final state (h_T, c_T), and the cache described above.
        """
        T, B, G = gi.shape
        H = G // 4
        h0, c0 = state0
        dt = gi.dtype
        ws = workspace_of(ws)
        hs = ws.empty((T + 1, B, H), dt)
        cs = ws.empty((T + 1, B, H), dt)
        gates = ws.empty((T, B, G), dt)
        tanh_c = ws.empty((T, B, H), dt)
        hs[0], cs[0] = h0, c0
        fused = kernels.for_cell("lstm", dt)
        if fused is not None:     # the step's gate arithmetic in one compiled call (rnnlab.kernels.lstm)
            WT = W_hh.T
            a_h = np.empty((B, G), dtype=dt)
            for t in range(T):
                np.matmul(hs[t] if mask is None else hs[t] * mask, WT, out=a_h)
                fused.forward_step(t, gi, a_h, gates, cs, tanh_c, hs)
            return hs[1:], (hs[T], cs[T]), {"hs": hs, "cs": cs, "gates": gates, "tanh_c": tanh_c}
        # One exp over all four gates per step: sigma(a) = 1 / (1 + exp(-a)) and tanh(a) = 2 sigma(2a) - 1,
        # so the rows of W_hh and of the input projection are scaled by -1 (i, f, o) and -2 (g) first
        # (exact: powers of two). The gates' buffer holds the scaled pre-activations of every step, then
        # step by step their activations. (exp costs 2/3 of tanh in NumPy: 1.7 vs 2.7 ns per float32.)
        # g near 0 then carries a rounding error of about one unit in the last place of 1 rather than of
        # g, the size of the rounding of c = f c + i g itself; the torch oracle tests hold at 1e-9.
        scale, numer = _gate_scales(H, dt)                      # (4H,) -1, -1, -2, -1 and 1, 1, 2, 1
        WT = (W_hh * scale[:, None]).T                           # (H, 4H)
        np.multiply(gi, scale, out=gates)
        a_h = np.empty((B, G), dtype=dt)
        ig = np.empty((B, H), dtype=dt)
        with np.errstate(over="ignore"):  # exp(-a) = inf for a << 0 gives sigma(a) = 0, as it should
            for t in range(T):
                a = gates[t]
                np.matmul(hs[t] if mask is None else hs[t] * mask, WT, out=a_h)
                a += a_h
                np.exp(a, out=a)
                a += 1.0
                np.divide(numer, a, out=a)                       # sigma(i), sigma(f), 2 sigma(2g), sigma(o)
                a[:, 2 * H:3 * H] -= 1.0                         # i, f, g, o
                c = cs[t + 1]
                np.multiply(a[:, H:2 * H], cs[t], out=c)
                np.multiply(a[:, :H], a[:, 2 * H:3 * H], out=ig)
                c += ig                                          # c_t = f c_{t-1} + i g
                np.tanh(c, out=tanh_c[t])
                np.multiply(a[:, 3 * H:], tanh_c[t], out=hs[t + 1])  # h_t = o tanh(c_t)
        cache = {"hs": hs, "cs": cs, "gates": gates, "tanh_c": tanh_c}
        return hs[1:], (hs[T], cs[T]), cache

    def prepare_backward(self, cache, ws=None, into=False):
        """Add ``coef`` and ``oc`` (see the module docstring) to the cache, once per cache; ``ws``: the
        ``rnnlab.workspace.Workspace`` they come from, or None (new arrays). ``into``: the sweep will call
        only ``backward_step_into``; with the compiled kernel that computes the factors itself, none
        are made."""
        if "coef" in cache:
            return
        a = cache["gates"]
        fused = kernels.for_cell("lstm", a.dtype)
        if into and fused is not None:
            return
        T, B, G = a.shape
        H = G // 4
        ws = workspace_of(ws)
        coef = ws.empty((T, B, 4, H), a.dtype)
        oc = ws.empty((T, B, H), a.dtype)
        if fused is not None:
            fused.factors(a, cache["cs"], cache["tanh_c"], coef, oc)
            cache["coef"], cache["oc"] = coef, oc
            return
        blocks = step_blocks(T, B * H)
        u = ws.empty((blocks[0].stop - blocks[0].start, B, H), a.dtype)
        for s in blocks:  # a few steps at a time: the block's fifteen passes stay in the cache
            _factors(a[s], cache["cs"][s], cache["tanh_c"][s], coef[s], oc[s], u[:s.stop - s.start])
        cache["coef"] = coef
        cache["oc"] = oc

    def backward_step(self, cache, s, dh, dc):
        """Local backward of step(s) ``s`` (an index or a slice of steps).

        Args:
            cache: the forward cache, after ``prepare_backward``.
            s: a step index or a slice of steps; the arrays below then carry those steps in front.
            dh: (..., B, H) dL/dh_t at the steps' outputs.
            dc: (..., B, H) dL/dc_t from later steps, or None (zero).
        Returns:
            (dgi, dgh, dh_local, dc_prev): the pre-activation gradients (..., B, 4H) (one array: input
            and recurrent projections share them), None (h_{t-1} is reached through W_hh only), and
            dL/dc_{t-1} (..., B, H).
        """
        coef = cache["coef"][s]                                  # (..., B, 4, H)
        dct = dh * cache["oc"][s]
        if dc is not None:
            dct += dc
        da = np.empty_like(coef)
        np.multiply(dct[..., None, :], coef[..., :3, :], out=da[..., :3, :])
        np.multiply(dh, coef[..., 3, :], out=da[..., 3, :])
        da = da.reshape(da.shape[:-2] + (-1,))
        H = dh.shape[-1]
        return da, da, None, dct * cache["gates"][s][..., H:2 * H]

    def backward_step_into(self, cache, t, dh, dc, dgi, dgh):
        """``backward_step`` of one step ``t`` written into preallocated arrays (the fast path of
        ``rnnlab.bptt``): the pre-activation gradients go to ``dgi`` (B, 4H) (``dgh`` is the same array),
        and ``dc`` (B, H), dL/dc_t on entry, is overwritten with dL/dc_{t-1}. ``dh`` is left unchanged.
        Returns None: h_{t-1} is reached through W_hh only."""
        fused = kernels.for_cell("lstm", dh.dtype)
        if fused is not None:     # the factors from the forward's arrays, in the kernel (no coef, oc)
            fused.backward_step(t, dh, dc, cache["gates"], cache["cs"], cache["tanh_c"], dgi)
            return None
        B, H = dh.shape
        coef = cache["coef"][t]                                  # (B, 4, H)
        da = dgi.reshape(B, 4, H)
        dc += dh * cache["oc"][t]                                # dc~ = dc + dh o (1 - tanh(c)^2)
        np.multiply(dc[:, None, :], coef[:, :3], out=da[:, :3])
        np.multiply(dh, coef[:, 3], out=da[:, 3])
        dc *= cache["gates"][t][:, H:2 * H]                      # dL/dc_{t-1} = dc~ f
        return None
