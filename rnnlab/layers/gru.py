"""GRU cell, torch's equations and gate order (r, z, n); the reset gate multiplies W_hn h + b_hn:

    r = sigma(W_ir x + b_ir + W_hr h_{t-1} + b_hr)
    z = sigma(W_iz x + b_iz + W_hz h_{t-1} + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h_{t-1} + b_hn))
    h_t = (1 - z) * n + z * h_{t-1}

Backward of one step, given dL/dh_t (``dh``):

    dn~ = dh (1 - z) (1 - n^2);  dz~ = dh (h_{t-1} - n) z (1 - z);  dr~ = dn~ * ghn * r (1 - r)
    input pre-activation grads     dgi = [dr~, dz~, dn~]
    recurrent pre-activation grads dgh = [dr~, dz~, dn~ * r]
    dL/dh_{t-1} = dh * z + dgh @ W_hh

Cache fields: ``hs`` (T+1, B, H) with hs[0] = h0; ``gates`` (T, B, 3H) activated r, z, n;
``ghn`` (T, B, H) = W_hn h_{t-1} + b_hn.
"""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..bptt import step_blocks
from ..workspace import workspace_of


def _factors(a, h_prev, ghn, coef, u):
    """coef of some steps (see ``GRUCell.prepare_backward``), in place with one temporary ``u`` (the
    shape of ``ghn``)."""
    H = ghn.shape[-1]
    r, z, n = a[..., :H], a[..., H:2 * H], a[..., 2 * H:]
    cr, cz, cn = coef[:, :, 0], coef[:, :, 1], coef[:, :, 2]
    np.subtract(1.0, z, out=u)
    np.multiply(n, n, out=cn)
    np.subtract(1.0, cn, out=cn)
    cn *= u                                                      # (1 - z)(1 - n^2)
    np.subtract(h_prev, n, out=cz)
    cz *= z
    cz *= u                                                      # (h_{t-1} - n) z (1 - z)
    np.subtract(1.0, r, out=u)
    u *= r
    np.multiply(cn, ghn, out=cr)
    cr *= u                                                      # (1 - z)(1 - n^2) ghn r (1 - r)


