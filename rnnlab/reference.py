"""The tutorial's algorithm, step by step, in the tutorial's notation: the plain reference.

Model (one sentence at a time, one-hot words x_t, no biases):

    s_t = tanh(U x_t + W s_{t-1}),   s_{-1} = 0
    o_t = softmax(V s_t)
    E   = -sum_t log o_t[y_t]

Backpropagation through time with the tutorial's truncation ``bptt_truncate`` = k: for each output t,
the error delta_o = o_t - onehot(y_t) gives dE/dV += outer(delta_o, s_t); then

    delta = (V^T delta_o) * (1 - s_t^2)
    for step = t, t-1, ..., max(0, t-k):
        dE/dW += outer(delta, s_{step-1});   dE/dU[:, x_step] += delta
        delta = (W^T delta) * (1 - s_{step-1}^2)

This module imports nothing from the rest of rnnlab, so it can judge the fast path: tests check the
fast layers and language model against it, and the benchmarks use it as the baseline. It is written for
clarity, not speed (a Python loop over outputs and over steps, float64, one sentence per SGD step).
"""
from __future__ import annotations

import numpy as np


class TutorialRNN:
    """U: (hidden, vocab) input weights; W: (hidden, hidden) recurrent; V: (vocab, hidden) output."""

    def __init__(self, word_dim: int, hidden_dim: int = 100, bptt_truncate: int = 4, seed: int = 0):
        self.word_dim, self.hidden_dim, self.bptt_truncate = word_dim, hidden_dim, bptt_truncate
        rng = np.random.default_rng(seed)
        self.U = rng.uniform(-1 / np.sqrt(word_dim), 1 / np.sqrt(word_dim), (hidden_dim, word_dim))
        self.V = rng.uniform(-1 / np.sqrt(hidden_dim), 1 / np.sqrt(hidden_dim), (word_dim, hidden_dim))
        self.W = rng.uniform(-1 / np.sqrt(hidden_dim), 1 / np.sqrt(hidden_dim), (hidden_dim, hidden_dim))

    def forward(self, x):
        """x: list of word indices. Returns o (T, vocab) probabilities and s (T+1, hidden), s[-1] = 0."""
        T = len(x)
        s = np.zeros((T + 1, self.hidden_dim))  # the extra last row is s_{-1}
        o = np.zeros((T, self.word_dim))
        for t in range(T):
            # U x_t for a one-hot x_t is the column of U for word x[t]
            s[t] = np.tanh(self.U[:, x[t]] + self.W @ s[t - 1])
            z = self.V @ s[t]
            e = np.exp(z - z.max())
            o[t] = e / e.sum()
        return o, s

    def loss(self, x, y):
        """Cross-entropy summed over the sentence's words (E above)."""
        o, _ = self.forward(x)
        return -float(np.sum(np.log(o[np.arange(len(y)), y])))

    def bptt(self, x, y):
        """dE/dU, dE/dV, dE/dW with the tutorial's truncation."""
        T = len(y)
        o, s = self.forward(x)
        dU, dV, dW = np.zeros_like(self.U), np.zeros_like(self.V), np.zeros_like(self.W)
        delta_o = o.copy()
        delta_o[np.arange(T), y] -= 1.0
        for t in reversed(range(T)):
            dV += np.outer(delta_o[t], s[t])
            delta = (self.V.T @ delta_o[t]) * (1 - s[t] ** 2)
            for step in range(t, max(0, t - self.bptt_truncate) - 1, -1):
                dW += np.outer(delta, s[step - 1])
                dU[:, x[step]] += delta
                delta = (self.W.T @ delta) * (1 - s[step - 1] ** 2)
        return dU, dV, dW

    def sgd_step(self, x, y, learning_rate):
        """One SGD step on one sentence: U, V, W -= learning_rate * their ``bptt`` gradients."""
        dU, dV, dW = self.bptt(x, y)
        self.U -= learning_rate * dU
        self.V -= learning_rate * dV
        self.W -= learning_rate * dW

    def train(self, X, Y, learning_rate=0.005, epochs=1, evaluate_every=1, log=None):
        """SGD over sentences, halving the learning rate when the loss rises (the tutorial's rule).
        Returns the list of (epoch, mean loss per word)."""
        history = []
        n_words = sum(len(y) for y in Y)
        for epoch in range(epochs):
            if epoch % evaluate_every == 0:
                loss = sum(self.loss(x, y) for x, y in zip(X, Y)) / n_words
                if history and loss > history[-1][1]:
                    learning_rate *= 0.5
                history.append((epoch, loss))
                if log:
                    log(f"epoch {epoch}: loss {loss:.4f}, learning rate {learning_rate:g}")
            for x, y in zip(X, Y):
                self.sgd_step(x, y, learning_rate)
        return history
