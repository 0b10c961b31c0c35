"""The one place where scoring touches the network: load it, score target words, adapt it (dynamic
evaluation). Everything else in ``rnnlab.scoring`` works on ids and log-probabilities.

    lm, vocab, data_config = load_network("runs/lm")
    logp, hn = target_log_probs(lm, x, y, h0)     # (T, B) float64 ln p(y_t | x_<=t), 0 at padding

``target_log_probs`` computes only what scoring needs, the probability of each target word: for the
class-factorised output that is C + |class(y)| scores per token instead of V, the reason n-best
rescoring with a class model is fast. ``lm.log_probs`` (all V words) is its reference in the tests.
"""
from __future__ import annotations

import copy

import numpy as np

_ROWS = 2048  # full softmax: rows of the (N, V) logit matrix computed at once (memory ~ _ROWS V floats)


def load_network(model_dir):
    """(lm, vocab, DataConfig) of a trained model directory or checkpoint; CheckpointError if it is none."""
    from ..prepare import DataConfig
    from ..use import load_trained

    lm, meta = load_trained(model_dir)
    return lm, lm.vocab, DataConfig.from_dict(meta.get("data", {}))


def broadcast_state(h, B: int):
    """A state of one column ((L, 1, H), or (h, c) for the LSTM) repeated for B columns; None stays None."""
    if h is None:
        return None
    if isinstance(h, tuple):
        return tuple(np.repeat(p, B, axis=1) for p in h)
    return np.repeat(h, B, axis=1)


def _pick_minus_lse(z, cols):
    """z[n, cols[n]] - logsumexp(z[n]) per row, in float64; overwrites z (one pass fewer than a copy)."""
    picked = z[np.arange(len(z)), cols].astype(np.float64)
    m = z.max(axis=1)
    z -= m[:, None]
    np.exp(z, out=z)
    return picked - m - np.log(z.sum(axis=1, dtype=np.float64))


def _softmax_targets(params, h, y):
    """ln softmax(h W^T + b)[y] for rows h (N, H), targets y (N,)."""
    W, b = params["decoder.weight"], params["decoder.bias"]
    out = np.empty(len(y), dtype=np.float64)
    for lo in range(0, len(y), _ROWS):
        z = h[lo:lo + _ROWS] @ W.T                                             # (n, V)
        z += b
        out[lo:lo + _ROWS] = _pick_minus_lse(z, y[lo:lo + _ROWS])
    return out


def _class_targets(output, params, h, y):
    """ln p(c(y) | h) + ln p(y | c(y), h) for rows h (N, H): the class scores (N, C), then, class by class,
    the scores of the words of the class for the rows whose target lies in it."""
    zc = h @ params["class_decoder.weight"].T                                  # (N, C)
    zc += params["class_decoder.bias"]
    cls = output.class_of_word[y]
    out = _pick_minus_lse(zc, cls)
    W, b = params["decoder.weight"], params["decoder.bias"]
    order = np.argsort(cls, kind="stable")
    bounds = np.searchsorted(cls[order], np.arange(output.num_classes + 1))
    for k in np.flatnonzero(np.diff(bounds)):
        rows = order[bounds[k]:bounds[k + 1]]
        words = output.words_by_class[output.offsets[k]:output.offsets[k + 1]]
        if output.contiguous:   # frequency classes are runs of ids: a view of the decoder, not a copy
            words = slice(int(words[0]), int(words[-1]) + 1)
        z = h[rows] @ W[words].T                                               # (n_k, |class k|)
        z += b[words]
        out[rows] += _pick_minus_lse(z, output.pos_in_class[y[rows]])
    return out


def _direct_targets(lm, params, x, where, h, y):
    """ln p(y) for rows h (N, H) at the flat positions ``where`` of x, with the model's direct
    connections (``lm.output.log_probs`` of every word, ``_ROWS`` rows at a time)."""
    out = np.empty(len(y), dtype=np.float64)
    for lo in range(0, len(y), _ROWS):
        hi = min(lo + _ROWS, len(y))
        logp = lm.output.log_probs(params, h[lo:hi], direct=lm.direct_batch(x, where[lo:hi]))   # (n, V)
        out[lo:hi] = logp[np.arange(hi - lo), y[lo:hi]]
    return out


def target_log_probs(lm, x, y, h0=None):
    """Natural-log probability of every target and the final state.

    Args:
        lm: a LanguageModel.
        x, y: (T, B) int arrays of inputs and targets; ``y == -1`` marks padding (after a sentence's end).
        h0: the initial state ((L, B, H), or (h, c) for the LSTM); None: zeros.
    Returns:
        (logp (T, B) float64 with 0 at padding, hn: the state after the last step of x).
    """
    out, hn, _ = lm.hidden(x, h0)                                              # (T, B, H)
    T, B, H = out.shape
    yf = np.asarray(y).reshape(-1)
    valid = np.flatnonzero(yf >= 0)
    hv = out.reshape(-1, H)[valid]
    params = lm.output_params()
    if getattr(lm, "direct", None) is not None:    # direct connections add to every score: the full rows
        lp = _direct_targets(lm, params, x, valid, hv, yf[valid])
    elif lm.output.kind == "class":
        lp = _class_targets(lm.output, params, hv, yf[valid])
    else:
        lp = _softmax_targets(params, hv, yf[valid])
    logp = np.zeros(T * B, dtype=np.float64)
    logp[valid] = lp
    return logp.reshape(T, B), hn


def final_state(lm, x, h0=None):
    """The state after reading the whole of x (T, B) from h0."""
    _, hn, _ = lm.hidden(x, h0)
    return hn


def private_copy(lm):
    """A deep copy of lm whose parameters can be changed without touching lm (dynamic evaluation)."""
    return copy.deepcopy(lm)


def sgd_step(lm, x, y, lr: float, h0=None, clip: float = 5.0) -> float:
    """One SGD step on the mean cross-entropy of targets y given x (T, B) from h0 (full BPTT, no gradient into
    h0), the global gradient norm clipped to ``clip`` as ``rnnlab train`` does by default. Returns the loss."""
    from ..optim import SGD, clip_grad_norm

    loss, grads, _, _ = lm.forward_backward(x, y, h0=h0)
    clip_grad_norm(grads, clip)
    SGD(lr).step(lm.params, grads)
    return float(loss)