class GRUCell:
    """Maps (input projection gi_t, state h_{t-1}) to h_t by the equations above."""

    gates = 3
    has_cell_state = False
    shares_preactivation = False

    def input_bias(self, b_ih, b_hh):
        """b_ih plus the r and z parts of b_hh; b_hn stays with W_hn h_{t-1}, inside the reset product."""
        b = b_ih.copy()
        H = b.shape[0] // 3
        b[:2 * H] += b_hh[:2 * H]  # b_hn stays inside the reset product
        return b

    def forward(self, gi, h0, W_hh, b_hh, mask=None, ws=None):
        """Run the recurrence over all steps.

        Args:
            gi: (T, B, 3H) input projection with b_ih and the r, z parts of b_hh (``input_bias``).
            h0: (B, H) initial state.
            W_hh: (3H, H) recurrent weights, gates r, z, n.
            b_hh: (3H,) recurrent bias; its n part b_hn is added to W_hn h_{t-1} here.
            mask: None, or a (B, H) recurrent dropout mask m (``rnnlab.dropout``): W_hh reads m * h_{t-1};
                the bypass z * h_{t-1} keeps the whole state.
            ws: a ``rnnlab.workspace.Workspace`` the cache's arrays come from, or None (new arrays).
        Returns:
            out (T, B, H) = h_1..h_T, the final state h_T (B, H), and the cache described above.
        """
        T, B, G = gi.shape
        H = G // 3
        dt = gi.dtype
        ws = workspace_of(ws)
        hs = ws.empty((T + 1, B, H), dt)
        gates = ws.empty((T, B, G), dt)
        ghn = ws.empty((T, B, H), dt)
        hs[0] = h0
        fused = kernels.for_cell("gru", dt)
        if fused is not None:     # the step's gate arithmetic in one compiled call (rnnlab.kernels.gru)
            WT = W_hh.T
            gh = np.empty((B, G), dtype=dt)
            b_hn = np.ascontiguousarray(b_hh[2 * H:], dtype=dt)
            for t in range(T):
                np.matmul(hs[t] if mask is None else hs[t] * mask, WT, out=gh)
                fused.forward_step(t, gi, gh, b_hn, gates, ghn, hs)
            return hs[1:], hs[T], {"hs": hs, "gates": gates, "ghn": ghn}
        # r and z by one exp per step: sigma(a) = 1 / (1 + exp(-a)), so their rows of W_hh and of the input
        # projection are negated first (exact). The gates' buffer holds the negated r, z and the plain n
        # input pre-activations of every step, then step by step the gates. (exp costs 2/3 of tanh in
        # NumPy: 1.7 vs 2.7 ns per float32.)
        sign = np.ones(G, dtype=dt)
        sign[:2 * H] = -1.0
        WT = (W_hh * sign[:, None]).T                            # (H, 3H)
        np.multiply(gi, sign, out=gates)
        b_hn = b_hh[2 * H:]
        gh = np.empty((B, G), dtype=dt)
        rg = np.empty((B, H), dtype=dt)
        with np.errstate(over="ignore"):  # exp(-a) = inf for a << 0 gives sigma(a) = 0, as it should
            for t in range(T):
                a = gates[t]
                np.matmul(hs[t] if mask is None else hs[t] * mask, WT, out=gh)
                rz = a[:, :2 * H]
                rz += gh[:, :2 * H]
                np.exp(rz, out=rz)
                rz += 1.0
                np.divide(1.0, rz, out=rz)                           # r, z
                np.add(gh[:, 2 * H:], b_hn, out=ghn[t])
                n = a[:, 2 * H:]
                np.multiply(a[:, :H], ghn[t], out=rg)
                n += rg
                np.tanh(n, out=n)                                    # n = tanh(W_in x + b_in + r ghn)
                z = a[:, H:2 * H]
                h = hs[t + 1]
                # h = n + z * (h_prev - n)
                np.subtract(hs[t], n, out=h)
                h *= z
                h += n
        return hs[1:], hs[T], {"hs": hs, "gates": gates, "ghn": ghn}

    def prepare_backward(self, cache, ws=None, into=False):
        """Add ``coef`` (T, B, 3, H) to the cache, once per cache: the factors
        [(1 - z)(1 - n^2) ghn r(1 - r), (h_{t-1} - n) z(1 - z), (1 - z)(1 - n^2)] that turn dL/dh_t into
        dr~, dz~, dn~. ``ws``: the ``rnnlab.workspace.Workspace`` it comes from, or None (new arrays).
        ``into``: the sweep will call only ``backward_step_into``; with the compiled kernel that computes
        the factors itself, none are made."""
        if "coef" in cache:
            return
        a = cache["gates"]
        fused = kernels.for_cell("gru", a.dtype)
        if into and fused is not None:
            return
        T, B, G = a.shape
        H = G // 3
        ws = workspace_of(ws)
        coef = ws.empty((T, B, 3, H), a.dtype)
        if fused is not None:
            fused.factors(a, cache["hs"], cache["ghn"], coef)
            cache["coef"] = coef
            return
        blocks = step_blocks(T, B * H)
        u = ws.empty((blocks[0].stop - blocks[0].start, B, H), a.dtype)
        for s in blocks:  # a few steps at a time: the block's dozen passes stay in the cache
            _factors(a[s], cache["hs"][s], cache["ghn"][s], coef[s], u[:s.stop - s.start])
        cache["coef"] = coef

    def backward_step(self, cache, s, dh, dc=None):
        """Local backward of step(s) ``s`` (an index or a slice of steps).

        Args:
            cache: the forward cache, after ``prepare_backward``.
            s: a step index or a slice of steps; the arrays below then carry those steps in front.
            dh: (..., B, H) dL/dh_t at the steps' outputs.
            dc: unused (a GRU has no cell state).
        Returns:
            (dgi, dgh, dh_local, None): the input and recurrent pre-activation gradients (..., B, 3H)
            and the direct path dh * z to h_{t-1} (..., B, H).
        """
        coef = cache["coef"][s]                                  # (..., B, 3, H)
        a = cache["gates"][s]
        H = dh.shape[-1]
        dgi = dh[..., None, :] * coef                            # (..., B, 3, H)
        dgi = dgi.reshape(dgi.shape[:-2] + (-1,))
        dgh = dgi.copy()
        dgh[..., 2 * H:] *= a[..., :H]                           # the reset gate scales W_hn h + b_hn
        return dgi, dgh, dh * a[..., H:2 * H], None

    def backward_step_into(self, cache, t, dh, dc, dgi, dgh):
        """``backward_step`` of one step ``t`` written into preallocated arrays (the fast path of
        ``rnnlab.bptt``): dgi, dgh (B, 3H) receive the pre-activation gradients; ``dh`` is left unchanged.
        Returns the direct path dh * z to h_{t-1} (B, H), a new array."""
        fused = kernels.for_cell("gru", dh.dtype)
        if fused is not None:
            dh_local = np.empty_like(dh)
            fused.backward_step(t, dh, cache["gates"], cache["hs"], cache["ghn"], dgi, dgh, dh_local)
            return dh_local
        B, H = dh.shape
        a = cache["gates"][t]
        np.multiply(dh[:, None, :], cache["coef"][t], out=dgi.reshape(B, 3, H))
        dgh[:, :2 * H] = dgi[:, :2 * H]
        np.multiply(dgi[:, 2 * H:], a[:, :H], out=dgh[:, 2 * H:])  # the reset gate scales W_hn h + b_hn
        return dh * a[:, H:2 * H]
