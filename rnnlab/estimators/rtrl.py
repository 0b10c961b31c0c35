"""Real-time recurrent learning (Williams & Zipser 1989): the exact gradient, forward in time.

The influence matrix M_t = ds_t/dtheta (S x P per sequence) obeys

    M_t = J_t M_{t-1} + Mbar_t,      M_0 = 0,      dL/dtheta = sum_t dL_t/dh_t  M_t[h rows]

with J_t = ds_t/ds_{t-1} and Mbar_t = D_t (x) u_t the immediate influence (``jacobians``). J_t is built
explicitly per sequence from S Jacobian-vector products (``state_jvp`` of the identity: cheap, O(S n^2)),
then J_t M_{t-1} is one batched matrix product (B, S, S) x (B, S, P): O(S^2 P) = O(n^4) per step for n
hidden units, and M takes O(n^3) memory: for small n only. The gradient is one (1, H) x (H, P) product
per sequence.

Layout: M is (B, S, G, H, K) with K = (I + 1) + (H + 1): column (g, j, m) is parameter row g H + j of
[W_ih | b_ih | W_hh | b_hh]; Mbar_t only touches the entries whose state index is unit j itself (in the h
and, for the LSTM, the c part).
"""
from __future__ import annotations

import numpy as np

from .base import Estimator
from .jacobians import immediate, inputs_u, state_jvp


def state_jacobian(spec, sv, W_hh):
    """J_t as (B, S_out, S_in), from the JVPs of the S basis tangents."""
    B = sv["h_prev"].shape[0]
    S = spec.parts * spec.hidden
    eye = np.broadcast_to(np.eye(S, dtype=sv["h_prev"].dtype)[:, None, :], (S, B, S))
    return state_jvp(spec, sv, W_hh, eye).transpose(1, 2, 0)


class RTRL(Estimator):
    """Exact real-time recurrent learning, dense influence matrix; every cell."""

    name = "rtrl"

    def _reset(self):
        G, H, P = self.spec.gates, self.spec.hidden, self.spec.parts
        K = self.layer.input_size + H + 2
        self.M = np.zeros((self.B, P * H, G * H * K), dtype=self.dtype)
        self._mask = None

    def _advance(self, sv, state):
        J = state_jacobian(self.spec, sv, self.params["weight_hh_l0"])           # (B, S, S)
        M = np.matmul(J, self.M)                                                  # (B, S, P)
        add_immediate(self.spec, sv, M)
        if self._mask is not None:
            M *= self._mask
        self.M = M

    def _learn(self, dh_t):
        G, H, Ki = self.spec.gates, self.spec.hidden, self.layer.input_size + 1
        g = np.matmul(dh_t[:, None, :], self.M[:, :H]).sum(axis=0).reshape(G, H, -1)   # (G, H, K)
        self._gi[0] += g[:, :, :Ki]
        self._gh[0] += g[:, :, Ki:]


def add_immediate(spec, sv, M):
    """M += Mbar_t in place, M (B, P H, G H K): entry (b, (p, j), (g, j, m)) gains D[b, g, p H + j] u[b, m]."""
    G, H, P = spec.gates, spec.hidden, spec.parts
    B = M.shape[0]
    Di, Dh = immediate(spec, sv)
    ui, uh = inputs_u(sv)
    Ki = ui.shape[1]
    M6 = M.reshape(B, P, H, G, H, -1)
    j = np.arange(H)
    # advanced indices on axes 2 and 4 (both unit j) move to the front: the view is (H, B, P, G, K)
    M6[:, :, j, :, j, :Ki] += np.einsum("bgpj,bm->jbpgm", Di.reshape(B, G, P, H), ui)
    M6[:, :, j, :, j, Ki:] += np.einsum("bgpj,bm->jbpgm", Dh.reshape(B, G, P, H), uh)
