"""All measures of one model on one batch, as a JSON-ready dict (what ``report.json`` holds per model).

Entry points: ``diagnose_layer(layer, x, dout)`` for a recurrent stack with given per-step output
gradients, ``diagnose_lm(lm, x, y)`` for a language model (per-token cross-entropy losses L_t), and
``quick_summary`` for one cheap line per epoch in a training log. The top-level measures describe the
top layer; ``layers`` holds the same measures for every layer of a stack (index 0 = the bottom layer).
"""
from __future__ import annotations

import time

import numpy as np

from .distance import decay_distance, distance_profile, gradient_by_distance
from .jacobian import jacobian_norms, power_distances, resolve_method, spread
from .saturation import saturation
from .steps import as_float64
from .truncation import default_ks, truncation_bias
from .weights import jacobian_bound, recurrent_spectrum

DEFAULT_MAX_DISTANCE = 50


def tolist(a):
    """Array -> list of floats with nan/inf as None (JSON has no NaN)."""
    if a is None:
        return None
    return [float(v) if np.isfinite(v) else None for v in np.asarray(a, dtype=np.float64).ravel()]


def cell_name(layer) -> str:
    """"rnn", "lstm" or "gru": the cell type of a layer, read off its number of gate blocks."""
    return {1: "rnn", 3: "gru", 4: "lstm"}[layer.cell.gates]


def summarize(grad_norm, grad_share) -> dict:
    """The few numbers a training log line carries about gradient by distance."""
    g = np.asarray(grad_norm, dtype=np.float64)
    share = np.asarray(grad_share, dtype=np.float64)
    return {"decay_distance_1pct": decay_distance(g, 0.01), "decay_distance_10pct": decay_distance(g, 0.1),
            "share_beyond_5": float(share[6:].sum()), "share_beyond_10": float(share[11:].sum()),
            "max_distance": int(len(g) - 1)}


def summary_line(s: dict) -> str:
    """'grad 1% at d=7 | beyond 10: 0.3%' (a '>' when the gradient never falls that far)."""
    d1 = s["decay_distance_1pct"]
    d1 = f">{s['max_distance']}" if d1 is None else str(d1)
    return f"grad 1% at d={d1} | beyond 10: {100 * s['share_beyond_10']:.1f}%"


