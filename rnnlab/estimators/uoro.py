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
from .jacobians import local_jvp, local_vjp, step_forward


def _ratio_sqrt(num, den):
    """sqrt(num / den) where both are > 0, else 1 (the product the rho scales is then zero anyway); in
    num's dtype (a float32 run stays float32)."""
    num = np.asarray(num)
    ok = (num > 0) & (den > 0)
    out = np.ones(ok.shape, dtype=num.dtype)
    np.divide(num, den, out=out, where=ok)
    return np.sqrt(out, out=out)


class SignStream:
    """Random signs nu_t (E[nu nu^T] = I), drawn ``block`` steps at a time (fewer when a step's signs are
    many: at most about 2^20 per draw) from random bytes, one bit each (0 -> -1, 1 -> +1): a third of the
    cost of drawing bounded integers, which took a large part of UORO's step."""

    def __init__(self, rng, block: int, dtype):
        self.rng, self.block, self.dtype = rng, block, dtype
        self._drawn, self._next = None, 0

    def next(self, shape) -> np.ndarray:
        """The next step's signs, an array of ``shape`` (read-only)."""
        if self._drawn is None or self._next == len(self._drawn) or self._drawn.shape[1:] != shape:
            size = int(np.prod(shape))
            steps = max(1, min(self.block, 2 ** 20 // max(size, 1)))
            n = steps * size
            bits = np.unpackbits(np.frombuffer(self.rng.bytes((n + 7) // 8), dtype=np.uint8), count=n)
            signs = bits.astype(self.dtype)     # 2 b - 1: a quarter of the time of a table look-up
            signs *= 2.0
            signs -= 1.0
            self._drawn = signs.reshape((steps,) + tuple(shape))
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
    gradient of the kept steps is one (G H, L B) x (L B, K) product per draw, their learning signals
    c_t = alpha_t s~_t[h] . dL_t/dh_t one batched product. T is written out every ``window`` steps (then N
    is recomputed from it), at the first step after a ``gradient`` call, and at the step after alpha has
    drifted far from 1 (folded in). The same estimate as the per-step update (tests hold the two equal),
    with the same random signs.

    At n ~ 100 a step's O(B n) arithmetic is small and its time is the number of NumPy calls it makes, so
    the step is written for few calls: the kept steps live in arrays laid out for the batched products
    ((R, B, L, ·): row l of every sequence is contiguous), the state and s~ share one product with W_hh,
    the two rho's are computed together, and the learning signal only saves dL_t/dh_t."""

    name = "uoro"
    stochastic = True
    window = 32     # steps kept as rank-one terms before theta~ is written out

    def _reset(self):
        R, B, H = self.draws, self.B, self.spec.hidden
        S, GH, L = self.spec.parts * H, self.spec.gates * H, self.window
        K, dt = self.layer.input_size + H + 2, self.dtype
        self._hs = np.zeros(((1 + R) * B, S), dtype=dt)     # [s_{t-1}; s~_{t-1}]: one product with W_hh
        self.s = self._hs[B:].reshape(R, B, S)              # s~ (a view)
        self.alpha = np.ones((R, B), dtype=dt)              # the scale of theta~, kept apart (see above)
        self.T = None                                       # (R, B, G H, K), or None while zero
        self.N = np.zeros((R, B), dtype=dt)                 # ||theta~ / alpha||^2
        # the kept steps, rows 0 .. n-1 of axis L
        self._n, self._L = 0, L
        self._dgi = np.zeros((R, B, L, GH), dtype=dt)
        self._dgh = self._dgi if self.spec.shared else np.zeros((R, B, L, GH), dtype=dt)
        self._u = np.ones((B, L, K), dtype=dt)              # [x_t, 1, h_{t-1}, 1] (the ones stay)
        self._f = np.zeros((R, B, L), dtype=dt)
        self._sa = np.zeros((R, B, L, H), dtype=dt)         # alpha_t s~_t[h]
        self._dh = np.zeros((B, L, H), dtype=dt)            # dL_t/dh_t (the learn calls' sum), zero once used
        # [||theta~||^2, ||w_t||^2 | ||J s~||^2, ||nu||^2 | 1e8 - alpha, alpha - 1e-8]
        self._q = np.empty((6, R, B), dtype=dt)
        self._q[3] = S
        self._bound, self._bound_inv = np.asarray(1e8, dtype=dt), np.asarray(1e-8, dtype=dt)
        self._plain = self.spec.kind == "rnn" and self.spec.leak == 1.0
        if not hasattr(self, "_nu"):
            self._nu = SignStream(self.rng, self.window, dt)   # drawn ahead, kept across sequences
        self._pending = False                               # learning signals not yet in the gradient
        self._flush = False

    def _forward(self, x_t):
        B, H = self.B, self.spec.hidden
        hs = self._hs
        hs[:B] = self.state
        hW = hs[:, :H] @ self.params["weight_hh_l0"].T                       # ((1 + R) B, G H)
        self._sW = hW[B:].reshape(self.draws, B, -1)                           # s~_{t-1}[h] W_hh^T
        return step_forward(self.spec, self.params, x_t, self.state, hW=hW[:B])

    def _advance(self, sv, state):
        if self._flush or self._n >= self._L:
            self._write_out()
        spec, s, n, q = self.spec, self.s, self._n, self._q
        H, I, Ki = spec.hidden, self.layer.input_size, self.layer.input_size + 1
        nu = self._nu.next(s.shape)
        if self._plain:     # J_t s~ = f'(z) (s~ W_hh^T) and dgi = f'(z) nu (into the kept row): two calls
            fp = sv["fp"]
            s_fwd = fp * self._sW                                                # (R, B, H)
            dgi = dgh = np.multiply(fp, nu, out=self._dgi[:, :, n])              # (R, B, G H)
        else:               # J_t s~_{t-1}: the network path's product came with the step's
            s_fwd = local_jvp(spec, sv, None, self._sW, s[..., :H], s[..., H:] if spec.parts == 2 else None)
            dgi, dgh, _, _ = local_vjp(spec, sv, nu)
            self._dgi[:, :, n] = dgi
            if not spec.shared:
                self._dgh[:, :, n] = dgh
        u = self._u[:, n]
        u[:, :I] = sv["x"]
        u[:, Ki:-1] = sv["h_prev"]
        # <w_l, w_t> for the kept steps l and t itself (last), (R, B, n + 1): products of inner products
        if spec.shared:
            P = (np.matmul(self._dgi[:, :, :n + 1], dgi[..., None])[..., 0]
                 * np.matmul(self._u[:, :n + 1], u[..., None])[..., 0])
        else:
            P = (np.matmul(self._dgi[:, :, :n + 1], dgi[..., None])[..., 0]
                 * np.matmul(self._u[:, :n + 1, :Ki], u[:, :Ki, None])[..., 0]
                 + np.matmul(self._dgh[:, :, :n + 1], dgh[..., None])[..., 0]
                 * np.matmul(self._u[:, :n + 1, Ki:], u[:, Ki:, None])[..., 0])
        # rho0 = sqrt(||theta~|| / ||J s~||), rho1 = sqrt(||nu^T Mbar|| / ||nu||), from the squared norms,
        # with alpha's margins to its bounds (one reduction checks all for zeros)
        np.multiply(self.alpha, self.alpha, out=q[0])
        q[0] *= self.N
        q[1] = P[..., n]
        np.matmul(s_fwd[..., None, :], s_fwd[..., None], out=q[2, ..., None, None])
        np.subtract(self._bound, self.alpha, out=q[4])
        np.subtract(self.alpha, self._bound_inv, out=q[5])
        if q.min() > 0:     # the usual case
            rho = q[:2] / q[2:4]
            np.sqrt(np.sqrt(rho, out=rho), out=rho)
        else:               # 1 where a norm is 0; alpha outside [1e-8, 1e8]: folded into T at the next step
            rho = np.sqrt(_ratio_sqrt(q[:2], q[2:4]))
            self._flush = self._flush or bool((q[4:] <= 0).any())
        rho0, rho1 = rho
        np.multiply(s_fwd, rho0[..., None], out=s)
        s += rho1[..., None] * nu
        self.alpha /= rho0                                                      # > 0
        f = self._f[..., n]
        np.multiply(rho1, self.alpha, out=f)
        np.reciprocal(f, out=f)
        # N <- ||theta~_{t-1} / alpha + f w_t||^2 = N + f (2 <., w_t> + f <w_t, w_t>)
        cross = np.matmul(P[..., None, :n], self._f[..., :n, None])[..., 0, 0]
        if self.T is not None:
            cross += self._inner_T(dgi, dgh, u)
        cross *= 2.0
        cross += f * q[1]
        cross *= f
        self.N += cross
        np.maximum(self.N, 0.0, out=self.N)
        np.multiply(s[..., :H], self.alpha[..., None], out=self._sa[:, :, n])
        self._n = n + 1

    def _inner_T(self, dgi, dgh, u):
        """<T, w_t> for w_t = [dgi (x) u^i, dgh (x) u^h], (R, B)."""
        if self.spec.shared:
            return np.einsum("rbk,rbk->rb", dgi, np.matmul(self.T, u[:, :, None])[..., 0])
        Ki = self.layer.input_size + 1
        Tui = np.matmul(self.T[..., :Ki], u[:, :Ki, None])[..., 0]                # (R, B, G H)
        Tuh = np.matmul(self.T[..., Ki:], u[:, Ki:, None])[..., 0]
        return np.einsum("rbk,rbk->rb", dgi, Tui) + np.einsum("rbk,rbk->rb", dgh, Tuh)

    def _learn(self, dh_t):
        # c_t = alpha_t s~_t[h] . dL_t/dh_t weighs T and every kept term: formed at the next _accumulate.
        # Before the first step s~ = 0, and there is nothing to weigh.
        if self._n:
            self._dh[:, self._n - 1] += dh_t
            self._pending = True

    def _grads(self):
        self._accumulate()
        self._flush = self._n > 0
        return super()._grads()

    def _accumulate(self):
        """Add sum_t c_t alpha_t theta~_t / alpha_t of the learning signals since the last call to the
        accumulator: the weights on T and on each kept w_s, then the products."""
        if not self._pending:
            return
        R, B = self.alpha.shape
        G, H, Ki = self.spec.gates, self.spec.hidden, self.layer.input_size + 1
        n = self._n
        dh = self._dh[:, :n]
        c = np.einsum("rblh,blh->rbl", self._sa[:, :, :n], dh)                  # (R, B, n)
        dh[...] = 0.0
        # the weight of kept term s: the c_t of the steps t >= s; T's: all of them. In C order: a product
        # with the reversed view's strides is not one BLAS could take (numpy's own loop: 100x slower)
        coef = np.cumsum(c[..., ::-1], axis=-1)[..., ::-1].copy()
        g = np.zeros((R, G * H, Ki + H + 1), dtype=self.dtype)
        if self.T is not None:
            g += np.matmul(coef[:, None, :, 0], self.T.reshape(R, B, -1)).reshape(g.shape)
        U = self._u[:, :n].reshape(B * n, -1)                                      # (B n, K)
        w = (coef * self._f[..., :n])[..., None]                                   # (R, B, n, 1)
        Ci = (w * self._dgi[:, :, :n]).transpose(0, 3, 1, 2).reshape(R, G * H, B * n)
        if self.spec.shared:
            g += np.matmul(Ci, U)
        else:
            Ch = (w * self._dgh[:, :, :n]).transpose(0, 3, 1, 2).reshape(R, G * H, B * n)
            g[..., :Ki] += np.matmul(Ci, U[:, :Ki])
            g[..., Ki:] += np.matmul(Ch, U[:, Ki:])
        self._pending = False
        g = g.reshape(R, G, H, -1)
        self._gi += g[..., :Ki]
        self._gh += g[..., Ki:]

    def _write_out(self):
        """T <- T + sum_s f_s w_s (the learning signals' gradient first), N recomputed from it; alpha
        folded into T when it has drifted far from 1; forget the kept steps."""
        self._accumulate()
        n = self._n
        if n:
            Ki = self.layer.input_size + 1
            U = self._u[None, :, :n]                                               # (1, B, n, K)
            Fi = (self._f[..., :n, None] * self._dgi[:, :, :n]).transpose(0, 1, 3, 2)   # (R, B, G H, n)
            if self.spec.shared:
                W = np.matmul(Fi, U)
            else:
                Fh = (self._f[..., :n, None] * self._dgh[:, :, :n]).transpose(0, 1, 3, 2)
                W = np.concatenate([np.matmul(Fi, U[..., :Ki]), np.matmul(Fh, U[..., Ki:])], axis=-1)
            if self.T is None:
                self.T = W
            else:
                self.T += W
            self._n = 0
        if self.T is not None:
            if self.alpha.max() > 1e8 or self.alpha.min() < 1e-8:
                self.T *= self.alpha[..., None, None]
                self.alpha[...] = 1.0
            T2 = self.T.reshape(self.T.shape[0], self.T.shape[1], -1)
            self.N = np.einsum("rbk,rbk->rb", T2, T2)
        self._flush = False
