"""Truncation bias: how far the truncate=k gradient is from the full BPTT gradient.

    cosine_k = <g_k, g> / (||g_k|| ||g||),   relative_error_k = ||g_k - g|| / ||g||,   norm_ratio_k = ||g_k||/||g||

over all parameters of the recurrent stack flattened into one vector (float64), where g_k comes from
``layer.backward(..., truncate=k)`` (the tutorial's bptt_truncate) and g from full BPTT. The output layer's
gradient does not depend on k and is left out, so the numbers show the recurrence alone.
"""
from __future__ import annotations

import numpy as np


def default_ks(T: int, max_k: int | None = None) -> list[int]:
    """0, 1, 2, 4, 8, ... below T - 1 (and below max_k + 1); k >= T - 1 is full BPTT."""
    top = T - 2 if max_k is None else min(T - 2, int(max_k))
    ks, k = [], 0
    while k <= top:
        ks.append(k)
        k = 1 if k == 0 else 2 * k
    return ks


def _flat(grads, keys):
    return np.concatenate([np.asarray(grads[k], dtype=np.float64).ravel() for k in keys])


def truncation_bias(layer, cache, dout, ks=None, full_grads=None) -> dict:
    """{"k": [...], "cosine_to_full": [...], "relative_error": [...], "norm_ratio": [...]} for each k.

    Args:
        layer, cache: the stack and its forward cache; dout (T, B, H) dL/dout.
        ks: truncation lengths (default ``default_ks(T)``).
        full_grads: the full-BPTT grads if already computed (saves one backward).
    """
    T = dout.shape[0]
    ks = default_ks(T) if ks is None else [int(k) for k in ks]
    if full_grads is None:
        _, _, full_grads = layer.backward(cache, dout)
    keys = list(layer.params)
    g = _flat(full_grads, keys)
    gn = np.linalg.norm(g)
    cos, rel, ratio = [], [], []
    for k in ks:
        _, _, gk = layer.backward(cache, dout, truncate=k)
        v = _flat(gk, keys)
        vn = np.linalg.norm(v)
        cos.append(float(v @ g / (vn * gn)) if vn > 0 and gn > 0 else float("nan"))
        rel.append(float(np.linalg.norm(v - g) / gn) if gn > 0 else float("nan"))
        ratio.append(float(vn / gn) if gn > 0 else float("nan"))
    return {"k": ks, "cosine_to_full": cos, "relative_error": rel, "norm_ratio": ratio}
