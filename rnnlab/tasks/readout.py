"""Linear readout of the hidden states and the two task losses, each with its exact gradient.

Readout (the tutorial's o_t = V s_t, with a bias), from the last state or from every state:

    o = h W^T + b                  W = ``readout.weight`` (K, H), b = ``readout.bias`` (K,)
    dW = do^T h,  db = sum do,  dh = do W

Losses, averaged over the N rows (sequences, or steps x sequences):

    MSE:  L = (1/N) sum_n sum_k (o_nk - y_nk)^2              dL/do = 2 (o - y) / N
    softmax cross-entropy:  L = (1/N) sum_n -log softmax(o_n)[y_n]    dL/do = (softmax(o) - onehot(y)) / N

(MSE sums over the K outputs and averages over sequences, as in Pascanu et al.'s code; with K = 1 it is
the plain mean squared error.)
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..output import log_softmax  # the project's one log-softmax


def readout_forward(params: dict, h: np.ndarray) -> np.ndarray:
    """h: (..., H) -> o: (..., K)."""
    W, b = params["readout.weight"], params["readout.bias"]
    lead = h.shape[:-1]
    o = h.reshape(-1, h.shape[-1]) @ W.T
    o += b
    return o.reshape(lead + (W.shape[0],))


def readout_backward(params: dict, h: np.ndarray, do: np.ndarray):
    """Given dL/do (..., K) return dL/dh (..., H) and the readout's gradients."""
    W = params["readout.weight"]
    h2 = h.reshape(-1, h.shape[-1])
    do2 = do.reshape(-1, do.shape[-1])
    grads = {"readout.weight": do2.T @ h2, "readout.bias": do2.sum(axis=0)}
    dh = (do2 @ W).reshape(h.shape)
    return dh, grads


def mse_loss(o: np.ndarray, y: np.ndarray):
    """o, y: (N, K). Returns (loss as float, dL/do (N, K))."""
    if o.shape != y.shape:
        raise ShapeError(f"prediction shape {o.shape} does not match target shape {y.shape}")
    diff = o - y.astype(o.dtype, copy=False)
    N = o.shape[0]
    loss = float(np.sum(diff.astype(np.float64) ** 2) / N)
    return loss, (2.0 / N) * diff


def xent_loss(o: np.ndarray, y: np.ndarray):
    """o: (N, K) logits, y: (N,) int classes in [0, K). Returns (mean cross-entropy, dL/do (N, K))."""
    if o.ndim != 2 or y.shape != o.shape[:1]:
        raise ShapeError(f"logits must be (N, K) and targets (N,), got {o.shape} and {y.shape}")
    N = o.shape[0]
    logp = log_softmax(o)
    n = np.arange(N)
    loss = float(-np.sum(logp[n, y], dtype=np.float64) / N)
    do = np.exp(logp)
    do[n, y] -= 1.0
    do /= N
    return loss, do