def diagnose_cache(layer, cache, dout, max_distance=None, jacobian="auto", ks=None, positions=None,
                   seed: int = 0, mask=None) -> dict:
    """Every measure of ``rnnlab.diagnostics`` for a stack whose forward cache and dL_t/dh_t are given.

    Args:
        layer: RNN, LSTM or GRU stack; cache: from ``layer.forward``; dout: (T, B, H) dL_t/dh_t.
        max_distance: D (default min(T, DEFAULT_MAX_DISTANCE)).
        jacobian: "auto" | "exact" | "lanczos" | "power" (``jacobian.jacobian_norms``); None skips it.
        ks: truncation lengths (default 0, 1, 2, 4, ... <= D, < T - 1).
        positions: (n_ends, n_batch) for the Jacobian; default (16, 2) exact, (8, 2) iterative.
        mask: (T, B) bool, the outputs that carry a loss (default all): averages run over these only.
    """
    T, B, H = dout.shape
    D = min(T, DEFAULT_MAX_DISTANCE) if max_distance is None else min(int(max_distance), T)
    timing = {}
    t0 = time.perf_counter()
    profiles = gradient_by_distance(layer, cache, dout, D, mask)
    timing["gradient_by_distance"] = time.perf_counter() - t0

    layers = []
    spectrum = recurrent_spectrum(layer)
    sat = saturation(layer, cache)
    t0 = time.perf_counter()
    method = None if jacobian is None else resolve_method(layer.cell, H, jacobian)
    for l, prof in enumerate(profiles):
        entry = {"grad_norm_by_distance": tolist(prof.grad_norm),
                 "grad_share_by_distance": tolist(prof.grad_share),
                 "hidden_grad_norm_by_distance": tolist(prof.hidden_grad_norm),
                 "cell_grad_norm_by_distance": tolist(prof.cell_grad_norm),
                 "weight_grad_by_distance": tolist(prof.weight_grad_norm),
                 "terms_by_distance": [int(c) for c in prof.count],
                 "bound_by_distance": tolist(jacobian_bound(layer, D, l)),
                 "singular_values": {g: v["singular_values"] for g, v in spectrum[l].items()},
                 "spectral_radius": {g: v["spectral_radius"] for g, v in spectrum[l].items()},
                 "saturation": sat[l]}
        if method is not None:
            n_e, n_b = positions or ((16, 2) if method == "exact" else (8, 2))
            ends, cols = spread(T, n_e), spread(B, n_b)
            jp = jacobian_norms(layer.cell, cache[l], layer.params[f"weight_hh_l{l}"], D, method=method,
                                ends=ends, batch=cols, distances=None if method == "exact" else power_distances(D),
                                seed=seed)
            norm = jp.norm if mask is None else _masked_mean(jp.per_position, np.asarray(mask)[ends][:, cols])
            entry["jacobian_norm_by_distance"] = tolist(norm)
        else:
            entry["jacobian_norm_by_distance"] = [None] * (D + 1)
        entry["summary"] = summarize(prof.grad_norm, prof.grad_share)
        layers.append(entry)
    timing["jacobian"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    trunc = truncation_bias(layer, cache, dout, default_ks(T, D) if ks is None else ks)
    timing["truncation"] = time.perf_counter() - t0
    top = layers[-1]
    result = {"cell": cell_name(layer), "nonlinearity": getattr(layer.cell, "nonlinearity", None),
              "hidden_size": layer.hidden_size, "num_layers": layer.num_layers, "steps": int(T),
              "batch": int(B), "distance": list(range(D + 1)), **top,
              "jacobian_method": method, "truncation": trunc, "layers": layers, "seconds": timing}
    return result


def _masked_mean(per, keep):
    """Mean over the positions (axes 1, 2) that are measured (not nan) and kept; nan where none are."""
    ok = ~np.isnan(per) & keep[None]
    n = ok.sum(axis=(1, 2))
    return np.where(n > 0, np.where(ok, per, 0.0).sum(axis=(1, 2)) / np.maximum(n, 1), np.nan)


def diagnose_layer(layer, x, dout, h0=None, **kw) -> dict:
    """``diagnose_cache`` after running ``layer.forward(x, h0)``; dout (T, B, H) is dL_t/dh_t."""
    _, _, cache = layer.forward(x, h0)
    return diagnose_cache(layer, cache, np.asarray(dout, dtype=layer.dtype), **kw)


# -- language models ----------------------------------------------------------------------------------

def lm_output_grad(lm, h, y, x=None):
    """(sum of the per-token losses, dL_t/dh_t (T, B, H)) for a language model's output layer.

    ``x`` (T, B): the input tokens, which a model with direct connections (``lm.direct``) needs: their
    n-gram scores add to the network's and so change the probabilities and dh.

    The adapter to ``rnnlab.LanguageModel``: its ``output.loss_and_grad(params, h (N, H), y (N,))`` returns
    the cross-entropy summed over the rows and its gradient dh. Padding (y == -1) gets zero gradient. The
    sum (not the mean) makes L_t the loss of the token at t, so the numbers do not depend on the batch size.
    """
    T, B, H = h.shape
    yf = np.asarray(y).reshape(-1)
    valid = yf >= 0
    h2 = h.reshape(-1, H)
    direct = None
    if getattr(lm, "direct", None) is not None:
        if x is None:
            raise ValueError("a model with direct connections needs the input tokens x")
        direct = lm.direct_batch(np.asarray(x), np.flatnonzero(valid))
    loss_sum, dh, _ = lm.output.loss_and_grad(lm.output_params(), h2[valid], yf[valid], direct=direct)
    dout = np.zeros((T * B, H), dtype=h.dtype)
    dout[valid] = dh
    return float(loss_sum), dout.reshape(T, B, H)


def lm_forward(lm, x, y, h0=None):
    """Run the LM's recurrent stack on tokens x (T, B): returns (cache, dout, loss_sum, n_targets)."""
    out, _, cache = lm.hidden(x, h0)
    loss_sum, dout = lm_output_grad(lm, out, y, x)
    return cache, dout, loss_sum, int(np.sum(np.asarray(y) >= 0))


def diagnose_lm(lm, x, y, h0=None, **kw) -> dict:
    """Every measure for a language model on tokens x, targets y (T, B) int (y == -1: padding, left out
    of the averages)."""
    cache, dout, loss_sum, n = lm_forward(lm, x, y, h0)
    result = diagnose_cache(lm.layer, cache, dout, mask=np.asarray(y) >= 0, **kw)
    result["loss"] = loss_sum / max(n, 1)
    result["tokens"] = n
    return result


def quick_summary(lm, x, y, max_distance: int = DEFAULT_MAX_DISTANCE, h0=None) -> dict:
    """Gradient by distance of the top layer only (one lag sweep: about one truncated backward's
    cost), summarised for a training log line (``summary_line``)."""
    cache, dout, _, _ = lm_forward(lm, x, y, h0)
    layer = lm.layer
    top = layer.num_layers - 1
    prof = distance_profile(layer.cell, as_float64(cache[top]), layer.params[f"weight_hh_l{top}"].astype(np.float64),
                            dout.astype(np.float64), max_distance, np.asarray(y) >= 0)
    return summarize(prof.grad_norm, prof.grad_share)
