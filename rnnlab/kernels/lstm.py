"""The LSTM's elementwise work as compiled kernels: one step forward, the per-step factors, one step
backward. The equations and the cache's fields are ``rnnlab.layers.lstm``'s (gate order i, f, g, o):

    [i, f, g, o] = [sigma, sigma, tanh, sigma](gi_t + W_hh h_{t-1})
    c_t = f c_{t-1} + i g,   h_t = o tanh(c_t)

Each kernel walks the batch row by row and, within a row, writes one output per loop over j < H, each
gate a slice of its own (``g_i = g[:H]``, ...): a loop that writes one array and reads a few others is
one the compiler vectorises (it checks once, before the loop, that they do not overlap). Two things make
it give up and run the loop a number at a time: many written arrays, and one array read and written at
offsets it cannot compare (``g[2H + j]`` against ``g[j]`` with H known only at run time: in make
bench's layer parts the GRU's forward loop took 27.1 ms that way, 20.3 with the slices). A row's arrays
(4 H numbers) stay in the first-level cache between the loops.
"""
from __future__ import annotations

from numba import njit

from .expf import JIT, fexp, ftanh


@njit(**JIT)
def forward_step(t, gi, a_h, gates, cs, tanh_c, hs):
    """Step t: gates[t] <- activated i, f, g, o of gi[t] + a_h; cs[t + 1], tanh_c[t], hs[t + 1].

    gi, gates: (T, B, 4H); a_h: (B, 4H) = h_{t-1} W_hh^T (of m h_{t-1} under recurrent dropout); cs, hs:
    (T + 1, B, H); tanh_c: (T, B, H)."""
    B, H = a_h.shape[0], cs.shape[2]
    one = gi.dtype.type(1)
    for b in range(B):
        x, a, g = gi[t, b], a_h[b], gates[t, b]
        xi, xf, xg, xo = x[:H], x[H:2 * H], x[2 * H:3 * H], x[3 * H:]
        ai, af, ag, ao = a[:H], a[H:2 * H], a[2 * H:3 * H], a[3 * H:]
        i, f, gg, o = g[:H], g[H:2 * H], g[2 * H:3 * H], g[3 * H:]
        for j in range(H):
            i[j] = one / (one + fexp(-(xi[j] + ai[j])))
        for j in range(H):
            f[j] = one / (one + fexp(-(xf[j] + af[j])))
        for j in range(H):
            gg[j] = ftanh(xg[j] + ag[j])
        for j in range(H):
            o[j] = one / (one + fexp(-(xo[j] + ao[j])))
        c_prev, c = cs[t, b], cs[t + 1, b]
        for j in range(H):
            c[j] = f[j] * c_prev[j] + i[j] * gg[j]                                 # c_t = f c_{t-1} + i g
        tc = tanh_c[t, b]
        for j in range(H):
            tc[j] = ftanh(c[j])
        h = hs[t + 1, b]
        for j in range(H):
            h[j] = o[j] * tc[j]                                                     # h_t = o tanh(c_t)


@njit(**JIT)
def factors(gates, cs, tanh_c, coef, oc):
    """coef[t] = [g i(1-i), c_{t-1} f(1-f), i (1-g^2), tanh(c_t) o(1-o)] (T, B, 4, H) and oc[t] =
    o (1 - tanh(c_t)^2) (T, B, H), for every step."""
    T, B, H = tanh_c.shape
    one = gates.dtype.type(1)
    for t in range(T):
        for b in range(B):
            a, c_prev, tc, k, o_c = gates[t, b], cs[t, b], tanh_c[t, b], coef[t, b], oc[t, b]
            i, f, g, o = a[:H], a[H:2 * H], a[2 * H:3 * H], a[3 * H:]
            k0, k1, k2, k3 = k[0], k[1], k[2], k[3]
            for j in range(H):
                k0[j] = g[j] * i[j] * (one - i[j])
            for j in range(H):
                k1[j] = c_prev[j] * f[j] * (one - f[j])
            for j in range(H):
                k2[j] = i[j] * (one - g[j] * g[j])
            for j in range(H):
                k3[j] = tc[j] * o[j] * (one - o[j])
            for j in range(H):
                o_c[j] = o[j] * (one - tc[j] * tc[j])


@njit(**JIT)
def backward_step(t, dh, dc, gates, cs, tanh_c, da):
    """Step t backward: dc (B, H), dL/dc_t on entry, becomes dL/dc_{t-1}; da (B, 4H) receives the
    pre-activation gradients; dh (B, H) is read only. The factors of ``factors`` are formed here, from
    the forward's gates, c_{t-1} and tanh(c_t), in the same order of operations:

        dc~ = dc + dh o (1 - tanh(c_t)^2)
        da = [dc~ g i(1-i), dc~ c_{t-1} f(1-f), dc~ i (1-g^2), dh tanh(c_t) o(1-o)];  dc_{t-1} = dc~ f"""
    B, H = dh.shape
    one = dh.dtype.type(1)
    for b in range(B):
        d_h, d_c, out = dh[b], dc[b], da[b]
        a, c_prev, tc = gates[t, b], cs[t, b], tanh_c[t, b]
        i, f, g, o = a[:H], a[H:2 * H], a[2 * H:3 * H], a[3 * H:]
        di, df, dg, do = out[:H], out[H:2 * H], out[2 * H:3 * H], out[3 * H:]
        for j in range(H):
            d_c[j] += d_h[j] * (o[j] * (one - tc[j] * tc[j]))
        for j in range(H):
            di[j] = d_c[j] * (g[j] * i[j] * (one - i[j]))
        for j in range(H):
            df[j] = d_c[j] * (c_prev[j] * f[j] * (one - f[j]))
        for j in range(H):
            dg[j] = d_c[j] * (i[j] * (one - g[j] * g[j]))
        for j in range(H):
            do[j] = d_h[j] * (tc[j] * o[j] * (one - o[j]))
        for j in range(H):
            d_c[j] *= f[j]
