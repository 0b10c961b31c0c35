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


class SignStream:
    """Random signs nu_t (E[nu nu^T] = I), drawn ``block`` steps at a time (fewer when a step's signs are
    many: at most about 2^20 per draw) from random bytes, one bit each (0 -> -1, 1 -> +1): a third of the
    cost of drawing bounded integers, which took a large part of UORO's step."""

    def __init__(self, rng, block: int, dtype):
        self.rng, self.block, self.dtype = rng, block, dtype
        self._drawn, self._shape, self._next = None, None, 0

    def next(self, shape) -> np.ndarray:
        """The next step's signs, an array of ``shape`` (a tuple; read-only)."""
        i = self._next
        if self._shape == shape and i < len(self._drawn):
            self._next = i + 1
            return self._drawn[i]
        size = int(np.prod(shape))
        steps = max(1, min(self.block, 2 ** 20 // max(size, 1)))
        n = steps * size
        bits = np.unpackbits(np.frombuffer(self.rng.bytes((n + 7) // 8), dtype=np.uint8), count=n)
        signs = bits.astype(self.dtype)     # 2 b - 1: a quarter of the time of a table look-up
        signs *= 2.0
        signs -= 1.0
        self._drawn = signs.reshape((steps,) + tuple(shape))
        self._drawn.flags.writeable = False
        self._shape, self._next = tuple(shape), 1
        return self._drawn[0]


class UORO(Estimator):
    """UORO, every cell; ``draws`` independent estimates side by side.

    Only the product s~_t theta~_t^T is the estimate, so the code keeps the pair in another scale,

        v_t = alpha_t s~_t,      theta^_t = theta~_t / alpha_t,      alpha_t = alpha_{t-1} / rho0_t

    (alpha_0 = 1), in which the rho's act through one coefficient, f_t = 1 / (rho1_t alpha_t):

        v_t = J_t v_{t-1} + nu_t / f_t,      theta^_t = theta^_{t-1} + f_t w_t,      w_t = nu_t^T Mbar_t
        f_t^4 = (N_{t-1} / ||J_t v_{t-1}||^2) (||nu||^2 / ||w_t||^2) = alpha_t^-4 rho1_t^-4

    with N = ||theta^||^2 (alpha_t^4 = ||J_t v_{t-1}||^2 / N_{t-1} is rho0's definition; where a norm is
    zero, rho = 1 as in the plain form). The learning signal's weight is c_t = dL_t/dh_t . v_t[h]. A step
    touches no P-sized array: theta^ is kept as

        theta^_t = T + sum_{s kept} f_s w_s,      w_s = [dgi_s (x) u^i_s, dgh_s (x) u^h_s]

    (T: the written-out part, None while zero), and N is updated from inner products of the factors,
    <w_s, w_t> = (dgi_s . dgi_t)(u^i_s . u^i_t) + (dgh_s . dgh_t)(u^h_s . u^h_t), and <T, w_t> = dgi_t^T T u^i_t
    + ... (one product with T, once written out). The gradient of the kept steps is one (G H, L B) x (L B, K)
    product per draw. T is written out every ``window`` steps (then N is recomputed from it), at the first
    step after a ``gradient`` call, and, when alpha has left [1e-8, 1e8] (``alpha_bound``), folded back (v / alpha,
    alpha T).
    The same estimate as the per-step update (tests hold the two equal), with the same random signs.

    At n ~ 100 a step's O(B n) arithmetic is small and its time is the number of NumPy calls it makes,
    so the step is written for few calls: the kept steps live in arrays laid out for the batched
    products; slot l of ``_hist`` holds [s_{t-1}; v_{t-1}] of kept step l, the operand of the one
    product with W_hh that serves the state and the tangent, and then the v's the learning signals
    weigh; all the per-sequence scalars of a step come from two stacked arrays."""

    name = "uoro"
    stochastic = True
    window = 32         # steps kept as rank-one terms before theta^ is written out
    alpha_bound = 1e8   # alpha outside [1 / bound, bound]: folded back into v and T

    def _reset(self):
        R, B, H = self.draws, self.B, self.spec.hidden
        S, GH, L = self.spec.parts * H, self.spec.gates * H, self.window
        K, dt = self.layer.input_size + H + 2, self.dtype
        shape = (R, B, S, GH, L, K, np.dtype(dt))
        if getattr(self, "_shape", None) != shape:       # a new problem: new arrays, else reused
            self._shape = shape
            self._hist = np.zeros((L + 1, (1 + R) * B, S), dtype=dt)    # slot l: [s; v] entering kept step l
            self._dgi = np.zeros((R, B, L, GH), dtype=dt)                # the kept steps' factors, row l
            self._dgh = self._dgi if self.spec.shared else np.zeros((R, B, L, GH), dtype=dt)
            self._u = np.ones((B, L, K), dtype=dt)                       # [x_t, 1, h_{t-1}, 1] (the ones stay)
            self._f = np.zeros((R, B, L), dtype=dt)
            self._dh = np.zeros((L, B, H), dtype=dt)      # dL_t/dh_t (the learn calls' sum), zero once used
            # [N, ||nu||^2 | ||J v||^2, ||w_t||^2 | alpha's margins b^4 - alpha^-4, alpha^-4 - b^-4]
            self._q = np.zeros((6, R, B), dtype=dt)
            self._r = np.zeros((2, R, B), dtype=dt)      # [alpha_t^-4, rho1_t^-4] (the first kept across steps)
            self._zero = np.zeros((), dtype=dt)
            q = self._q
            self._qviews = (q[2, ..., None, None], q[3], q[4], q[5], q[:2], q[2:4], self._r[0],
                            np.empty_like(self._r))
            self._slots = [None] * L                      # views of kept step n's arrays (``_slot``)
            self._d = np.empty((R, B), dtype=dt)
            self._n = 0
        self._limits = (np.asarray(self.alpha_bound ** 4, dtype=dt),   # on alpha^-4
                        np.asarray(self.alpha_bound ** -4, dtype=dt))
        self._hist[0, B:] = 0.0                           # v_0 = 0
        self._dh[:self._n] = 0.0                          # rows a sequence left unused (the rest are zero once used)
        self._q[...] = 0.0
        self._q[1] = S
        self._r[0] = 1.0                                  # alpha = 1
        self.N = self._q[0]                               # ||theta^||^2 (a view)
        self.T = None                                     # (R, B, G H, K), or None while zero
        self._n = 0                                       # kept steps
        self._plain = self.spec.kind == "rnn" and self.spec.leak == 1.0
        if not hasattr(self, "_nu"):
            self._nu = SignStream(self.rng, self.window, dt)   # drawn ahead, kept across sequences
        self._pending = False                             # learning signals not yet in the gradient
        self._flush = False

    def _forward(self, x_t):
        if self._flush or self._n == self._hist.shape[0] - 1:
            self._write_out()
        B, H = self.B, self.spec.hidden
        slot = self._hist[self._n]
        slot[:B] = self.state
        hW = slot[:, :H] @ self.params["weight_hh_l0"].T                  # ((1 + R) B, G H)
        self._vW = hW[B:].reshape(self.draws, B, -1)                        # v_{t-1}[h] W_hh^T
        return step_forward(self.spec, self.params, x_t, self.state, hW=hW[:B])

    def _slot(self, n):
        """Views of what kept step n reads and writes, made once per problem (the arrays are reused):
        at n ~ 100 making them at every step took ~5% of it."""
        R, B, I, Ki = self.draws, self.B, self.layer.input_size, self.layer.input_size + 1
        v = self._hist[n + 1, B:].reshape(R, B, -1)
        dgi, u = self._dgi[:, :, n], self._u[:, n]
        Dd = np.empty((R, B, n + 1, 1), dtype=self.dtype)        # dgi_l . dgi_t and u_l . u_t for l <= n
        Du = np.empty((B, n + 1, 1), dtype=self.dtype)
        P = np.empty((R, B, n + 1), dtype=self.dtype)
        cross = np.empty((R, B, 1, 1), dtype=self.dtype)
        return (v, v[..., None, :], v[..., None], dgi, dgi[..., None], self._dgi[:, :, :n + 1], u, u[:, :I],
                u[:, Ki:-1], u[..., None], self._u[:, :n + 1], Dd, Dd[..., 0], Du, Du[..., 0], P, P[..., n],
                P[..., None, :n], self._f[..., n], self._f[..., n, None], self._f[..., :n, None], cross,
                cross[..., 0, 0])

    def _advance(self, sv, state):
        spec, n, q, r, qv = self.spec, self._n, self._q, self._r, self._qviews
        (v, v_row, v_col, dgi_row, dgi_col, dgi_kept, u, u_x, u_h, u_col, u_kept, Dd, Dd_, Du, Du_, P, w2,
         P_kept, f, f_col, f_kept, cross4, cross) = self._slots[n] or self._make_slot(n)
        nu = self._nu.next(v.shape)
        if self._plain:     # J_t v = f'(z) (v W_hh^T) and dgi = f'(z) nu (into the kept row): two calls
            fp = sv["fp"]
            np.multiply(fp, self._vW, out=v)
            dgi = dgh = np.multiply(fp, nu, out=dgi_row)                         # (R, B, G H)
        else:               # J_t v_{t-1}: the network path's product came with the step's
            H, B = spec.hidden, self.B
            vp = self._hist[n, B:].reshape(v.shape)
            v[...] = local_jvp(spec, sv, None, self._vW, vp[..., :H], vp[..., H:] if spec.parts == 2 else None)
            dgi, dgh, _, _ = local_vjp(spec, sv, nu)
            dgi_row[...] = dgi
            if not spec.shared:
                self._dgh[:, :, n] = dgh
        u_x[...] = sv["x"]
        u_h[...] = sv["h_prev"]
        # <w_l, w_t> for the kept steps l and t itself (last), (R, B, n + 1): products of inner products
        np.matmul(dgi_kept, dgi_col, out=Dd)
        if spec.shared:
            np.matmul(u_kept, u_col, out=Du)
            np.multiply(Dd_, Du_, out=P)
        else:
            Ki = self.layer.input_size + 1
            P[...] = (Dd_ * np.matmul(u_kept[..., :Ki], u_col[:, :Ki])[..., 0]
                      + np.matmul(self._dgh[:, :, :n + 1], dgh[..., None])[..., 0]
                      * np.matmul(u_kept[..., Ki:], u_col[:, Ki:])[..., 0])
        # r = [N / ||J v||^2, ||nu||^2 / ||w_t||^2] = [alpha_t^-4, rho1^-4]; one reduction checks every
        # norm for a zero and alpha_{t-1} for its bounds
        q_vv, q_ww, q_hi, q_lo, q_num, q_den, ra, rt = qv
        np.matmul(v_row, v_col, out=q_vv)
        q_ww[...] = w2
        np.subtract(self._limits[0], ra, out=q_hi)
        np.subtract(ra, self._limits[1], out=q_lo)
        if q.min() > 0:     # the usual case
            np.divide(q_num, q_den, out=r)
        else:               # a zero norm: that rho is 1 (alpha unchanged; rho1^-4 = 1); alpha far from 1: fold
            ok = (q_num > 0) & (q_den > 0)
            r[1] = 1.0
            np.divide(q_num, q_den, out=r, where=ok)
            self._flush = self._flush or bool((q[4:] <= 0).any())
        np.sqrt(r, out=rt)                    # f = (alpha^-4 rho1^-4)^(1/4) in two roots: no overflow
        np.multiply(rt[0], rt[1], out=f)
        np.sqrt(f, out=f)
        # N <- ||theta^_{t-1} + f w_t||^2 = N + f (2 <theta^_{t-1}, w_t> + f <w_t, w_t>)
        np.matmul(P_kept, f_kept, out=cross4)
        if self.T is not None:
            cross += self._inner_T(dgi, dgh, u)
        d = np.multiply(f, w2, out=self._d)
        d += cross
        d += cross
        d *= f
        self.N += d
        np.maximum(self.N, self._zero, out=self.N)
        v += nu / f_col
        self._n = n + 1

    def _make_slot(self, n):
        self._slots[n] = self._slot(n)
        return self._slots[n]

    def _inner_T(self, dgi, dgh, u):
        """<T, w_t> for w_t = [dgi (x) u^i, dgh (x) u^h], (R, B)."""
        if self.spec.shared:
            return np.einsum("rbk,rbk->rb", dgi, np.matmul(self.T, u[:, :, None])[..., 0])
        Ki = self.layer.input_size + 1
        Tui = np.matmul(self.T[..., :Ki], u[:, :Ki, None])[..., 0]                # (R, B, G H)
        Tuh = np.matmul(self.T[..., Ki:], u[:, Ki:, None])[..., 0]
        return np.einsum("rbk,rbk->rb", dgi, Tui) + np.einsum("rbk,rbk->rb", dgh, Tuh)

    def _learn(self, dh_t):
        # c_t = dL_t/dh_t . v_t[h] weighs T and every kept term: formed at the next _accumulate. Before
        # the first step v = 0, and there is nothing to weigh.
        if self._n:
            self._dh[self._n - 1] += dh_t
            self._pending = True

    def _grads(self):
        self._accumulate()
        self._flush = self._n > 0
        return super()._grads()

    def _accumulate(self):
        """Add sum_t c_t theta^_t of the learning signals since the last call to the accumulator: the
        weights on T and on each kept w_s, then the products."""
        if not self._pending:
            return
        R, B, n = self.draws, self.B, self._n
        G, H, Ki = self.spec.gates, self.spec.hidden, self.layer.input_size + 1
        v = self._hist[1:n + 1, B:, :H].reshape(n, R, B, H)                     # v_t of kept step l: slot l + 1
        dh = self._dh[:n]
        c = np.einsum("lrbh,lbh->rbl", v, dh)                                     # (R, B, n)
        dh[...] = 0.0
        # the weight of kept term s: the c_t of the steps t >= s; T's: all of them. In C order: a product
        # with the reversed view's strides is not one BLAS could take (numpy's own loop: 100x slower)
        coef = np.cumsum(c[..., ::-1], axis=-1)[..., ::-1].copy()
        U = self._u[:, :n].reshape(B * n, -1)                                      # (B n, K)
        w = (coef * self._f[..., :n])[..., None]                                   # (R, B, n, 1)
        Ci = (w * self._dgi[:, :, :n]).transpose(0, 3, 1, 2).reshape(R, G * H, B * n)
        if self.spec.shared:
            g = np.matmul(Ci, U)                                                   # (R, G H, K)
        else:
            Ch = (w * self._dgh[:, :, :n]).transpose(0, 3, 1, 2).reshape(R, G * H, B * n)
            g = np.concatenate([np.matmul(Ci, U[:, :Ki]), np.matmul(Ch, U[:, Ki:])], axis=-1)
        if self.T is not None:
            g += np.matmul(coef[:, None, :, 0], self.T.reshape(R, B, -1)).reshape(g.shape)
        self._pending = False
        g = g.reshape(R, G, H, -1)
        self._gi += g[..., :Ki]
        self._gh += g[..., Ki:]

    def _write_out(self):
        """T <- T + sum_s f_s w_s (the learning signals' gradient first), N recomputed from it; alpha
        folded into T and v when it has left its bounds; forget the kept steps (the last one's
        [s; v] moves to slot 0)."""
        self._accumulate()
        n, B = self._n, self.B
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
            self._hist[0] = self._hist[n]
            self._n = 0
        if self.T is not None:
            ra = self._r[0]
            if ra.max() > self._limits[0] or ra.min() < self._limits[1]:
                alpha = ra ** -0.25                                                 # (R, B)
                self.T *= alpha[..., None, None]
                self._hist[0, B:] /= alpha.reshape(-1, 1)
                ra[...] = 1.0
            T2 = self.T.reshape(self.T.shape[0], self.T.shape[1], -1)
            np.einsum("rbk,rbk->rb", T2, T2, out=self.N)
        self._flush = False
