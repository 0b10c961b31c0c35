"""Finite differences (no torch) agree with every layer's analytic gradients, truncated ones included."""
import numpy as np
import pytest

from rnnlab.finite_differences import gradcheck, layer_gradcheck

CASES = [("rnn", "tanh"), ("rnn", "relu"), ("rnn", "sigmoid"), ("rnn", "linear"), ("lstm", "tanh"), ("gru", "tanh")]


@pytest.mark.parametrize("kind,nl", CASES)
@pytest.mark.parametrize("L", [1, 2])
@pytest.mark.parametrize("truncate", [None, 0, 2])
def test_layer_gradcheck(kind, nl, L, truncate):
    r = layer_gradcheck(kind, nl, num_layers=L, truncate=truncate, T=6, max_entries=40)
    assert r.passed, r.max_rel_error


def test_gradcheck_catches_a_wrong_gradient():
    params = {"w": np.array([1.0, -2.0, 0.5])}
    loss = lambda p: float(np.sum(p["w"] ** 3))
    good = {"w": 3 * params["w"] ** 2}
    assert gradcheck(loss, params, good).passed
    bad = {"w": good["w"] * np.array([1.0, 1.0, 1.001])}
    r = gradcheck(loss, params, bad)
    assert not r.passed and r.max_rel_error["w"] > 5e-4
