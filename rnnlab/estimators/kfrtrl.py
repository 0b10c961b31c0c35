"""Kronecker-factored RTRL, KF-RTRL (Mujika, Meier & Steger 2018), for the plain RNN.

For h_t = (1 - alpha) h_{t-1} + alpha f(W [x_t, 1, h_{t-1}, 1]) (W = [W_ih | b_ih | W_hh | b_hh] one
(H, K) matrix) the immediate influence is a Kronecker product,

    dh_{i,t} / dW_{k,m} |_{h_{t-1}} = u_t[m] * delta_{ik} alpha f'(z_{k,t})      Mbar_t = u_t (x) D_t,

with u_t = [x_t, 1, h_{t-1}, 1] (K) and D_t = alpha diag(f'(z_t)) (H x H). KF-RTRL keeps
M_t ~ u~_t (x) A_t (a K-vector and an H x H matrix: O(n^2) memory) and, since J_t M_{t-1} ~ u~_{t-1} (x)
J_t A_{t-1}, merges the two Kronecker products with two random signs c1, c2:

    u~_t = c1 p1 u~_{t-1} + c2 p2 u_t,      A_t = c1 J_t A_{t-1} / p1 + c2 D_t / p2
    p1 = sqrt(||J_t A_{t-1}|| / ||u~_{t-1}||),   p2 = sqrt(||D_t|| / ||u_t||)

unbiased because E[c1 c2] = 0. The gradient estimate is dL_t/dW_{k,m} = (dL_t/dh_t^T A_t)_k u~_t[m].
J_t A_{t-1} is a product of an n x n Jacobian with an n x n matrix: O(n^3) per step.

Implemented for the plain RNN, where A is H x H. The GRU's immediate influence is not one Kronecker
product: its n-gate reads W_in x_t + r * (W_hn h_{t-1}), so the columns of an n-gate row that multiply x_t
and those that multiply h_{t-1} carry different factors (D vs r D) and the influence is a sum of two
products. The LSTM's does factor (every gate row sees the same u_t, so Mbar_t = u_t (x) Dtilde_t with
Dtilde_t of size 2H x 4H), but A would then be 2H x 4H and that variant is not implemented here.
"""
from __future__ import annotations

import numpy as np

from .base import Estimator
from .jacobians import immediate, inputs_u, state_jvp


def _ratio_sqrt(num, den):
    """sqrt(num / den) where both are > 0, else 1 (the product the rho scales is then zero anyway); in
    num's dtype (a float32 run stays float32)."""
    num = np.asarray(num)
    ok = (num > 0) & (den > 0)
    out = np.ones(ok.shape, dtype=num.dtype)
    np.divide(num, den, out=out, where=ok)
    return np.sqrt(out, out=out)


class KFRTRL(Estimator):
    """KF-RTRL, plain RNN only; ``draws`` independent estimates side by side."""

    name = "kf-rtrl"
    cells = ("rnn",)
    stochastic = True

    def _unsupported(self) -> str:
        why = ("the GRU's reset gate scales W_hn h, so its immediate influence is no single Kronecker product"
               if self.spec.kind == "gru" else
               "the LSTM's 2H x 4H Kronecker factor is not implemented")
        return f"kf-rtrl needs a Kronecker-factored step Jacobian and is implemented for the plain RNN only: {why}"

    def _reset(self):
        H, I, R, B = self.spec.hidden, self.layer.input_size, self.draws, self.B
        self.u = np.zeros((R, B, I + H + 2), dtype=self.dtype)
        self.A = np.zeros((R, H, B, H), dtype=self.dtype)     # A[r, k, b, i]: column k of A is a tangent

    def _advance(self, sv, state):
        R, H, B = self.draws, self.spec.hidden, self.B
        JA = state_jvp(self.spec, sv, self.params["weight_hh_l0"], self.A)        # (R, H, B, H)
        D = immediate(self.spec, sv)[0][:, 0, :]                                   # (B, H) alpha f'(z)
        ui, uh = inputs_u(sv)
        u_t = np.concatenate([ui, uh], axis=1)                                     # (B, K)
        nJA = np.sqrt(np.einsum("rkbi,rkbi->rb", JA, JA))
        p1 = _ratio_sqrt(nJA, np.linalg.norm(self.u, axis=-1))                     # (R, B)
        p2 = _ratio_sqrt(np.linalg.norm(D, axis=-1), np.linalg.norm(u_t, axis=-1))[None]   # (1, B)
        c1, c2 = self.rng.choice(np.array([-1.0, 1.0], dtype=self.dtype), size=(2, R, B))
        self.u = (c1 * p1)[..., None] * self.u + (c2 * p2)[..., None] * u_t
        A = JA * (c1 / p1)[:, None, :, None]
        k = np.arange(H)
        A[:, k, :, k] += ((c2 / p2)[:, :, None] * D[None]).transpose(2, 0, 1)   # view (H, R, B) at i = k
        self.A = A

    def _learn(self, dh_t):
        Ki = self.layer.input_size + 1
        q = np.einsum("rkbi,bi->rkb", self.A, dh_t)                               # dL_t/dh_t^T A_t
        g = np.einsum("rkb,rbm->rkm", q, self.u)                                  # (R, H, K)
        self._gi[:, 0] += g[:, :, :Ki]
        self._gh[:, 0] += g[:, :, Ki:]
