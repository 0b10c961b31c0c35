"""SnAp-n, the sparse n-step approximation of RTRL (Menick et al. 2021).

SnAp-n keeps only the entries of the influence matrix M_t that a parameter can reach within n steps,
and drops the rest after every update:

    M_t = (J_t M_{t-1} + Mbar_t) (.) mask_n

SnAp-1: a parameter of unit j (a row g H + j of the weight matrices) moves only unit j's state in one
step, so M keeps the (G, H, K, P) entries at state unit j; J_t enters through its per-unit diagonal
blocks only (``jacobian_diagonal``: 1x1, 2x2 (h, c) for the LSTM):

    M1_t[g, j, m, q] = sum_p J_t[(q, j), (p, j)] M1_{t-1}[g, j, m, p] + D_t[g, (q, j)] u_t[m]

Cost O(G H K P^2) = O(n^2) per step, as much memory as the parameters (times P), like BPTT's per step.
It is exact when J_t is block diagonal (W_hh diagonal in every gate block) and for T = 1.

SnAp-2: a parameter of unit j reaches, in two steps, the units k with W_hh[g H + k, j] != 0 for some
gate g. The mask is taken from W_hh's nonzero pattern when the sequences start (``reset``); with a dense
W_hh every entry survives and SnAp-2 is RTRL, at RTRL's O(n^4) cost: SnAp-2 pays off for sparse W_hh
(Menick et al. use it with sparse networks). Here it runs RTRL's dense update and masks it.
"""
from __future__ import annotations

import numpy as np

from .base import Estimator
from .buffer import StepBuffer
from .jacobians import immediate, self_connections, unit_blocks
from .rtrl import RTRL


