"""Real-time recurrent learning (Williams & Zipser 1989): the exact gradient, forward in time.

The influence matrix M_t = ds_t/dtheta (S x P per sequence) obeys

    M_t = J_t M_{t-1} + Mbar_t,      M_0 = 0,      dL/dtheta = sum_t dL_t/dh_t  M_t[h rows]

with J_t = ds_t/ds_{t-1} and Mbar_t = D_t (x) u_t the immediate influence (``jacobians``). Every one of
the P columns of M is a tangent vector pushed through the step by one batched Jacobian-vector product
(``state_jvp`` on an (P, B, S) array: one (P B, H) x (H, G H) product and element-wise factors), so a
step costs O(P S G H) = O(n^4) for n hidden units and M takes O(n^3) memory: for small n only.

Layout: M is (G, H, K, B, S) with K = (I + 1) + (H + 1): column (g, j, m) is parameter row g H + j of
[W_ih | b_ih | W_hh | b_hh]; Mbar_t only touches the entries whose state index is unit j itself.
"""
from __future__ import annotations

import numpy as np

from .base import Estimator
from .jacobians import immediate, inputs_u, state_jvp


class RTRL(Estimator):
    """Exact real-time recurrent learning, dense influence matrix; every cell."""

    name = "rtrl"

    def _reset(self):
        G, H, P = self.spec.gates, self.spec.hidden, self.spec.parts
        K = self.layer.input_size + H + 2
        self.M = np.zeros((G, H, K, self.B, P * H), dtype=self.dtype)
        self._mask = None

    def _advance(self, sv, state):
        G, H, P, B = self.spec.gates, self.spec.hidden, self.spec.parts, self.B
        K = self.M.shape[2]
        M = state_jvp(self.spec, sv, self.params["weight_hh_l0"], self.M.reshape(-1, B, P * H))
        M = M.reshape(G, H, K, B, P, H)
        add_immediate(self.spec, sv, M)
        if self._mask is not None:
            M *= self._mask
        self.M = M.reshape(G, H, K, B, P * H)

    def _learn(self, dh_t):
        H, Ki = self.spec.hidden, self.layer.input_size + 1
        g = np.einsum("gjmbh,bh->gjm", self.M[..., :H], dh_t)
        self._gi[0] += g[:, :, :Ki]
        self._gh[0] += g[:, :, Ki:]


def add_immediate(spec, sv, M):
    """M += Mbar_t in place, M (G, H, K, B, P, H): entry (g, j, m, b, p, j) gains D[b, g, p H + j] u[b, m]."""
    G, H, P = spec.gates, spec.hidden, spec.parts
    B = M.shape[3]
    Di, Dh = immediate(spec, sv)
    ui, uh = inputs_u(sv)
    Ki = ui.shape[1]
    j = np.arange(H)
    # advanced indices on axes 1 and 5 (both unit j) move to the front: the view is (H, G, K, B, P)
    M[:, j, :Ki, :, :, j] += np.einsum("bgpj,bm->jgmbp", Di.reshape(B, G, P, H), ui)
    M[:, j, Ki:, :, :, j] += np.einsum("bgpj,bm->jgmbp", Dh.reshape(B, G, P, H), uh)
