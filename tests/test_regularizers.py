"""Pascanu et al.'s Omega: value and gradient against torch autograd (float64) and finite differences."""
import numpy as np
import pytest

import rnnlab
from rnnlab.errors import ConfigError, ShapeError
from rnnlab.finite_differences import gradcheck
from rnnlab.layers.rnn import activation_grad
from rnnlab.regularizers import omega, omega_terms, state_gradients

torch = pytest.importorskip("torch")

ACT = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu, "linear": lambda z: z}
FPRIME = {"tanh": lambda h: 1 - h * h, "sigmoid": lambda h: h * (1 - h), "relu": lambda h: (h > 0).double(),
          "linear": lambda h: torch.ones_like(h)}


def problem(nl, T=6, B=3, I=2, H=5, seed=0):
    rng = np.random.default_rng(seed)
    layer = rnnlab.RNN(I, H, nonlinearity=nl, dtype=np.float64, seed=seed)
    layer.params["weight_hh_l0"] *= 2.5          # a regime where the ratio is far from 1 either way
    x = rng.standard_normal((T, B, I))
    dout = rng.standard_normal((T, B, H))
    return layer, x, dout


def torch_omega(layer, x, dout, nl, hold_states, squared, bound=1e-20):
    """Omega built from torch's own dE/dh_t (E = sum_t dout_t . h_t), then differentiated by autograd with
    the error vectors detached (and the states too when ``hold_states``)."""
    P = {k: torch.tensor(v, requires_grad=True) for k, v in layer.params.items()}
    xt = torch.tensor(x)
    h = torch.zeros(x.shape[1], layer.hidden_size, dtype=torch.float64)
    hs = []
    for t in range(x.shape[0]):
        h = ACT[nl](xt[t] @ P["weight_ih_l0"].T + P["bias_ih_l0"] + h @ P["weight_hh_l0"].T + P["bias_hh_l0"])
        hs.append(h)
    E = sum((h_t * torch.tensor(d)).sum() for h_t, d in zip(hs, dout))
    deltas = [d.detach() for d in torch.autograd.grad(E, hs, retain_graph=True)]
    terms, count = [], 0
    for h_t, d in zip(hs, deltas):
        hh = h_t.detach() if hold_states else h_t
        u = (d * FPRIME[nl](hh)) @ P["weight_hh_l0"]
        n2, d2 = (u * u).sum(1), (d * d).sum(1)
        valid = d2 >= bound
        live = n2 > 0                             # the norm's kink at u = 0: zero gradient, as in rnnlab
        n = torch.where(live, torch.sqrt(torch.where(live, n2, torch.ones_like(n2))), torch.zeros_like(n2))
        r = n2 / d2 if squared else n / torch.sqrt(d2)
        terms.append(torch.where(valid, (r - 1) ** 2, torch.zeros_like(r)).sum())
        count += int(valid.sum())
    value = sum(terms) / count
    grads = torch.autograd.grad(value, list(P.values()), allow_unused=True)
    grads = {k: (np.zeros_like(layer.params[k]) if g is None else g.numpy()) for k, g in zip(P, grads)}
    return value.item(), grads, np.stack([d.numpy() for d in deltas])


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


@pytest.mark.parametrize("nl", ["tanh", "sigmoid", "relu"])
@pytest.mark.parametrize("hold_states", [True, False])
@pytest.mark.parametrize("squared", [False, True])
def test_omega_matches_torch_float64(nl, hold_states, squared):
    layer, x, dout = problem(nl, seed=len(nl))
    _, _, cache = layer.forward(x)
    r = omega(layer, cache, dout, hold_states=hold_states, squared=squared)
    value, grads, deltas = torch_omega(layer, x, dout, nl, hold_states, squared)
    delta, _, _ = state_gradients(layer, cache, dout)
    assert rel(delta, deltas) < 1e-12
    assert r.value == pytest.approx(value, rel=1e-12)
    assert r.n_terms == x.shape[0] * x.shape[1]
    for k in layer.params:
        assert r.grads[k].shape == layer.params[k].shape
        if hold_states and k != "weight_hh_l0":
            assert not np.any(r.grads[k]), f"{k}: the paper's gradient touches W_hh only"
        assert rel(r.grads[k], grads[k]) < 1e-10 or np.max(np.abs(grads[k])) == 0 == np.max(np.abs(r.grads[k])), k
    if not hold_states and nl != "relu":
        assert np.any(r.grads["weight_ih_l0"])