class DiagonalTrace(Estimator):
    """An influence (or eligibility) trace kept at each parameter's own unit, propagated by the per-unit
    2x2/1x1 blocks Jd_t of a Jacobian (``unit_blocks`` with the self-connections ``_self_weights()``):
    SnAp-1 uses J_t's, e-prop and RFLO the direct path's (no network path).

    The trace E_t = Jd_t E_{t-1} + D_t (x) u_t is (P, B, G, H, K): as large as the parameters, per
    sequence. Updating it at every step would cost passes over all of it (scale, add the outer product,
    contract with dL_t/dh_t). Instead a step only saves its factors (the ``step_forward`` values, O(B n));
    the steps since E was last written out are then processed together, each quantity for all of them
    in one call (Jd, D, u over (L, B, ·)), and their gradient is the reverse recursion over the per-unit
    blocks (SnAp-1's BPTT with J_t cut to its diagonal):

        a_t = dL_t/dh_t e_h + Jd_{t+1}^T a_{t+1},     dL/dtheta = sum_t (a_t . D_t) (x) u_t + (Jd_1^T a_1) . E_0,

    whose sum over t and the batch is one (G H, L B) x (L B, K) matrix product. E is written out (one
    batched product) only when ``window`` steps are kept, or at the first step after a ``gradient`` call.
    The sums are the per-step recursion's in another order (tests hold the two equal)."""

    window = 32     # steps kept in factored form before the trace is written out (None: no limit)

    def _reset(self):
        self.E = None               # the trace before the kept steps, (P, B, G, H, K); None: zero
        self._kept = StepBuffer(self.window or 32)   # the kept steps' saved values, u_t and dL_t/dh_t
        self._last = -1             # the last kept step with a learning signal not yet in the gradient
        self._flush = False         # a gradient call took the kept steps' signals: write E out at the next step

    def _self_weights(self):
        """The self-connections of the network path that Jd_t keeps ((G H,), a copy), or None."""
        return None

    def _advance(self, sv, state):
        kept = self._kept
        if self._flush or (self.window is not None and kept.n >= self.window):
            self._write_out()
        I, H = self.layer.input_size, self.spec.hidden
        kept.add()
        for k, v in sv.items():
            if k not in ("x", "h_prev"):
                kept.put(k, v)
        kept.put("u", sv["x"], np.s_[..., :I], shape=(self.B, I + H + 2), fill=1.0)    # u = [x, 1, h, 1]
        kept.put("u", sv["h_prev"], np.s_[..., I + 1:-1])
        w = self._self_weights()
        if w is not None:
            kept.put("w", w)
        kept.put("signal", 0.0, shape=(self.B, H), dtype=self.dtype)

    def _learn(self, dh_t):
        if self._kept.n:    # before any step the trace is zero
            self._kept.row("signal")[...] += dh_t
            self._last = self._kept.n - 1

    def _grads(self):
        self._accumulate()
        self._flush = self._kept.n > 0
        return super()._grads()

    # -- the kept steps: their gradient (reverse over the blocks) and the trace after them (forward) ------

    def _factors(self, n):
        """Jd (n, B, P, P, H), D^i and D^h (n, B, G, P, H), u (n, B, K) of the first n kept steps, each
        computed for all of them in one call."""
        kept, I, H = self._kept, self.layer.input_size, self.spec.hidden
        U = kept["u"][:n]
        sv = {k: kept[k][:n] for k in self._saved_keys()}
        sv["h_prev"] = U[..., I + 1:-1]
        Jd = unit_blocks(self.spec, sv, kept["w"][:n, None, :] if "w" in kept else None)
        B, G, P = self.B, self.spec.gates, self.spec.parts
        Di, Dh = immediate(self.spec, sv)                                  # (n, B, G, P H)
        Di = Di.reshape(n, B, G, P, H)
        Dh = Di if self.spec.shared else Dh.reshape(n, B, G, P, H)
        return Jd, Di, Dh, U

    def _saved_keys(self):
        return {"rnn": ("fp",), "lstm": ("i", "f", "g", "o", "c_prev", "tc"), "gru": ("r", "z", "n", "ghn")}[
            self.spec.kind]

    def _accumulate(self, factors=None):
        """Add the gradient of the kept steps' learning signals to the accumulator; clear the signals."""
        if self._last < 0:
            return
        n = self._last + 1
        Jd, Di, Dh, U = self._factors(n) if factors is None else (f[:n] for f in factors)
        B, G, P, H = self.B, self.spec.gates, self.spec.parts, self.spec.hidden
        signal = self._kept["signal"]
        A = np.zeros((n, B, P, H), dtype=self.dtype)                      # a_t
        A[:, :, 0] = signal[:n]
        for t in range(n - 2, -1, -1):
            A[t] += _transpose_apply(Jd[t + 1], A[t + 1])
        Ki = self.layer.input_size + 1
        if P == 1:
            Ci = A[:, :, 0, None, :] * Di[:, :, :, 0]                      # a_t . D_t, (n, B, G, H)
        else:
            Ci = np.einsum("lbpj,lbgpj->lbgj", A, Di)
        Ci = Ci.reshape(n * B, G * H)
        U = U.reshape(n * B, -1)
        if self.spec.shared:        # one coefficient for both groups: one product over [u^i, u^h]
            g = (Ci.T @ U).reshape(G, H, -1)
            self._gi[0] += g[:, :, :Ki]
            self._gh[0] += g[:, :, Ki:]
        else:
            Ch = (A[:, :, 0, None, :] * Dh[:, :, :, 0]).reshape(n * B, G * H)
            self._gi[0] += (Ci.T @ U[:, :Ki]).reshape(G, H, -1)
            self._gh[0] += (Ch.T @ U[:, Ki:]).reshape(G, H, -1)
        if self.E is not None:
            a0 = _transpose_apply(Jd[0], A[0])                             # (B, P, H)
            g = np.einsum("bpj,pbgjm->gjm", a0, self.E)
            self._gi[0] += g[:, :, :Ki]
            self._gh[0] += g[:, :, Ki:]
        signal[:n] = 0.0
        self._last = -1

    def _write_out(self):
        """E <- the trace after the kept steps (their gradient first); forget them."""
        L = self._kept.n
        if L:
            factors = self._factors(L)
            self._accumulate(factors)
            Jd, Di, Dh, U = factors
            B, G, P, H = self.B, self.spec.gates, self.spec.parts, self.spec.hidden
            Ki = self.layer.input_size + 1
            # Phi_t = Jd_L ... Jd_{t+1} per unit, (L, B, P, P, H); E_L = Phi_0 Jd_1 E_0 + sum_t Phi_t D_t (x) u_t
            Phi = np.empty((L, B, P, P, H), dtype=self.dtype)
            Phi[-1] = np.eye(P, dtype=self.dtype)[:, :, None]
            for t in range(L - 2, -1, -1):
                Phi[t] = _compose(Phi[t + 1], Jd[t + 1])

            def spread(D, U):   # sum_t (Phi_t D_t)[q, b, g, j] U_t[b, m] -> (P, B, G H, K), one batched product
                if P == 1:
                    PD = (Phi[:, :, 0, 0, None, :] * D[:, :, :, 0]).transpose(1, 0, 2, 3)[None]
                else:
                    PD = np.einsum("lbqpj,lbgpj->qblgj", Phi, D)           # (P, B, L, G, H)
                PD = PD.reshape(P, B, L, G * H).transpose(0, 1, 3, 2)    # (P, B, G H, L)
                return np.matmul(PD, U.transpose(1, 0, 2)[None])

            if self.spec.shared:
                E = spread(Di, U)
            else:
                E = np.concatenate([spread(Di, U[..., :Ki]), spread(Dh, U[..., Ki:])], axis=-1)
            E = E.reshape(P, B, G, H, -1)
            if self.E is not None:
                E += _apply(_compose(Phi[0], Jd[0]), self.E)
            self.E = E
        self._kept.clear()
        self._flush = False


