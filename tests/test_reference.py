"""The tutorial's algorithm (rnnlab.reference) pins the semantics of the fast layers' truncation."""
import numpy as np
import pytest

import rnnlab
from rnnlab.reference import TutorialRNN


def fast_tutorial_grads(m: TutorialRNN, x, y, truncate):
    """The tutorial's model through rnnlab's RNN layer (one-hot input, zero biases) and a softmax."""
    V, H = m.word_dim, m.hidden_dim
    layer = rnnlab.RNN(V, H, dtype=np.float64)
    layer.params.update(weight_ih_l0=m.U.copy(), weight_hh_l0=m.W.copy(),
                        bias_ih_l0=np.zeros(H), bias_hh_l0=np.zeros(H))
    xi = np.asarray(x)[:, None]
    s, _, cache = layer.forward(xi)                      # (T, 1, H)
    z = s[:, 0] @ m.V.T
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dz = p.copy()
    dz[np.arange(len(y)), y] -= 1
    dV = dz.T @ s[:, 0]
    ds = (dz @ m.V)[:, None]
    _, _, g = layer.backward(cache, ds, truncate=truncate)
    return g["weight_ih_l0"], dV, g["weight_hh_l0"], g["bias_ih_l0"]


@pytest.mark.parametrize("k", [0, 1, 3, 4, 20])
def test_fast_layer_equals_tutorial_algorithm(k):
    rng = np.random.default_rng(k)
    m = TutorialRNN(word_dim=13, hidden_dim=6, bptt_truncate=k, seed=1)
    x = list(rng.integers(0, 13, size=11))
    x[3] = x[7]  # a repeated word accumulates into one column of U
    y = list(rng.integers(0, 13, size=11))
    dU, dV, dW = m.bptt(x, y)
    fU, fV, fW, fb = fast_tutorial_grads(m, x, y, truncate=k)
    np.testing.assert_allclose(fU, dU, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(fV, dV, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(fW, dW, rtol=1e-11, atol=1e-13)
    # the bias gradient is the sum of the deltas, i.e. the sum of dU's columns
    np.testing.assert_allclose(fb, dU.sum(1), rtol=1e-10, atol=1e-13)


def test_reference_bptt_full_matches_finite_differences():
    m = TutorialRNN(word_dim=7, hidden_dim=4, bptt_truncate=100, seed=0)
    x, y = [1, 4, 2, 6, 0], [4, 2, 6, 0, 3]
    dU, dV, dW = m.bptt(x, y)
    for name, g in (("U", dU), ("V", dV), ("W", dW)):
        P = getattr(m, name)
        num = np.zeros_like(P)
        for i in np.ndindex(P.shape):
            old = P[i]
            P[i] = old + 1e-6
            lp = m.loss(x, y)
            P[i] = old - 1e-6
            lm = m.loss(x, y)
            P[i] = old
            num[i] = (lp - lm) / 2e-6
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)


def test_reference_training_lowers_loss_and_halves_rate():
    rng = np.random.default_rng(0)
    X = [list(rng.integers(0, 5, 6)) for _ in range(20)]
    Y = [[(w + 1) % 5 for w in x] for x in X]  # next word is a deterministic function of this one
    m = TutorialRNN(word_dim=5, hidden_dim=8, bptt_truncate=2, seed=0)
    hist = m.train(X, Y, learning_rate=0.05, epochs=6)
    assert hist[-1][1] < 0.5 * hist[0][1]
