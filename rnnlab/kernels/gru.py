"""The GRU's elementwise work as compiled kernels: one step forward, the per-step factors, one step
backward. The equations and the cache's fields are ``rnnlab.layers.gru``'s (gate order r, z, n):

    r = sigma(gi_r + gh_r),  z = sigma(gi_z + gh_z),  ghn = gh_n + b_hn,  n = tanh(gi_n + r ghn)
    h_t = (1 - z) n + z h_{t-1} = n + z (h_{t-1} - n)

where gi holds b_ih and the r, z parts of b_hh (``GRUCell.input_bias``) and gh = h_{t-1} W_hh^T.
One output array per loop over j < H, each gate a slice of its own, a row of the batch at a time (why:
``rnnlab.kernels.lstm``).
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
        xr, xz, xn = x[:H], x[H:2 * H], x[2 * H:]
        yr, yz, yn = y[:H], y[H:2 * H], y[2 * H:]
        r, z, n = g[:H], g[H:2 * H], g[2 * H:]
        for j in range(H):
            r[j] = one / (one + fexp(-(xr[j] + yr[j])))
        for j in range(H):
            z[j] = one / (one + fexp(-(xz[j] + yz[j])))
        q = ghn[t, b]
        for j in range(H):
            q[j] = yn[j] + b_hn[j]
        for j in range(H):
            n[j] = ftanh(xn[j] + r[j] * q[j])
        h_prev, h = hs[t, b], hs[t + 1, b]
        for j in range(H):
            h[j] = n[j] + z[j] * (h_prev[j] - n[j])


@njit(**JIT)
def factors(gates, hs, ghn, coef):
    """coef[t] = [(1 - z)(1 - n^2) ghn r(1 - r), (h_{t-1} - n) z(1 - z), (1 - z)(1 - n^2)] (T, B, 3, H),
    for every step."""
    T, B, H = ghn.shape
    one = gates.dtype.type(1)
    for t in range(T):
        for b in range(B):
            a, h_prev, q, k = gates[t, b], hs[t, b], ghn[t, b], coef[t, b]
            r, z, n = a[:H], a[H:2 * H], a[2 * H:]
            kr, kz, kn = k[0], k[1], k[2]
            for j in range(H):
                kn[j] = (one - n[j] * n[j]) * (one - z[j])
            for j in range(H):
                kz[j] = (h_prev[j] - n[j]) * z[j] * (one - z[j])
            for j in range(H):
                kr[j] = kn[j] * q[j] * r[j] * (one - r[j])


@njit(**JIT)
def backward_step(t, dh, gates, hs, ghn, dgi, dgh, dh_local):
    """Step t backward: dgi, dgh (B, 3H) receive the input and recurrent pre-activation gradients,
    dh_local (B, H) the direct path dh z to h_{t-1}; dh (B, H) is read only. The factors of ``factors``
    are formed here, from the forward's gates, h_{t-1} and ghn, in the same order of operations:

        dn~ = dh (1 - n^2)(1 - z);  dz~ = dh (h_{t-1} - n) z (1 - z);  dr~ = dh (1 - n^2)(1 - z) ghn r (1 - r)
        dgi = [dr~, dz~, dn~];  dgh = [dr~, dz~, dn~ r];  dh_local = dh z"""
    B, H = dh.shape
    one = dh.dtype.type(1)
    for b in range(B):
        d, a, h_prev, q, loc = dh[b], gates[t, b], hs[t, b], ghn[t, b], dh_local[b]
        r, z, n = a[:H], a[H:2 * H], a[2 * H:]
        ir, iz, in_ = dgi[b][:H], dgi[b][H:2 * H], dgi[b][2 * H:]
        hr, hz, hn = dgh[b][:H], dgh[b][H:2 * H], dgh[b][2 * H:]
        for j in range(H):
            in_[j] = d[j] * ((one - n[j] * n[j]) * (one - z[j]))
        for j in range(H):
            iz[j] = d[j] * ((h_prev[j] - n[j]) * z[j] * (one - z[j]))
        for j in range(H):
            ir[j] = d[j] * ((one - n[j] * n[j]) * (one - z[j]) * q[j] * r[j] * (one - r[j]))
        for j in range(H):
            hr[j] = ir[j]
        for j in range(H):
            hz[j] = iz[j]
        for j in range(H):
            hn[j] = in_[j] * r[j]
        for j in range(H):
            loc[j] = d[j] * z[j]
