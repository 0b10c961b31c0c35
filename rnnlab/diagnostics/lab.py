"""The report page's interactive view ("the lab"): every gradient part of a short probe text, kept per pair.

For a probe of T steps (x_t read at step t, L_t the loss of predicting y_t), the lab keeps, for every
output t and every earlier state s <= t of the same segment (the tutorial's s_t; the top layer's h_s, and
for an LSTM also its c_s),

    log10 ||dL_t / dh_s||      and      log10 ||dL_t / dc_s||                        (g_{t,d}, d = t - s)

from one lag sweep (``distance.lag_sweep``: one batched step VJP per distance, all t at once), plus

- ``mass_by_lag[d]`` = sum_t ||dL_t/ds_{t-d}|| (s = (h, c) for LSTM): the share truncated BPTT(k) drops
  is the part of this sum beyond k;
- ``cosine_by_k[k]`` = cos(sum_{d<=k} W_d, sum_d W_d), W_d the d-steps-back term of dL/dW_hh (the
  tutorial's W): the truncate=k gradient of W_hh against the full one, for every k (the prefix sums of
  the per-lag terms, so the page answers every k at once);
- ``reach``: ||ds_t/ds_{t-d}||_2 (``jacobian.jacobian_norms``) at every t when the probe is short, else at
  evenly spread t, on the distance grid of ``jacobian.power_distances`` for the iterative methods; and the
  tutorial's bound (max f' ||W_hh||)^d for plain RNNs as its base ``bound_base``.

A probe is a list of *segments*, each run from a zero state, as the model was trained: sentences (a few
validation sentences, a fresh state each; the gradient never crosses from one to the next, so those
pairs are exactly zero and their log is -inf) or one stream (its first T steps).
Values are rounded to 0.01 decades (``DECIMALS``), -inf (an exact zero) written as None in JSON; norms
and sums to 6 significant digits, cosines to 6 decimals.
"""
from __future__ import annotations

import math
import time

import numpy as np

from ..errors import ConfigError, ShapeError
from .distance import lag_sweep
from .jacobian import jacobian_norms, power_distances, resolve_method, spread
from .steps import as_float64
from .weights import jacobian_bound

DECIMALS = 2              # log10 values are kept to 0.01 decades (2.3% relative)
PROBE_STEPS = 150         # the longest probe
PROBE_SENTENCES = 4       # sentence mode: the longest of the first SENTENCE_POOL validation sentences
SENTENCE_POOL = 50
REACH_BUDGET = 2000       # sum over measured ends t of (t + 1) at hidden size 64 (fewer for larger: ~ 1/H^2)
DENSE_REACH = 30          # reach at every distance up to this; beyond it on the grid of power_distances


def probe_segments(corpus, stream: bool, max_steps: int = PROBE_STEPS, n_sentences: int = PROBE_SENTENCES):
    """The probe of an EncodedCorpus, as (x, y) int arrays (T,) per segment, each read from a zero state.

    stream: its first ``max_steps`` steps, read as ``data.stream_batches`` reads it (one stream);
    sentences: the ``n_sentences`` longest of the first SENTENCE_POOL sentences, in corpus order, each
    ``<s> w1 .. wn`` -> ``w1 .. wn </s>`` (cut at ``max_steps`` steps in all).
    """
    from ..data import stream_batches

    if corpus.n_sentences == 0:
        raise ConfigError(f"{corpus.source or 'the probe text'}: no sentences to probe")
    if stream:
        x, y = next(iter(stream_batches(corpus, 1, chunk=max_steps)))
        keep = y[:, 0] >= 0
        return [(x[keep, 0], y[keep, 0])]
    v = corpus.vocab
    o = np.asarray(corpus.offsets)
    pool = min(SENTENCE_POOL, corpus.n_sentences)
    lengths = np.diff(o[: pool + 1])
    chosen = np.sort(np.argsort(-lengths, kind="stable")[:n_sentences])
    segs, left = [], max_steps
    for j in chosen:
        words = np.asarray(corpus.tokens[o[j]:o[j + 1]], dtype=np.int64)
        x = np.concatenate([[v.bos], words])[:left]
        y = np.concatenate([words, [v.eos]])[:left]
        if len(x):
            segs.append((x, y))
        left -= len(x)
    return segs


