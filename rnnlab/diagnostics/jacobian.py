"""Spectral norm of the state Jacobian across d steps, averaged over positions.

    P_{t,d} = ds_t / ds_{t-d} = J_t J_{t-1} ... J_{t-d+1},      ||P_{t,d}||_2 = its largest singular value

(s = h, or (h, c) for LSTM, so that P is the Jacobian of the whole recurrent map). P_{t,0} = I.
For a plain RNN the tutorial's bound is ||P_{t,d}|| <= (max f' ||W_hh||)^d (``weights.jacobian_bound``).

Methods, ``method="auto"`` choosing by the state size S:

- ``exact`` (auto when S <= EXACT_MAX_STATE = 32): the rows of every P_{t,d} are built by a lag sweep
  started from the S basis vectors at each end position (S VJP rows per position and distance, batched),
  then a batched SVD. Cost ~ positions * S * D step-VJPs plus the SVDs.
- ``lanczos`` (auto for larger S): Golub-Kahan-Lanczos bidiagonalisation, the Krylov refinement of power
  iteration, with the same two products: P v by Jacobian-vector products (d forward-mode steps) and
  P^T u by vector-Jacobian products (d backward steps), for every (position, distance) pair at once. It
  converges in a few steps even when the top singular values nearly coincide (k = S steps are exact).
- ``power``: plain power iteration on P^T P with the same products (kept as the textbook method; its
  estimate ||P v|| converges like (sigma_2/sigma_1)^(2n), so slowly when they nearly coincide).

The iterative estimates are lower bounds that stop when they change by less than ``tol`` (relative); pass
a sparse ``distances`` grid (``power_distances``) to keep their cost, ~ positions * sum(d) * 2 step
products per iteration, small for long distances. All vectors are renormalised after every step (the
logarithm of the factors kept), so products of many contracting Jacobians never underflow.

Computed in float64 whatever the model's dtype (``steps.as_float64``). Positions: end steps t
(``ends``, evenly spaced over the sequence) times batch columns (``batch``). At distance d the mean is over
the positions whose sequence reaches d steps back (t + 1 >= d).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .distance import lag_sweep
from .steps import as_float64, state_jvp, state_size, state_vjp

EXACT_MAX_STATE = 32


@dataclass
class JacobianProfile:
    """Jacobian norms by distance d, ||ds_t/ds_{t-d}||_2, as ``jacobian_norms`` returns them (shapes at the
    fields; ``method`` is "exact", "lanczos" or "power")."""

    distance: np.ndarray        # (D+1,) 0..D
    norm: np.ndarray            # (D+1,) mean over positions of ||ds_t/ds_{t-d}||_2; nan where not measured
    per_position: np.ndarray    # (D+1, n_ends, n_batch) the individual norms; nan where not measured
    ends: np.ndarray            # (n_ends,) the end steps t used
    batch: np.ndarray           # (n_batch,) the batch columns used
    method: str                 # "exact" or "power"


def resolve_method(cell, hidden_size: int, method: str = "auto") -> str:
    """"auto" -> "exact" when the state size S <= EXACT_MAX_STATE, else "lanczos"; checks the name."""
    if method == "auto":
        return "exact" if state_size(cell, hidden_size) <= EXACT_MAX_STATE else "lanczos"
    if method not in ("exact", "power", "lanczos"):
        raise ConfigError(f"unknown Jacobian method {method!r}; choose exact, lanczos, power or auto")
    return method


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
    method = resolve_method(cell, H, method)
    D = int(max_distance)
    ends = np.arange(T) if ends is None else np.asarray(ends, dtype=np.int64)
    batch = np.arange(B) if batch is None else np.asarray(batch, dtype=np.int64)
    sub = as_float64(cache, batch)
    W_hh = np.asarray(W_hh, dtype=np.float64)
    per = np.full((D + 1, len(ends), len(batch)), np.nan)
    per[0] = 1.0
    if method == "exact":
        _exact(cell, sub, W_hh, ends, S, D, per)
    else:
        ds = np.arange(1, D + 1) if distances is None else np.asarray(distances, dtype=np.int64)
        ds = ds[(ds >= 1) & (ds <= D)]
        run = _power if method == "power" else _lanczos
        run(cell, sub, W_hh, ends, S, ds, per, tol, max_iter, np.random.default_rng(seed))
    with np.errstate(invalid="ignore"):
        counts = np.sum(~np.isnan(per), axis=(1, 2))
        mean = np.where(counts > 0, np.nansum(per, axis=(1, 2)) / np.maximum(counts, 1), np.nan)
    return JacobianProfile(np.arange(D + 1), mean, per, ends, batch, method)


def _exact(cell, cache, W_hh, ends, S, D, per):
    """Rows of P_{t,d} from a lag sweep started at the basis vectors; norms by batched SVD. Each
    position's rows are rescaled at every lag (the SVD is scale-equivariant) so that long products of
    contracting Jacobians never underflow; the scale is kept as a logarithm."""
    B = cache["hs"].shape[1]
    H = cache["hs"].shape[2]
    M = len(ends) * S
    dt = cache["hs"].dtype
    eye = np.eye(S, dtype=dt)
    basis = np.broadcast_to(eye[None, :, None, :], (len(ends), S, B, S)).reshape(M, B, S)
    uh0 = np.ascontiguousarray(basis[..., :H])
    uc0 = np.ascontiguousarray(basis[..., H:]) if cell.has_cell_state else None
    for lag in lag_sweep(cell, cache, W_hh, np.repeat(ends, S), uh0, uc0, D, rescale=S):
        if lag.d == 0:
            continue
        rows = lag.uh if lag.uc is None else np.concatenate([lag.uh, lag.uc], axis=-1)
        m = len(lag.rows) // S
        A = rows.reshape(m, S, B, S).transpose(0, 2, 1, 3)              # (m, B, S, S): A[k] = e_k^T P
        pos = lag.rows[::S] // S
        sv = np.linalg.svd(A.astype(np.float64), compute_uv=False)[..., 0]
        with np.errstate(divide="ignore"):
            per[lag.d, pos] = np.exp(np.log(sv) + lag.log_scale[::S])


def _split(v, H, lstm):
    return (v[..., :H], v[..., H:]) if lstm else (v, None)


def _normalise(vh, vc, n):
    """Divide rows [:n] by their state norm (per batch column) in place; returns the norms (n, B)."""
    sq = np.einsum("mbh,mbh->mb", vh[:n], vh[:n])
    if vc is not None:
        sq = sq + np.einsum("mbh,mbh->mb", vc[:n], vc[:n])
    norm = np.sqrt(sq)
    f = np.where(norm > 0, 1.0 / np.where(norm > 0, norm, 1.0), 0.0)[..., None]
    vh[:n] *= f
    if vc is not None:
        vc[:n] *= f
    return norm


class _Chains:
    """The (end t, distance d) rows of the iterative methods and their two products, batched:
    ``forward(v)`` = P v (JVP through steps t-d+1 .. t), ``backward(u)`` = P^T u (VJP through t .. t-d+1).
    Vectors are (m, B, S). Both return (direction, log norm (m, B)): the vector is renormalised after
    every step, so products of many contracting Jacobians never underflow."""

    def __init__(self, cell, cache, W_hh, ends, ds):
        self.cell, self.cache, self.W = cell, cache, W_hh
        self.H = cache["hs"].shape[2]
        self.lstm = cell.has_cell_state
        t_idx, d_idx = np.meshgrid(np.arange(len(ends)), ds, indexing="ij")
        t_idx, d_idx = t_idx.ravel(), d_idx.ravel()
        keep = ends[t_idx] + 1 - d_idx >= 0
        order = np.argsort(-d_idx[keep], kind="stable")           # longest first: prefix slices per round
        self.t_idx, self.d_idx = t_idx[keep][order], d_idx[keep][order]
        self.t_end = ends[self.t_idx]

    def _run(self, v, jvp, rows):
        H = self.H
        vh = v[..., :H].copy()                                      # the chain works in place
        vc = v[..., H:].copy() if self.lstm else None
        log_norm = np.zeros(v.shape[:2])
        t, d = self.t_end[rows], self.d_idx[rows]                   # still sorted by d, longest first
        n_at = [int(np.sum(d > r)) for r in range(int(d.max(initial=0)))]
        for r, n in enumerate(n_at):
            cn = None if vc is None else vc[:n]
            if jvp:
                vh[:n], c = state_jvp(self.cell, self.cache, self.W, t[:n] - d[:n] + 1 + r, vh[:n], cn)
            else:
                vh[:n], c, _dgh = state_vjp(self.cell, self.cache, self.W, t[:n] - r, vh[:n], cn)
            if vc is not None:
                vc[:n] = c
            with np.errstate(divide="ignore"):
                log_norm[:n] += np.log(_normalise(vh, vc, n))
        return (vh if vc is None else np.concatenate([vh, vc], axis=-1)), log_norm

    def forward(self, v, rows=slice(None)):
        """P v for the rows ``rows`` (an increasing index array, or all)."""
        return self._run(v, True, rows)

    def backward(self, u, rows=slice(None)):
        return self._run(u, False, rows)


def _power(cell, cache, W_hh, ends, S, ds, per, tol, max_iter, rng):
    """Power iteration on P^T P for every (end, distance) pair: v <- P^T P v / ||.||, sigma ~ ||P v||."""
    ch = _Chains(cell, cache, W_hh, ends, ds)
    B = cache["hs"].shape[1]
    v = rng.standard_normal((len(ch.t_idx), B, S))
    v /= np.linalg.norm(v, axis=-1, keepdims=True)
    sigma = np.zeros((len(ch.t_idx), B))
    for _it in range(max_iter):
        u, log_pv = ch.forward(v)
        new = np.exp(log_pv)                                        # ||P v|| for unit v
        v, _ = ch.backward(u)                                       # direction of P^T P v
        done = np.all(np.abs(new - sigma) <= tol * new)
        sigma = new
        if done:
            break
    per[ch.d_idx, ch.t_idx] = sigma


def _lanczos(cell, cache, W_hh, ends, S, ds, per, tol, max_iter, rng):
    """Golub-Kahan-Lanczos bidiagonalisation of every P (the Krylov refinement of power iteration):

        alpha_1 u_1 = P v_1;   beta_j v_{j+1} = P^T u_j - alpha_j v_j;   alpha_{j+1} u_{j+1} = P v_{j+1} - beta_j u_j

    The largest singular value of the k x k upper bidiagonal matrix (alpha on the diagonal, beta above)
    approaches ||P||_2 from below, much faster than power iteration when the top singular values are
    close; k = S is exact. Full reorthogonalisation against the stored v's; each P is scaled by its first
    ||P v_1|| so that the recurrences stay O(1). A row retires when its estimate changes by less than
    ``tol`` (relative), or after ``max_iter`` steps."""
    ch = _Chains(cell, cache, W_hh, ends, ds)
    m, B = len(ch.t_idx), cache["hs"].shape[1]
    v = rng.standard_normal((m, B, S))
    v /= np.linalg.norm(v, axis=-1, keepdims=True)
    u, log_scale = ch.forward(v)                                    # P v_1 = exp(log_scale) u, ||u|| = 1
    zero = np.isneginf(log_scale)                                   # P v_1 = 0: P = 0 (almost surely)
    log_scale[zero] = 0.0
    k_max = max(1, min(max_iter, S))
    diag = np.zeros((m, B, k_max))                                  # alpha_j
    sup = np.zeros((m, B, k_max))                                   # beta_j
    diag[..., 0] = np.where(zero, 0.0, 1.0)
    sigma = diag[..., 0].copy()
    rows = np.arange(m)                                             # rows still iterating
    V = [v]
    for k in range(1, k_max):
        ls = log_scale[rows][..., None]
        w, log_w = ch.backward(u, rows)                             # P^T u = exp(log_w) w
        w = w * np.exp(log_w[..., None] - ls) - diag[rows, :, k - 1][..., None] * V[-1]
        for _twice in range(2):                                     # full reorthogonalisation
            for vj in V:
                w -= np.einsum("mbs,mbs->mb", w, vj)[..., None] * vj
        beta = np.linalg.norm(w, axis=-1)
        ok = beta > 1e-12                                           # else the Krylov space is exhausted
        v_next = np.where(ok[..., None], w / np.where(ok, beta, 1.0)[..., None], 0.0)
        pu, log_pu = ch.forward(v_next, rows)
        pu = pu * np.exp(np.where(np.isneginf(log_pu), -np.inf, log_pu - ls[..., 0]))[..., None]
        pu -= np.where(ok, beta, 0.0)[..., None] * u
        alpha = np.linalg.norm(pu, axis=-1)
        u = np.where((alpha > 1e-12)[..., None], pu / np.maximum(alpha, 1e-300)[..., None], u)
        sup[rows, :, k - 1] = np.where(ok, beta, 0.0)
        diag[rows, :, k] = np.where(ok & (alpha > 1e-12), alpha, 0.0)
        K = k + 1
        Bk = np.zeros((len(rows), B, K, K))
        idx = np.arange(K)
        Bk[..., idx, idx] = diag[rows, :, :K]
        Bk[..., idx[:-1], idx[1:]] = sup[rows, :, :K - 1]
        new = np.linalg.svd(Bk, compute_uv=False)[..., 0]
        go = ~np.all((np.abs(new - sigma[rows]) <= tol * new) | ~ok, axis=1)
        sigma[rows] = new
        rows, u, V = rows[go], u[go], [vj[go] for vj in V] + [v_next[go]]
        if not len(rows):
            break
    with np.errstate(over="ignore"):
        per[ch.d_idx, ch.t_idx] = np.where(zero, 0.0, sigma * np.exp(log_scale))
