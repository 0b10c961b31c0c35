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
from .jacobians import immediate, inputs_u, jacobian_diagonal
from .rtrl import RTRL


class DiagonalTrace(Estimator):
    """An influence (or eligibility) trace kept at each parameter's own unit, propagated by per-unit
    2x2/1x1 blocks ``_blocks(sv)`` of a Jacobian. SnAp-1 uses J_t's; e-prop and RFLO the direct path's."""

    def _reset(self):
        G, H, P = self.spec.gates, self.spec.hidden, self.spec.parts
        K = self.layer.input_size + H + 2
        self.E = np.zeros((P, self.B, G, H, K), dtype=self.dtype)   # E[p, b, g, j, m]: at state part p of unit j

    def _blocks(self, sv):
        raise NotImplementedError

    def _advance(self, sv, state):
        G, H, P, B = self.spec.gates, self.spec.hidden, self.spec.parts, self.B
        Jd = self._blocks(sv)                                   # (B, P_out, P_in, H)
        E = self.E
        if P == 1:
            E *= Jd[None, :, 0, 0, None, :, None]               # in place: one pass over the trace
        else:
            E = np.einsum("bqpj,pbgjm->qbgjm", Jd, E)
        Di, Dh = immediate(self.spec, sv)                       # (B, G, P H)
        ui, uh = inputs_u(sv)
        Ki = ui.shape[1]
        Di = Di.reshape(B, G, P, H).transpose(2, 0, 1, 3)[..., None]     # (P, B, G, H, 1)
        Dh = Dh.reshape(B, G, P, H).transpose(2, 0, 1, 3)[..., None]
        if self.spec.shared:      # one D for both groups: one product over [u^i, u^h]
            E += Di * np.concatenate([ui, uh], axis=1)[None, :, None, None, :]
        else:
            E[..., :Ki] += Di * ui[None, :, None, None, :]
            E[..., Ki:] += Dh * uh[None, :, None, None, :]
        self.E = E

    def _learn(self, dh_t):
        Ki = self.layer.input_size + 1
        g = np.einsum("bgjm,bj->gjm", self.E[0], dh_t)
        self._gi[0] += g[:, :, :Ki]
        self._gh[0] += g[:, :, Ki:]


class SnAp1(DiagonalTrace):
    """SnAp-1: the influence at each parameter's own unit, J_t's per-unit blocks; every cell."""

    name = "snap-1"

    def _blocks(self, sv):
        return jacobian_diagonal(self.spec, sv, self.params["weight_hh_l0"])


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