def segments_of(lab: dict) -> list:
    """The probe of a lab dict (or snapshot) as segments again: [(x, y)], each (T,) int64."""
    x, y = np.asarray(lab["x"], dtype=np.int64), np.asarray(lab["y"], dtype=np.int64)
    cuts = list(lab["segments"]) + [len(x)]
    return [(x[a:b], y[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]


def _sig(v):
    """A norm to 6 significant digits (what the page shows is what report.json holds); None if not finite."""
    return float(f"{v:.6g}") if np.isfinite(v) else None


def _log10(a):
    """Rounded log10 of non-negative norms; None where the norm is exactly zero (or not finite)."""
    with np.errstate(divide="ignore"):
        v = np.round(np.log10(a), DECIMALS)
    return [float(u) if np.isfinite(u) else None for u in v]


def _segment(lm, x, y, seed, reach_ends):
    """One segment's parts: rows of norms, per-lag weight terms and mass, reach, per-token loss."""
    layer = lm.layer
    top = layer.num_layers - 1
    T = len(x)
    out, _, cache = lm.hidden(x[:, None])
    hT = out.reshape(T, -1)
    logp = lm.output.log_probs(lm.output_params(), hT, direct=lm.direct_batch(x[:, None]))   # (T, V)
    loss = -np.asarray(logp, dtype=np.float64)[np.arange(T), y]
    from .diagnose import lm_output_grad

    _, dout = lm_output_grad(lm, out, y[:, None], x[:, None])
    c = as_float64(cache[top])
    W = np.asarray(layer.params[f"weight_hh_l{top}"], dtype=np.float64)
    lstm = layer.cell.has_cell_state
    gh = np.zeros((T, T))                                                 # gh[t, s] = ||dL_t/dh_s||
    gc = np.zeros((T, T)) if lstm else None
    terms = np.zeros((T,) + W.shape)                                      # W_d, d = 0..T-1
    hs = c["hs"]
    for lag in lag_sweep(layer.cell, c, W, np.arange(T), dout.astype(np.float64), None, T - 1):
        at = lag.state >= 1                                               # state 0 is h0, not a token
        t = lag.rows[at]
        s = lag.state[at] - 1
        gh[t, s] = np.linalg.norm(lag.uh[at, 0], axis=-1)
        if lstm and lag.uc is not None:
            gc[t, s] = np.linalg.norm(lag.uc[at, 0], axis=-1)
        if lag.dgh is not None:
            G = lag.dgh.shape[-1]
            terms[lag.d] = lag.dgh.reshape(-1, G).T @ hs[lag.steps].reshape(-1, W.shape[1])
    ends = np.asarray(reach_ends, dtype=np.int64)
    reach = []
    if len(ends):
        method = resolve_method(layer.cell, W.shape[1], "auto")
        D = int(ends.max()) + 1
        jp = jacobian_norms(layer.cell, c, W, D, method=method, ends=ends, batch=np.array([0]),
                            distances=None if method == "exact" or D <= DENSE_REACH else power_distances(D), seed=seed)
        for i, t in enumerate(jp.ends):
            col = jp.per_position[:, i, 0]
            ds = np.flatnonzero(~np.isnan(col))
            reach.append((int(t), ds, col[ds]))
    return loss, gh, gc, terms, reach


def lab_data(lm, segments, vocab=None, reach_budget: int = REACH_BUDGET, seed: int = 0) -> dict:
    """The lab's data for a language model on a probe (``probe_segments``); JSON-ready.

    Keys: steps, segments (start of each segment), x / y (token ids), words / targets (token strings, or
    ids without a vocabulary), loss_by_t, loss (mean nats per token), tokens, cell, parts (["h"] or ["h", "c"]),
    log10_grad {part: rows, row t = log10 ||dL_t/d part_s|| for s = start of t's segment .. t},
    mass_by_lag, cosine_by_k (k = 0..T-1; the last is full BPTT), reach [{t, d, norm}], bound_base,
    seconds.
    """
    t0 = time.perf_counter()
    if not segments:
        raise ConfigError("the probe has no segments")
    starts, n = [], 0
    for x, y in segments:
        if np.ndim(x) != 1 or np.shape(x) != np.shape(y) or len(x) == 0:
            raise ShapeError(f"each probe segment is (x, y) of the same length T >= 1, got {np.shape(x)} and "
                             f"{np.shape(y)}")
        if np.min(y) < 0:
            raise ConfigError("the probe has padding (y == -1): give its segments without it")
        starts.append(n)
        n += len(x)
    T = n
    ends = spread(T, None)
    cost = np.cumsum([int(t - starts[np.searchsorted(starts, t, side="right") - 1]) + 1 for t in ends])
    H = lm.layer.hidden_size
    reach_budget = reach_budget * min(1.0, (64 / H) ** 2)                # a step product costs ~ H^2
    if reach_budget <= 0:                                                 # no reach wanted
        ends = ends[:0]
    elif cost[-1] > reach_budget:                                         # a long probe: spread the ends
        k = max(2, int(len(ends) * reach_budget / cost[-1]))
        ends = spread(T, k)
    lstm = lm.layer.cell.has_cell_state
    rows = {"h": [], "c": []}
    W_shape = lm.layer.params[f"weight_hh_l{lm.layer.num_layers - 1}"].shape
    terms = np.zeros((T,) + W_shape)
    mass = np.zeros(T)
    losses, reach = [], []
    for (x, y), a in zip(segments, starts):
        x, y = np.asarray(x, dtype=np.int64), np.asarray(y, dtype=np.int64)
        Ts = len(x)
        local = ends[(ends >= a) & (ends < a + Ts)] - a
        loss, gh, gc, tm, rc = _segment(lm, x, y, seed, local)
        losses.append(loss)
        terms[:Ts] += tm
        for t in range(Ts):
            rows["h"].append(_log10(gh[t, : t + 1]))
            if lstm:
                rows["c"].append(_log10(gc[t, : t + 1]))
        state = np.sqrt(gh ** 2 + (gc ** 2 if lstm else 0.0))             # ||dL_t/ds_{t-d}||, s = (h, c)
        for d in range(Ts):
            mass[d] += np.trace(state, offset=-d)
        reach += [{"t": t + a, "d": [int(u) for u in ds], "norm": [_sig(v) for v in nv]} for t, ds, nv in rc]
    flat = terms.reshape(T, -1)
    full = flat.sum(axis=0)
    prefix = np.cumsum(flat, axis=0)
    fn = np.linalg.norm(full)
    pn = np.linalg.norm(prefix, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = prefix @ full / (pn * fn)
    loss = np.concatenate(losses)
    xs = np.concatenate([np.asarray(x) for x, _ in segments])
    ys = np.concatenate([np.asarray(y) for _, y in segments])
    name = (lambda ids: vocab.decode(ids)) if vocab is not None else (lambda ids: [str(i) for i in ids])
    bound = jacobian_bound(lm.layer, 1)
    parts = ["h", "c"] if lstm else ["h"]
    return {"steps": T, "segments": starts, "x": [int(i) for i in xs], "y": [int(i) for i in ys],
            "words": name(xs), "targets": name(ys),
            "loss_by_t": [round(float(v), 4) if np.isfinite(v) else None for v in loss],
            "loss": float(loss.mean()) if np.all(np.isfinite(loss)) else None, "tokens": int(T),
            "cell": {1: "rnn", 3: "gru", 4: "lstm"}[lm.layer.cell.gates],
            "nonlinearity": getattr(lm.layer.cell, "nonlinearity", None), "parts": parts,
            "log10_grad": {p: rows[p] for p in parts},
            "mass_by_lag": [_sig(v) for v in mass],
            "cosine_by_k": [round(float(v), 6) if math.isfinite(v) else None for v in cos],
            "reach": reach, "bound_base": None if bound is None or not np.isfinite(bound[1]) else float(bound[1]),
            "seconds": time.perf_counter() - t0}
