"""A minimal language model for the diagnostics tests: one-hot input -> recurrent stack -> softmax readout.

It has the parts of ``rnnlab.LanguageModel`` that the diagnostics use (``layer``, ``embed``,
``output.loss_and_grad``), so the tests do not depend on the LM module."""
import numpy as np

import rnnlab


class SoftmaxReadout:
    """logits = h W^T + b; loss = mean cross-entropy over targets y >= 0."""

    def __init__(self, V, H, dtype, rng):
        self.W = (rng.standard_normal((V, H)) / np.sqrt(H)).astype(dtype)
        self.b = np.zeros(V, dtype=dtype)

    def loss_and_grad(self, h, y):
        logits = h @ self.W.T + self.b                       # (N, V)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        mask = y >= 0
        n = max(int(mask.sum()), 1)
        yy = np.where(mask, y, 0)
        loss = -np.sum(np.log(p[np.arange(len(y)), yy]) * mask) / n
        dlogits = p
        dlogits[np.arange(len(y)), yy] -= 1.0
        dlogits *= mask[:, None] / n
        return loss, dlogits @ self.W, {"W": dlogits.T @ h, "b": dlogits.sum(0)}


class ToyLM:
    def __init__(self, V, H, cell="rnn", nonlinearity="tanh", num_layers=1, dtype=np.float64, seed=0, **kw):
        rng = np.random.default_rng(seed)
        self.layer = rnnlab.make_layer(cell, V, H, nonlinearity=nonlinearity, num_layers=num_layers,
                                       dtype=dtype, seed=seed, **kw)
        self.output = SoftmaxReadout(V, H, dtype, rng)

    def embed(self, x):
        return x   # one-hot: the layer gathers columns of W_ih


def tokens(V, T, B, seed=0):
    rng = np.random.default_rng(seed)
    seq = rng.integers(0, V, size=(T + 1, B))
    return seq[:-1], seq[1:].copy()
