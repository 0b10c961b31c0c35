"""Exploding gradients in a training log: spikes and non-finite events in the global gradient norm.

A step is a *spike* when its norm exceeds ``factor`` times the median of the ``window`` finite norms
before it (at least ``min_history`` of them); a *non-finite* event is a NaN or infinite norm (or None,
as a JSON log writes NaN). The median, not the mean, so that one spike does not hide the next.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError


def explosion_events(grad_norms, window: int = 50, factor: float = 10.0, min_history: int = 5) -> dict:
    """Flag spikes and non-finite values in a sequence of global gradient norms (one per step).

    Returns {"steps", "non_finite": [indices], "spikes": [indices], "spike_ratio": [norm / median
    before, per spike], "median", "max" (over finite norms; None if there are none)}.
    """
    if window < 1 or min_history < 1 or not factor > 1:
        raise ConfigError("explosion_events needs window >= 1, min_history >= 1 and factor > 1")
    g = np.array([np.nan if v is None else v for v in grad_norms], dtype=np.float64).ravel()
    finite = np.isfinite(g)
    non_finite = np.flatnonzero(~finite)
    spikes, ratios = [], []
    if len(g) > 1:
        # medians of the previous `window` finite norms, vectorised over steps
        padded = np.concatenate([np.full(window, np.nan), np.where(finite, g, np.nan)])
        prev = np.lib.stride_tricks.sliding_window_view(padded[:-1], window)[: len(g)]   # (n, window)
        enough = np.sum(~np.isnan(prev), axis=1) >= min_history
        med = np.full(len(g), np.nan)
        if enough.any():
            med[enough] = np.nanmedian(prev[enough], axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            hit = enough & finite & (g > factor * med)
        spikes = np.flatnonzero(hit).tolist()
        ratios = [float(g[i] / med[i]) if med[i] > 0 else float("inf") for i in spikes]
    fin = g[finite]
    return {"steps": int(len(g)), "non_finite": non_finite.tolist(), "spikes": spikes, "spike_ratio": ratios,
            "median": float(np.median(fin)) if len(fin) else None,
            "max": float(np.max(fin)) if len(fin) else None}
