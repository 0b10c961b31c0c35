"""Unbiased online recurrent optimisation, UORO (Tallec & Ollivier 2018).

UORO keeps a rank-one estimate M_t ~ s~_t theta~_t^T of the influence matrix (s~: S entries,
theta~: P entries) and refreshes it with a random sign vector nu (E[nu nu^T] = I) at every step:

    s~_t     = rho0 J_t s~_{t-1} + rho1 nu
    theta~_t = theta~_{t-1} / rho0 + (nu^T Mbar_t) / rho1
    rho0 = sqrt(||theta~_{t-1}|| / ||J_t s~_{t-1}||),   rho1 = sqrt(||nu^T Mbar_t|| / ||nu||)

E[s~_t theta~_t^T] = J_t E[s~_{t-1} theta~_{t-1}^T] + Mbar_t: the cross terms vanish because they are odd
in nu (the rho's are even in it), so the estimate of M_t, and the gradient estimate
sum_t (dL_t/dh_t . s~_t[h]) theta~_t, are unbiased; the rho's only minimise the variance. Both products
are O(n^2): J_t s~ is one ``state_jvp``, nu^T Mbar_t is the step's own backward (``local_vjp``) of nu,
times u_t. The estimate starts at zero (the papers' codes start from random vectors, which adds a bias
that decays with time); a zero norm gives rho = 1.

Every draw is an independent estimate; ``draws`` of them run as one batched computation.
"""
from __future__ import annotations

import numpy as np

from .base import Estimator
from .jacobians import inputs_u, local_vjp, state_jvp


def _ratio_sqrt(num, den):
    """sqrt(num / den) where both are > 0, else 1 (the product the rho scales is then zero anyway)."""
    ok = (num > 0) & (den > 0)
    return np.where(ok, np.sqrt(np.where(ok, num, 1.0) / np.where(ok, den, 1.0)), 1.0)


def _sq(a):
    """Squared norm over everything after the (draw, batch) axes: (R, B)."""
    a = a.reshape(a.shape[0], a.shape[1], -1)
    return np.einsum("rbk,rbk->rb", a, a)


class UORO(Estimator):
    """UORO, every cell; ``draws`` independent estimates side by side."""

    name = "uoro"
    stochastic = True

    def _reset(self):
        G, H, S = self.spec.gates, self.spec.hidden, self.spec.parts * self.spec.hidden
        R, B, I = self.draws, self.B, self.layer.input_size
        self.s = np.zeros((R, B, S), dtype=self.dtype)
        # theta~ = alpha * [Ti | Th]: the scale alpha (R, B) is kept apart so that dividing by rho0 is not
        # a pass over the P entries (folded back in when it drifts far from 1)
        self.alpha = np.ones((R, B), dtype=self.dtype)
        self.Ti = np.zeros((R, B, G * H, I + 1), dtype=self.dtype)
        self.Th = np.zeros((R, B, G * H, H + 1), dtype=self.dtype)

    def _advance(self, sv, state):
        R, B, S = self.s.shape
        s_fwd = state_jvp(self.spec, sv, self.params["weight_hh_l0"], self.s)        # (R, B, S)
        nu = self.rng.choice(np.array([-1.0, 1.0], dtype=self.dtype), size=(R, B, S))
        dgi, dgh, _, _ = local_vjp(self.spec, sv, nu)                               # (R, B, G H)
        ui, uh = inputs_u(sv)
        # nu^T Mbar_t = [dgi (x) u^i, dgh (x) u^h]: its norm is a product of norms, no need to build it
        n_nuM = np.sqrt(np.einsum("rbk,rbk->rb", dgi, dgi) * np.einsum("bk,bk->b", ui, ui)
                        + np.einsum("rbk,rbk->rb", dgh, dgh) * np.einsum("bk,bk->b", uh, uh))
        n_theta = np.abs(self.alpha) * np.sqrt(_sq(self.Ti) + _sq(self.Th))
        rho0 = _ratio_sqrt(n_theta, np.sqrt(_sq(s_fwd)))
        rho1 = _ratio_sqrt(n_nuM, np.sqrt(_sq(nu)))
        self.s = rho0[..., None] * s_fwd + rho1[..., None] * nu
        self.alpha = self.alpha / rho0
        f = (1.0 / (rho1 * self.alpha))[..., None, None]
        self.Ti += (dgi[..., None] * f) * ui[None, :, None, :]
        self.Th += (dgh[..., None] * f) * uh[None, :, None, :]
        if np.any((np.abs(self.alpha) > 1e8) | (np.abs(self.alpha) < 1e-8)):
            self.Ti *= self.alpha[..., None, None]
            self.Th *= self.alpha[..., None, None]
            self.alpha[...] = 1.0

    def _learn(self, dh_t):
        R, B = self.alpha.shape
        H = self.spec.hidden
        c = np.einsum("rbh,bh->rb", self.s[..., :H], dh_t) * self.alpha         # dL_t/dh_t . s~_t, times alpha
        c = c[:, None, :]                                                          # (R, 1, B)
        self._gi += np.matmul(c, self.Ti.reshape(R, B, -1)).reshape(self._gi.shape)
        self._gh += np.matmul(c, self.Th.reshape(R, B, -1)).reshape(self._gh.shape)
