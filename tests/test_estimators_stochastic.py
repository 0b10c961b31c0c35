"""UORO and KF-RTRL are unbiased: the mean of K independent draws approaches RTRL's exact gradient with
an error that shrinks like 1/sqrt(K); KF-RTRL's variance is below UORO's. float64, fixed seeds."""
import numpy as np
import pytest

from rnnlab.estimators import make_estimator
from rnnlab.layers import make_layer

K = 10_000


def problem(kind, H=6, I=2, T=8, B=1, seed=0):
    layer = make_layer(kind, input_size=I, hidden_size=H, dtype=np.float64, seed=seed)
    rng = np.random.default_rng(seed + 10)
    return layer, rng.standard_normal((T, B, I)), rng.standard_normal((T, B, H))


def draws(name, layer, x, dout, k, seed=1):
    est = make_estimator(name, layer, draws=k, seed=seed)
    est.reset(x.shape[1])
    for t in range(x.shape[0]):
        est.step(x[t])
        est.learn(dout[t])
    g = est.draw_gradients()
    return np.concatenate([g[n].reshape(k, -1) for n in layer.params], axis=1)      # (k, P)


def exact(layer, x, dout):
    g = make_estimator("rtrl", layer).sequence_gradient(x, dout)
    return np.concatenate([g[n].reshape(-1) for n in layer.params])


@pytest.mark.parametrize("name,kind", [("uoro", "rnn"), ("uoro", "lstm"), ("uoro", "gru"), ("kf-rtrl", "rnn")])
def test_unbiased_mean_of_draws_approaches_rtrl(name, kind):
    layer, x, dout = problem(kind)
    g = draws(name, layer, x, dout, K)
    ref = exact(layer, x, dout)
    err = np.linalg.norm(g.mean(axis=0) - ref)
    # the standard error of the mean, in norm: sqrt(trace(Cov) / K)
    se = np.sqrt(g.var(axis=0, ddof=1).sum() / K)
    assert err <= 4 * se, (err, se)
    # the error shrinks like 1/sqrt(K): over 100 disjoint groups of 100 draws the RMS error is the
    # standard error at K = 100 (a bias would add to it and stop the shrinking)
    k = K // 100
    small = np.array([np.linalg.norm(g[i:i + k].mean(axis=0) - ref) for i in range(0, K, k)])
    rms = np.sqrt(np.mean(small ** 2))
    assert rms == pytest.approx(np.sqrt(g.var(axis=0, ddof=1).sum() / k), rel=0.2)
    assert rms > 3 * err


def test_kf_rtrl_variance_is_below_uoros():
    layer, x, dout = problem("rnn", H=8)
    var = {n: draws(n, layer, x, dout, 2000).var(axis=0).sum() for n in ("uoro", "kf-rtrl")}
    assert var["kf-rtrl"] < var["uoro"], var