@pytest.mark.parametrize("nl", ["tanh", "sigmoid"])
@pytest.mark.parametrize("hold_states", [True, False])
@pytest.mark.parametrize("squared", [False, True])
def test_omega_matches_finite_differences(nl, hold_states, squared):
    layer, x, dout = problem(nl, T=5, B=2, seed=7)
    _, _, cache = layer.forward(x)
    r = omega(layer, cache, dout, hold_states=hold_states, squared=squared)
    delta, _, _ = state_gradients(layer, cache, dout)       # frozen error vectors
    hs_fixed = cache[0]["hs"][1:].copy()

    def omega_of(p):
        saved = layer.params
        layer.params = p
        try:
            hs = hs_fixed if hold_states else layer.forward(x)[0]
            u = (delta * activation_grad(nl, hs)) @ p["weight_hh_l0"]
            return omega_terms(u, delta, squared=squared)[0]
        finally:
            layer.params = saved

    res = gradcheck(omega_of, layer.params, r.grads, eps=1e-6, max_entries=None, tol=1e-6)
    assert res.passed, res.max_rel_error


def test_omega_known_values():
    layer = rnnlab.RNN(3, 4, nonlinearity="linear", dtype=np.float64, init="orthogonal", seed=1)
    rng = np.random.default_rng(0)
    x, dout = rng.standard_normal((5, 2, 3)), rng.standard_normal((5, 2, 4))
    _, _, cache = layer.forward(x)
    r = omega(layer, cache, dout)                 # orthogonal W, linear units: every norm preserved
    assert r.value == pytest.approx(0.0, abs=1e-20)
    assert np.max(np.abs(r.grads["weight_hh_l0"])) < 1e-12
    layer.params["weight_hh_l0"][...] = 0.5 * np.eye(4)
    _, _, cache = layer.forward(x)
    assert omega(layer, cache, dout).value == pytest.approx(0.25)                 # (0.5 - 1)^2
    assert omega(layer, cache, dout, squared=True).value == pytest.approx(0.5625)  # (0.25 - 1)^2


def test_omega_skips_steps_without_error_signal():
    layer, x, _ = problem("tanh")
    layer.params["weight_hh_l0"][...] = 0.0       # no path back: delta_t = dout_t
    dout = np.zeros((6, 3, 5))
    dout[-1] = 1.0
    _, _, cache = layer.forward(x)
    r = omega(layer, cache, dout)
    assert r.n_terms == 3
    assert r.value == pytest.approx(1.0)          # u = 0 with W = 0: (0 - 1)^2
    r0 = omega(layer, cache, np.zeros_like(dout))
    assert r0.n_terms == 0 and r0.value == 0.0 and not np.any(r0.grads["weight_hh_l0"])


def test_dhn_enters_the_last_error_vector():
    layer, x, dout = problem("tanh")
    _, _, cache = layer.forward(x)
    dhn = np.random.default_rng(1).standard_normal((1, 3, 5))
    delta, _, _ = state_gradients(layer, cache, dout, dhn)
    delta0, _, _ = state_gradients(layer, cache, dout)
    np.testing.assert_allclose(delta[-1] - delta0[-1], dhn[0])
    with pytest.raises(ShapeError):
        state_gradients(layer, cache, dout, np.zeros((1, 2, 5)))


def test_omega_rejects_other_layers():
    x = np.zeros((3, 2, 2))
    for layer in (rnnlab.LSTM(2, 3, dtype=np.float64), rnnlab.GRU(2, 3, dtype=np.float64),
                  rnnlab.RNN(2, 3, num_layers=2, dtype=np.float64)):
        _, _, cache = layer.forward(x)
        with pytest.raises(ConfigError):
            omega(layer, cache, np.zeros((3, 2, 3)))
    layer = rnnlab.RNN(2, 3, dtype=np.float64)
    _, _, cache = layer.forward(x)
    with pytest.raises(ShapeError):
        omega(layer, cache, np.zeros((3, 2, 4)))