class SnAp1(DiagonalTrace):
    """SnAp-1: the influence at each parameter's own unit, J_t's per-unit blocks; every cell."""

    name = "snap-1"

    def _self_weights(self):
        return self_connections(self.spec, self.params["weight_hh_l0"])


class SnAp2(RTRL):
    """SnAp-2: RTRL masked to the entries reachable in two steps (W_hh's nonzero pattern); every cell."""

    name = "snap-2"

    def _reset(self):
        super()._reset()
        G, H, P = self.spec.gates, self.spec.hidden, self.spec.parts
        W = self.params["weight_hh_l0"].reshape(G, H, H)       # W[g, k, j]: unit j -> gate g of unit k
        reach = (W != 0).any(axis=0) | np.eye(H, dtype=bool)     # reach[k, j]: j moves k within a step
        K = self.layer.input_size + H + 2
        mask = np.broadcast_to(reach[None, :, None, :, None], (P, H, G, H, K)).astype(self.dtype)
        self._mask = mask.reshape(1, P * H, G * H * K)


def _transpose_apply(Jd, a):
    """Jd^T a per unit: Jd (B, P, P, H) [b, q, p, j], a (B, P, H) -> (B, P, H) [b, p, j]."""
    if Jd.shape[1] == 1:
        return Jd[:, 0] * a
    return np.einsum("bqpj,bqj->bpj", Jd, a)


def _apply(Phi, E):
    """Phi E per unit: Phi (B, P, P, H) [b, q, p, j], E (P, B, G, H, K) [p, b, g, j, m] -> [q, b, g, j, m]."""
    if Phi.shape[1] == 1:
        return Phi[None, :, 0, 0, None, :, None] * E
    return np.einsum("bqpj,pbgjm->qbgjm", Phi, E)


def _compose(Phi, Jd):
    """(Phi Jd) per unit, both (B, P, P, H)."""
    if Phi.shape[1] == 1:
        return Phi * Jd
    return np.einsum("bqrj,brpj->bqpj", Phi, Jd)
