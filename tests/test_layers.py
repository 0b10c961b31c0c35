"""Layers against torch autograd: forward values, dx, dh0 and every parameter gradient."""
import numpy as np
import pytest

import rnnlab
from rnnlab.errors import ConfigError, ShapeError

torch = pytest.importorskip("torch")
from torch_oracle import reference_grads  # noqa: E402

KINDS = [("rnn", "tanh"), ("rnn", "relu"), ("rnn", "sigmoid"), ("rnn", "linear"), ("lstm", None), ("gru", None)]


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30)) if b.size else 0.0


def random_problem(kind, nl, L, T, B, I, H, dtype, seed):
    rng = np.random.default_rng(seed)
    layer = rnnlab.make_layer(kind, I, H, nonlinearity=nl or "tanh", num_layers=L, dtype=dtype, seed=seed)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    dout = rng.standard_normal((T, B, H)).astype(dtype)
    st = lambda: rng.standard_normal((L, B, H)).astype(dtype)
    h0, dhn = ((st(), st()), (st(), st())) if kind == "lstm" else (st(), st())
    return layer, x, h0, dout, dhn


def compare(kind, nl, layer, x, h0, dout, dhn, truncate, tol):
    out, hn, cache = layer.forward(x, h0)
    dx, dh0, grads = layer.backward(cache, dout, dhn, truncate=truncate)
    r_out, r_hn, r_dx, r_dh0, r_grads = reference_grads(kind, nl or "tanh", layer.params, x, h0, dout, dhn,
                                                         truncate=truncate)
    checks = {"out": (out, r_out), "dx": (dx, r_dx)}
    if kind == "lstm":
        checks.update(hn_h=(hn[0], r_hn[0]), hn_c=(hn[1], r_hn[1]), dh0=(dh0[0], r_dh0[0]), dc0=(dh0[1], r_dh0[1]))
    else:
        checks.update(hn=(hn, r_hn), dh0=(dh0, r_dh0))
    checks.update({k: (grads[k], r_grads[k]) for k in layer.params})
    for name, (ours, theirs) in checks.items():
        assert np.asarray(ours).dtype == layer.dtype, f"{name} dtype {np.asarray(ours).dtype}"
        err = rel(ours, theirs)
        assert err <= tol, f"{kind}/{nl} {name}: rel err {err:.2e} > {tol:.0e}\nours {ours}\ntorch {theirs}"
    assert set(grads) == set(layer.params)
    for k in grads:
        assert grads[k].shape == layer.params[k].shape


@pytest.mark.parametrize("kind,nl", KINDS)
@pytest.mark.parametrize("L", [1, 2])
@pytest.mark.parametrize("trial", range(3))
def test_full_bptt_matches_torch_float64(kind, nl, L, trial):
    rng = np.random.default_rng(100 + trial)
    # T=1 and B=1 edge cases, then a random shape
    T, B = [(1, 1), (6, 1), (int(rng.integers(2, 12)), int(rng.integers(2, 5)))][trial]
    I, H = int(rng.integers(1, 7)), int(rng.integers(1, 7))
    problem = random_problem(kind, nl, L, T, B, I, H, np.float64, seed=trial)
    compare(kind, nl, *problem, truncate=None, tol=1e-9)


@pytest.mark.parametrize("kind,nl", KINDS)
@pytest.mark.parametrize("L", [1, 2])
def test_full_bptt_matches_torch_float32(kind, nl, L):
    problem = random_problem(kind, nl, L, T=8, B=3, I=5, H=6, dtype=np.float32, seed=7)
    compare(kind, nl, *problem, truncate=None, tol=1e-4)


@pytest.mark.parametrize("kind,nl", KINDS)
@pytest.mark.parametrize("L", [1, 2])
@pytest.mark.parametrize("k", ["0", "1", "3", "T-1", "T+5"])
def test_truncation_matches_detach_definition(kind, nl, L, k):
    T = 10  # not a multiple of 3
    k = {"0": 0, "1": 1, "3": 3, "T-1": T - 1, "T+5": T + 5}[k]
    problem = random_problem(kind, nl, L, T=T, B=2, I=3, H=4, dtype=np.float64, seed=11 + L)
    compare(kind, nl, *problem, truncate=k, tol=1e-9)


def test_truncation_float32():
    problem = random_problem("lstm", None, 2, T=11, B=3, I=3, H=4, dtype=np.float32, seed=3)
    compare("lstm", None, *problem, truncate=3, tol=1e-4)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_one_hot_input_equals_dense_one_hot(kind):
    rng = np.random.default_rng(0)
    V, H, T, B = 11, 5, 6, 3
    layer = rnnlab.make_layer(kind, V, H, dtype=np.float64, seed=2)
    idx = rng.integers(0, V, size=(T, B))
    idx[0, 0] = idx[1, 0]  # repeated word: its column must accumulate both steps
    dense = np.eye(V)[idx]
    dout = rng.standard_normal((T, B, H))
    out_i, _, c_i = layer.forward(idx)
    out_d, _, c_d = layer.forward(dense)
    np.testing.assert_allclose(out_i, out_d, rtol=1e-12, atol=1e-14)
    for trunc in (None, 2):
        dx_i, _, g_i = layer.backward(c_i, dout, truncate=trunc)
        _, _, g_d = layer.backward(c_d, dout, truncate=trunc)
        assert dx_i is None
        for k in g_i:
            np.testing.assert_allclose(g_i[k], g_d[k], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_torch_load_state_dict_and_default_init(kind):
    layer = rnnlab.make_layer(kind, 4, 8, num_layers=2, dtype=np.float32, seed=0)
    mod = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](4, 8, 2)
    mod.load_state_dict({k: torch.from_numpy(v) for k, v in layer.params.items()})
    bound = 1 / np.sqrt(8)
    for v in layer.params.values():
        assert v.dtype == np.float32 and np.all(np.abs(v) <= bound) and v.std() > bound / 3
    again = rnnlab.make_layer(kind, 4, 8, num_layers=2, dtype=np.float32, seed=0)
    for k in layer.params:
        np.testing.assert_array_equal(layer.params[k], again.params[k])


def test_h0_none_is_zeros_and_dtype_preserved():
    layer = rnnlab.LSTM(3, 4, dtype=np.float32)
    x = np.ones((5, 2, 3), np.float32)
    out1, (h1, c1), _ = layer.forward(x)
    z = np.zeros((1, 2, 4), np.float32)
    out2, _, _ = layer.forward(x, (z, z))
    np.testing.assert_array_equal(out1, out2)
    assert out1.dtype == h1.dtype == c1.dtype == np.float32


def test_bad_arguments_raise_typed_errors():
    with pytest.raises(ConfigError):
        rnnlab.RNN(3, 0)
    with pytest.raises(ConfigError):
        rnnlab.RNN(3, 4, nonlinearity="softplus")
    layer = rnnlab.GRU(3, 4, dtype=np.float64)
    with pytest.raises(ShapeError):
        layer.forward(np.zeros((5, 2, 4)))
    with pytest.raises(ShapeError):
        layer.forward(np.zeros((5, 2, 3), np.float32))
    out, hn, cache = layer.forward(np.zeros((5, 2, 3)))
    with pytest.raises(ConfigError):
        layer.backward(cache, np.zeros_like(out), truncate=-1)
    with pytest.raises(ShapeError):
        layer.backward(cache, np.zeros((4, 2, 4)))
