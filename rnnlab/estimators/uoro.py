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
from .buffer import StepBuffer
from .jacobians import local_vjp, state_jvp


def _ratio_sqrt(num, den):
    """sqrt(num / den) where both are > 0, else 1 (the product the rho scales is then zero anyway); in
    num's dtype (a float32 run stays float32)."""
    num = np.asarray(num)
    ok = (num > 0) & (den > 0)
    out = np.ones(ok.shape, dtype=num.dtype)
    np.divide(num, den, out=out, where=ok)
    return np.sqrt(out, out=out)


def _ratio_root4(num2, den2):
    """(num2 / den2)^(1/4) = sqrt(num / den) from the squares num2 = num^2, den2 = den^2 (>= 0), 1 where
    either is 0; in num2's dtype."""
    if (num2 * den2).all():     # the usual case, in three calls (a zero, or an underflow, takes the long way)
        out = num2 / den2
        return np.sqrt(np.sqrt(out, out=out), out=out)
    out = _ratio_sqrt(num2, den2)
    return np.sqrt(out, out=out)


class SignStream:
    """Random signs nu_t (E[nu nu^T] = I), drawn ``block`` steps at a time (fewer when a step's signs are
    many: at most about 2^20 per draw) from random bytes, one bit each: a third of the cost of drawing
    bounded integers, which took a large part of UORO's step."""

    def __init__(self, rng, block: int, dtype):
        self.rng, self.block = rng, block
        self._lut = np.array([-1.0, 1.0], dtype=dtype)
        self._drawn, self._next = None, 0

    def next(self, shape) -> np.ndarray:
        """The next step's signs, an array of ``shape`` (read-only)."""
        if self._drawn is None or self._drawn.shape[1:] != shape or self._next == len(self._drawn):
            size = int(np.prod(shape))
            steps = max(1, min(self.block, 2 ** 20 // max(size, 1)))
            n = steps * size
            bits = np.unpackbits(np.frombuffer(self.rng.bytes((n + 7) // 8), dtype=np.uint8), count=n)
            self._drawn = self._lut[bits].reshape((steps,) + tuple(shape))
            self._drawn.flags.writeable = False
            self._next = 0
        self._next += 1
        return self._drawn[self._next - 1]


class UORO(Estimator):
    """UORO, every cell; ``draws`` independent estimates side by side.

    theta~ has P entries per sequence and draw, as many as the parameters: updating it at every step
    (scale, add the rank-one term, take its norm, contract it with the learning signal) would be passes
    over all of it. Instead it is kept as

        theta~_t = alpha_t (T + sum_{s kept} f_s w_s),      w_s = nu_s^T Mbar_s = [dgi_s (x) u^i_s, dgh_s (x) u^h_s]

    (T: the written-out part, None while zero; f_s = 1 / (rho1_s alpha_s)), with its squared norm N
    updated from inner products of the factors, <w_s, w_t> = (dgi_s . dgi_t)(u^i_s . u^i_t) + (dgh_s .
    dgh_t)(u^h_s . u^h_t), and <T, w_t> = dgi_t^T T u^i_t + ... (one product with T, once written out). The
    gradient of the kept steps is one (G H, L B) x (L B, K) product per draw. T is written out every
    ``window`` steps (then N is recomputed from it), at the first step after a ``gradient`` call, and when
    alpha drifts far from 1 (folded in). The same estimate as the per-step update (tests hold the two
    equal), with the same random signs."""

    name = "uoro"
    stochastic = True
    window = 32     # steps kept as rank-one terms before theta~ is written out

    def _reset(self):
        R, B, S = self.draws, self.B, self.spec.parts * self.spec.hidden
        self.s = np.zeros((R, B, S), dtype=self.dtype)
        self.alpha = np.ones((R, B), dtype=self.dtype)   # the scale of theta~, kept apart (see above)
        self.T = None                                     # (R, B, G H, K), or None while zero
        self.N = np.zeros((R, B), dtype=self.dtype)       # ||theta~ / alpha||^2
        self._coef_T = np.zeros((R, B), dtype=self.dtype)  # the learning signals' weight on T, not yet used
        self._kept = StepBuffer(self.window)              # dgi, dgh (R, B, G H), u (B, K), f and c (R, B)
        if not hasattr(self, "_nu"):
            self._nu = SignStream(self.rng, self.window, self.dtype)   # drawn ahead, kept across sequences
        self._pending = False                             # learning signals not yet in the gradient
        self._flush = False

    def _advance(self, sv, state):
        if self._flush or self._kept.n >= self.window:
            self._write_out()
        R, B, S = self.s.shape
        I, Ki = self.layer.input_size, self.layer.input_size + 1
        s_fwd = state_jvp(self.spec, sv, self.params["weight_hh_l0"], self.s)        # (R, B, S)
        nu = self._nu.next((R, B, S))
        dgi, dgh, _, _ = local_vjp(self.spec, sv, nu)                               # (R, B, G H)
        kept = self._kept
        kept.add()
        kept.put("u", sv["x"], np.s_[..., :I], shape=(B, I + self.spec.hidden + 2), fill=1.0)   # [x, 1, h, 1]
        kept.put("u", sv["h_prev"], np.s_[..., Ki:-1])
        u = kept.row("u")
        # ||nu^T Mbar_t||^2 = <w_t, w_t>: a product of norms, no need to build w_t
        if self.spec.shared:
            w2 = np.einsum("rbk,rbk->rb", dgi, dgi) * np.einsum("bk,bk->b", u, u)
        else:
            ui, uh = u[:, :Ki], u[:, Ki:]
            w2 = (np.einsum("rbk,rbk->rb", dgi, dgi) * np.einsum("bk,bk->b", ui, ui)
                  + np.einsum("rbk,rbk->rb", dgh, dgh) * np.einsum("bk,bk->b", uh, uh))
        # rho0 = sqrt(||theta~|| / ||J s~||), rho1 = sqrt(||nu^T Mbar|| / ||nu||), from the squared norms
        rho0 = _ratio_root4(self.alpha * self.alpha * self.N, np.einsum("rbk,rbk->rb", s_fwd, s_fwd))
        rho1 = _ratio_root4(w2, np.asarray(S, dtype=self.dtype))                    # ||nu||^2 = S
        self.s = rho0[..., None] * s_fwd + rho1[..., None] * nu
        self.alpha = self.alpha / rho0                                               # > 0
        f = 1.0 / (rho1 * self.alpha)
        # N <- ||theta~_{t-1} / alpha + f w_t||^2 = N + 2 f <., w_t> + f^2 <w_t, w_t>
        cross = self._inner(dgi, dgh, u, kept.n - 1)
        self.N = np.maximum(self.N + f * (2.0 * cross + f * w2), 0.0)
        kept.put("dgi", dgi)
        if not self.spec.shared:
            kept.put("dgh", dgh)
        kept.put("f", f)
        kept.put("c", 0.0, shape=f.shape, dtype=self.dtype)
        if self.alpha.max() > 1e8 or self.alpha.min() < 1e-8:
            self._write_out()

    def _inner(self, dgi, dgh, u, n):
        """<T + sum of the first n kept f_s w_s, w_t> for w_t = [dgi (x) u^i, dgh (x) u^h], (R, B)."""
        Ki = self.layer.input_size + 1
        kept, out = self._kept, 0.0

        def dots(kept_v, v):     # kept_v (n, [R,] B, k) . v ([R,] B, k) -> ([R,] B, n), as batched products
            axes = (1, 0, 2) if kept_v.ndim == 3 else (1, 2, 0, 3)
            return np.matmul(kept_v.transpose(axes), v[..., None])[..., 0]

        if n:
            U = kept["u"][:n]                                                     # (n, B, K)
            if self.spec.shared:
                prod = dots(kept["dgi"][:n], dgi) * dots(U, u)                    # (R, B, n)
            else:
                prod = (dots(kept["dgi"][:n], dgi) * dots(U[..., :Ki], u[:, :Ki])
                        + dots(kept["dgh"][:n], dgh) * dots(U[..., Ki:], u[:, Ki:]))
            out = np.einsum("rbl,lrb->rb", prod, kept["f"][:n])
        if self.T is not None:
            if self.spec.shared:
                out = out + np.einsum("rbk,rbk->rb", dgi, np.matmul(self.T, u[:, :, None])[..., 0])
            else:
                Tui = np.matmul(self.T[..., :Ki], u[:, :Ki, None])[..., 0]        # (R, B, G H)
                Tuh = np.matmul(self.T[..., Ki:], u[:, Ki:, None])[..., 0]
                out = out + np.einsum("rbk,rbk->rb", dgi, Tui) + np.einsum("rbk,rbk->rb", dgh, Tuh)
        return out

    def _learn(self, dh_t):
        H = self.spec.hidden
        c = np.einsum("rbh,bh->rb", self.s[..., :H], dh_t) * self.alpha         # dL_t/dh_t . s~_t, times alpha
        if self._kept.n:            # weighs T and every kept term: summed at the next _accumulate
            self._kept.row("c")[...] += c
        else:
            self._coef_T += c
        self._pending = True

    def _grads(self):
        self._accumulate()
        self._flush = self._kept.n > 0
        return super()._grads()

    def _accumulate(self):
        """Add sum_t c_t alpha_t theta~_t / alpha_t of the learning signals since the last call to the
        accumulator: the weights on T and on each kept w_s, then the products."""
        if not self._pending:
            return
        R, B = self.alpha.shape
        G, H, Ki = self.spec.gates, self.spec.hidden, self.layer.input_size + 1
        g = np.zeros((R, G * H, Ki + H + 1), dtype=self.dtype)
        kept = self._kept
        n = kept.n
        coef_T = self._coef_T
        if n:
            # the weight of kept term s: the c_t of the steps t >= s; T's: all of them
            coef = np.cumsum(kept["c"][::-1], axis=0)[::-1]                         # (n, R, B)
            coef_T = coef_T + coef[0]
        if self.T is not None:
            g += np.matmul(coef_T[:, None, :], self.T.reshape(R, B, -1)).reshape(g.shape)
        if n:
            U = kept["u"].reshape(n * B, -1)                                        # (n B, K)
            w = (coef * kept["f"])[..., None]                                       # (n, R, B, 1)
            Ci = (w * kept["dgi"]).transpose(1, 3, 0, 2).reshape(R, G * H, n * B)
            if self.spec.shared:
                g += np.matmul(Ci, U)
            else:
                Ch = (w * kept["dgh"]).transpose(1, 3, 0, 2).reshape(R, G * H, n * B)
                g[..., :Ki] += np.matmul(Ci, U[:, :Ki])
                g[..., Ki:] += np.matmul(Ch, U[:, Ki:])
            kept["c"][...] = 0.0
        self._coef_T[...] = 0.0
        self._pending = False
        g = g.reshape(R, G, H, -1)
        self._gi += g[..., :Ki]
        self._gh += g[..., Ki:]

    def _write_out(self):
        """T <- T + sum_s f_s w_s (the learning signals' gradient first), N recomputed from it; alpha
        folded into T when it has drifted far from 1; forget the kept steps."""
        self._accumulate()
        kept = self._kept
        n = kept.n
        if n:
            R, B = self.alpha.shape
            Ki = self.layer.input_size + 1
            U = kept["u"].transpose(1, 0, 2)[None]                                   # (1, B, n, K)
            Fi = (kept["f"][..., None] * kept["dgi"]).transpose(1, 2, 3, 0)          # (R, B, G H, n)
            if self.spec.shared:
                W = np.matmul(Fi, U)
            else:
                Fh = (kept["f"][..., None] * kept["dgh"]).transpose(1, 2, 3, 0)
                W = np.concatenate([np.matmul(Fi, U[..., :Ki]), np.matmul(Fh, U[..., Ki:])], axis=-1)
            if self.T is None:
                self.T = W
            else:
                self.T += W
            kept.clear()
        if self.T is not None:
            if self.alpha.max() > 1e8 or self.alpha.min() < 1e-8:
                self.T *= self.alpha[..., None, None]
                self.alpha[...] = 1.0
            T2 = self.T.reshape(self.T.shape[0], self.T.shape[1], -1)
            self.N = np.einsum("rbk,rbk->rb", T2, T2)
        self._flush = False
