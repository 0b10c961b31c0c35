"""The GRU's elementwise work as compiled kernels: one step forward, the per-step factors, one step
backward. The equations and the cache's fields are ``rnnlab.layers.gru``'s (gate order r, z, n):

    r = sigma(gi_r + gh_r),  z = sigma(gi_z + gh_z),  ghn = gh_n + b_hn,  n = tanh(gi_n + r ghn)
    h_t = (1 - z) n + z h_{t-1} = n + z (h_{t-1} - n)

where gi holds b_ih and the r, z parts of b_hh (``GRUCell.input_bias``) and gh = h_{t-1} W_hh^T.
One output array per loop, a row of the batch at a time (why: ``rnnlab.kernels.lstm``).
"""
from __future__ import annotations

from numba import njit

from .expf import JIT, fexp, ftanh


@njit(**JIT)
def forward_step(t, gi, gh, b_hn, gates, ghn, hs):
    """Step t: gates[t] <- r, z, n; ghn[t] <- W_hn h_{t-1} + b_hn; hs[t + 1] <- h_t.

    gi, gates: (T, B, 3H); gh: (B, 3H) = h_{t-1} W_hh^T (of m h_{t-1} under recurrent dropout); b_hn: (H,);
    ghn: (T, B, H); hs: (T + 1, B, H)."""
    B, H = gh.shape[0], hs.shape[2]
    one = gi.dtype.type(1)
    for b in range(B):
        x, y, g = gi[t, b], gh[b], gates[t, b]
        for j in range(2 * H):
            g[j] = one / (one + fexp(-(x[j] + y[j])))                              # r, z
        q = ghn[t, b]
        for j in range(H):
            q[j] = y[2 * H + j] + b_hn[j]
        for j in range(H):
            g[2 * H + j] = ftanh(x[2 * H + j] + g[j] * q[j])                       # n
        h_prev, h = hs[t, b], hs[t + 1, b]
        for j in range(H):
            h[j] = g[2 * H + j] + g[H + j] * (h_prev[j] - g[2 * H + j])


@njit(**JIT)
def factors(gates, hs, ghn, coef):
    """coef[t] = [(1 - z)(1 - n^2) ghn r(1 - r), (h_{t-1} - n) z(1 - z), (1 - z)(1 - n^2)] (T, B, 3, H),
    for every step."""
    T, B, H = ghn.shape
    one = gates.dtype.type(1)
    for t in range(T):
        for b in range(B):
            a, h_prev, q, k = gates[t, b], hs[t, b], ghn[t, b], coef[t, b]
            kr, kz, kn = k[0], k[1], k[2]
            for j in range(H):
                kn[j] = (one - a[2 * H + j] * a[2 * H + j]) * (one - a[H + j])
            for j in range(H):
                kz[j] = (h_prev[j] - a[2 * H + j]) * a[H + j] * (one - a[H + j])
            for j in range(H):
                kr[j] = kn[j] * q[j] * a[j] * (one - a[j])


@njit(**JIT)
def backward_step(t, dh, gates, coef, dgi, dgh, dh_local):
    """Step t backward: dgi, dgh (B, 3H) receive the input and recurrent pre-activation gradients,
    dh_local (B, H) the direct path dh z to h_{t-1}; dh (B, H) is read only.

        dgi = [dh coef_r, dh coef_z, dh coef_n];  dgh = [dgi_r, dgi_z, dgi_n r];  dh_local = dh z"""
    B, H = dh.shape
    for b in range(B):
        d, k, a, gi_, gh_, loc = dh[b], coef[t, b], gates[t, b], dgi[b], dgh[b], dh_local[b]
        kr, kz, kn = k[0], k[1], k[2]
        for j in range(H):
            gi_[j] = d[j] * kr[j]
        for j in range(H):
            gi_[H + j] = d[j] * kz[j]
        for j in range(H):
            gi_[2 * H + j] = d[j] * kn[j]
        for j in range(2 * H):
            gh_[j] = gi_[j]
        for j in range(H):
            gh_[2 * H + j] = gi_[2 * H + j] * a[j]
        for j in range(H):
            loc[j] = d[j] * a[H + j]
