"""Spectral norm of the state Jacobian across d steps, averaged over positions.

    P_{t,d} = ds_t / ds_{t-d} = J_t J_{t-1} ... J_{t-d+1},      ||P_{t,d}||_2 = its largest singular value

(s = h, or (h, c) for LSTM, so that P is the Jacobian of the whole recurrent map). P_{t,0} = I.
For a plain RNN the tutorial's bound is ||P_{t,d}|| <= (max f' ||W_hh||)^d (``weights.jacobian_bound``).

Two methods, chosen by ``method="auto"`` from the state size S:

- ``exact`` (S <= EXACT_MAX_STATE = 32): the rows of every P_{t,d} are built by a lag sweep that starts
  from the S basis vectors at each end position (S VJP rows per position and distance, batched), then a
  batched SVD. Cost ~ positions * S * D step-VJPs plus the SVDs.
- ``power``: power iteration on P^T P with the JVP (P v: d forward-mode steps) and the VJP (P^T u: d
  backward steps), for every (position, distance) pair at once; a pair stops when its estimate changes by
  less than ``tol`` (relative). Cost ~ positions * sum(d) * 2 step products per iteration; pass a sparse
  ``distances`` grid (``power_distances``) to keep it small for long distances. The estimate ||P v|| is a
  lower bound that converges like (sigma_2/sigma_1)^(2 n): when the top singular values nearly coincide
  (e.g. a saturated LSTM whose units all pass the cell state alike) it stays below sigma_1 by up to the
  gap between them, which is small in that very case.

Positions: end steps t (``ends``, evenly spaced over the sequence) times batch columns (``batch``). At
distance d the mean is over the positions whose sequence reaches d steps back (t + 1 >= d).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .distance import lag_sweep
from .steps import state_jvp, state_size, state_vjp

EXACT_MAX_STATE = 32


@dataclass
class JacobianProfile:
    distance: np.ndarray        # (D+1,) 0..D
    norm: np.ndarray            # (D+1,) mean over positions of ||ds_t/ds_{t-d}||_2; nan where not measured
    per_position: np.ndarray    # (D+1, n_ends, n_batch) the individual norms; nan where not measured
    ends: np.ndarray            # (n_ends,) the end steps t used
    batch: np.ndarray           # (n_batch,) the batch columns used
    method: str                 # "exact" or "power"


def spread(n: int, k: int | None) -> np.ndarray:
    """At most k indices evenly spread over 0..n-1 (all of them for k None), always including n-1."""
    if k is None or k >= n:
        return np.arange(n)
    return np.unique(np.round(np.linspace(n - 1, 0, k)).astype(np.int64))


def power_distances(max_distance: int, dense: int = 10, ratio: float = 1.25) -> np.ndarray:
    """Every distance up to ``dense``, then a geometric grid (ratio ``ratio``) up to ``max_distance``."""
    out = list(range(0, min(dense, max_distance) + 1))
    d = float(out[-1])
    while out[-1] < max_distance:
        d *= ratio
        out.append(min(max_distance, max(out[-1] + 1, int(round(d)))))
    return np.asarray(out, dtype=np.int64)


def _subcache(cache, cols):
    return {k: v[:, cols] for k, v in cache.items() if k != "x"}


def jacobian_norms(cell, cache, W_hh, max_distance: int, method: str = "auto", ends=None, batch=None,
                   distances=None, tol: float = 1e-4, max_iter: int = 100, seed: int = 0) -> JacobianProfile:
    """Spectral norms of ds_t/ds_{t-d} for d = 0..max_distance, for one layer.

    Args:
        cell, cache, W_hh: one layer's cell, forward cache, recurrent weights (G H, H).
        max_distance: D.
        method: "exact", "power" or "auto" (exact when the state size S <= EXACT_MAX_STATE).
        ends: end steps t to average over (default: all); batch: batch columns (default: all).
        distances: (power only) which d to measure (default: all 0..D); others are nan.
        tol, max_iter, seed: power iteration's relative stopping tolerance, iteration cap, start vectors.
    """
    T, B = cache["hs"].shape[0] - 1, cache["hs"].shape[1]
    H = cache["hs"].shape[2]
    S = state_size(cell, H)
    if method == "auto":
        method = "exact" if S <= EXACT_MAX_STATE else "power"
    if method not in ("exact", "power"):
        raise ConfigError(f"unknown Jacobian method {method!r}; choose exact, power or auto")
    D = int(max_distance)
    ends = np.arange(T) if ends is None else np.asarray(ends, dtype=np.int64)
    batch = np.arange(B) if batch is None else np.asarray(batch, dtype=np.int64)
    sub = _subcache(cache, batch)
    per = np.full((D + 1, len(ends), len(batch)), np.nan)
    per[0] = 1.0
    if method == "exact":
        _exact(cell, sub, W_hh, ends, S, D, per)
    else:
        ds = np.arange(1, D + 1) if distances is None else np.asarray(distances, dtype=np.int64)
        ds = ds[(ds >= 1) & (ds <= D)]
        _power(cell, sub, W_hh, ends, S, ds, per, tol, max_iter, np.random.default_rng(seed))
    with np.errstate(invalid="ignore"):
        counts = np.sum(~np.isnan(per), axis=(1, 2))
        mean = np.where(counts > 0, np.nansum(per, axis=(1, 2)) / np.maximum(counts, 1), np.nan)
    return JacobianProfile(np.arange(D + 1), mean, per, ends, batch, method)


def _exact(cell, cache, W_hh, ends, S, D, per):
    """Rows of P_{t,d} from a lag sweep started at the basis vectors; norms by batched SVD."""
    B = cache["hs"].shape[1]
    H = cache["hs"].shape[2]
    M = len(ends) * S
    dt = cache["hs"].dtype
    eye = np.eye(S, dtype=dt)
    basis = np.broadcast_to(eye[None, :, None, :], (len(ends), S, B, S)).reshape(M, B, S)
    uh0 = np.ascontiguousarray(basis[..., :H])
    uc0 = np.ascontiguousarray(basis[..., H:]) if cell.has_cell_state else None
    for lag in lag_sweep(cell, cache, W_hh, np.repeat(ends, S), uh0, uc0, D):
        if lag.d == 0:
            continue
        rows = lag.uh if lag.uc is None else np.concatenate([lag.uh, lag.uc], axis=-1)
        m = len(lag.rows) // S
        A = rows.reshape(m, S, B, S).transpose(0, 2, 1, 3)              # (m, B, S, S): A[k] = e_k^T P
        per[lag.d, lag.rows[::S] // S] = np.linalg.svd(A.astype(np.float64), compute_uv=False)[..., 0]


def _split(v, H, lstm):
    return (v[..., :H], v[..., H:]) if lstm else (v, None)


def _power(cell, cache, W_hh, ends, S, ds, per, tol, max_iter, rng):
    """Power iteration on P^T P for every (end, distance) pair, JVP forward and VJP back."""
    B, H = cache["hs"].shape[1], cache["hs"].shape[2]
    lstm = cell.has_cell_state
    dt = cache["hs"].dtype
    # one row per (end t, distance d) with t + 1 - d >= 0, longest distance first (prefix slices below)
    t_idx, d_idx = np.meshgrid(np.arange(len(ends)), ds, indexing="ij")
    t_idx, d_idx = t_idx.ravel(), d_idx.ravel()
    keep = ends[t_idx] + 1 - d_idx >= 0
    order = np.argsort(-d_idx[keep], kind="stable")
    t_idx, d_idx = t_idx[keep][order], d_idx[keep][order]
    t_end = ends[t_idx]
    v = rng.standard_normal((len(t_idx), B, S)).astype(dt)
    v /= np.linalg.norm(v, axis=-1, keepdims=True)
    sigma = np.zeros((len(t_idx), B))
    alive = np.arange(len(t_idx))
    for _ in range(max_iter):
        if not len(alive):
            break
        d_a, t_a = d_idx[alive], t_end[alive]
        n_at = [int(np.sum(d_a > r)) for r in range(int(d_a.max()))]   # rows still stepping at round r
        # u = P v: forward through steps t-d+1 .. t
        vh, vc = _split(v[alive].copy(), H, lstm)
        vh, vc = vh.copy(), (None if vc is None else vc.copy())
        for r, n in enumerate(n_at):
            steps = t_a[:n] - d_a[:n] + 1 + r
            vh[:n], c = state_jvp(cell, cache, W_hh, steps, vh[:n], None if vc is None else vc[:n])
            if lstm:
                vc[:n] = c
        new = np.sqrt(np.sum(vh * vh, -1, dtype=np.float64)
                      + (0.0 if vc is None else np.sum(vc * vc, -1, dtype=np.float64)))   # (m, B)
        # w = P^T u: back through steps t .. t-d+1
        for r, n in enumerate(n_at):
            vh[:n], c, _ = state_vjp(cell, cache, W_hh, t_a[:n] - r, vh[:n], None if vc is None else vc[:n])
            if lstm:
                vc[:n] = c
        w = vh if vc is None else np.concatenate([vh, vc], axis=-1)
        wn = np.linalg.norm(w, axis=-1, keepdims=True)
        v[alive] = np.where(wn > 0, w / np.where(wn > 0, wn, 1), 0)
        done = np.all(np.abs(new - sigma[alive]) <= tol * new, axis=1) | np.all(wn[..., 0] == 0, axis=1)
        sigma[alive] = new
        alive = alive[~done]
    per[d_idx, t_idx] = sigma
