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
        self.ti = np.zeros((R, B, G, H, I + 1), dtype=self.dtype)
        self.th = np.zeros((R, B, G, H, H + 1), dtype=self.dtype)

    def _advance(self, sv, state):
        G, H = self.spec.gates, self.spec.hidden
        R, B, S = self.s.shape
        s_fwd = state_jvp(self.spec, sv, self.params["weight_hh_l0"], self.s)        # (R, B, S)
        nu = self.rng.choice(np.array([-1.0, 1.0], dtype=self.dtype), size=(R, B, S))
        dgi, dgh, _, _ = local_vjp(self.spec, sv, nu)                               # (R, B, G H)
        ui, uh = inputs_u(sv)
        nMi = dgi.reshape(R, B, G, H, 1) * ui[None, :, None, None, :]              # nu^T Mbar_t
        nMh = dgh.reshape(R, B, G, H, 1) * uh[None, :, None, None, :]
        rho0 = _ratio_sqrt(np.sqrt(_sq(self.ti) + _sq(self.th)), np.sqrt(_sq(s_fwd)))
        rho1 = _ratio_sqrt(np.sqrt(_sq(nMi) + _sq(nMh)), np.sqrt(_sq(nu)))
        r0, r1 = rho0[..., None], rho1[..., None]
        self.s = r0 * s_fwd + r1 * nu
        r0, r1 = rho0[..., None, None, None], rho1[..., None, None, None]
        self.ti = self.ti / r0 + nMi / r1
        self.th = self.th / r0 + nMh / r1

    def _learn(self, dh_t):
        c = np.einsum("rbh,bh->rb", self.s[..., :self.spec.hidden], dh_t)   # dL_t/dh_t . s~_t
        self._gi += np.einsum("rb,rbgjm->rgjm", c, self.ti)
        self._gh += np.einsum("rb,rbgjm->rgjm", c, self.th)
