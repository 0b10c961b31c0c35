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
    forget = slice(8, 16)  # the LSTM's f block (gates i, f, g, o)
    for k, v in layer.params.items():
        assert v.dtype == np.float32
        if kind == "lstm" and k.startswith("bias"):
            # the default forget bias (Jozefowicz et al. 2015): 1 in bias_ih, 0 in bias_hh, the rest torch's
            np.testing.assert_array_equal(v[forget], 1.0 if k.startswith("bias_ih") else 0.0)
            v = np.delete(v, forget)
        assert np.all(np.abs(v) <= bound) and v.std() > bound / 3
    again = rnnlab.make_layer(kind, 4, 8, num_layers=2, dtype=np.float32, seed=0)
    for k in layer.params:
        np.testing.assert_array_equal(layer.params[k], again.params[k])


def test_lstm_forget_bias_none_is_torch_init_and_default_is_one():
    plain = rnnlab.LSTM(4, 8, 2, forget_bias=None, seed=3)
    default = rnnlab.LSTM(4, 8, 2, seed=3)
    assert rnnlab.layers.DEFAULT_FORGET_BIAS == 1.0
    for k, v in plain.params.items():
        assert np.all(np.abs(v) <= 1 / np.sqrt(8))
        w = default.params[k]
        if k.startswith("bias"):  # only the forget block differs
            np.testing.assert_array_equal(np.delete(v, slice(8, 16)), np.delete(w, slice(8, 16)))
            assert np.all(w[8:16] == (1.0 if k.startswith("bias_ih") else 0.0))
        else:
            np.testing.assert_array_equal(v, w)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_torch_argument_order(kind):
    """Positional arguments mean what they mean in torch: RNN(8, 16, 2) is two layers (rnnlab 0.2 read the
    third as the nonlinearity: "unknown nonlinearity 2"), RNN(8, 16, 2, "relu") a two-layer ReLU RNN."""
    cls = {"rnn": rnnlab.RNN, "lstm": rnnlab.LSTM, "gru": rnnlab.GRU}[kind]
    tcls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    args = (8, 16, 2, "relu") if kind == "rnn" else (8, 16, 2)
    ours, theirs = cls(*args), tcls(*args)
    assert (ours.input_size, ours.hidden_size, ours.num_layers) == (theirs.input_size, theirs.hidden_size, 2)
    assert {k: v.shape for k, v in ours.params.items()} == {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    if kind == "rnn":
        assert ours.nonlinearity == theirs.nonlinearity == "relu"
    # torch's keyword names, and its options at their defaults, are accepted as torch spells them
    kw = dict(input_size=8, hidden_size=16, num_layers=2, bias=True, batch_first=False, dropout=0.0,
              bidirectional=False)
    assert cls(**kw).num_layers == 2
    layer = rnnlab.make_layer(kind, 8, 16, 2)
    assert type(layer) is cls and layer.num_layers == 2


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("option,value,says", [("batch_first", True, "time-major"), ("bias", False, "bias"),
                                               ("dropout", 0.5, "dropout"), ("bidirectional", True, "bidirectional"),
                                               ("device", "cuda", "CPU")])
def test_torch_options_rnnlab_lacks_are_config_errors(kind, option, value, says):
    cls = {"rnn": rnnlab.RNN, "lstm": rnnlab.LSTM, "gru": rnnlab.GRU}[kind]
    with pytest.raises(ConfigError, match=says):
        cls(3, 4, **{option: value})
    if kind == "lstm":
        with pytest.raises(ConfigError, match="proj_size"):
            cls(3, 4, proj_size=2)


def malformed_states(kind, L, B, H, dtype):
    """(description, h0) pairs that are not a state of a (L, ., H) stack of ``kind`` for batch size B."""
    z = np.zeros((L, B, H), dtype)
    other = np.float32 if dtype == np.float64 else np.float64
    bad_arrays = [("wrong batch", np.zeros((L, B + 1, H), dtype)), ("no layer axis", np.zeros((B, H), dtype)),
                  ("wrong dtype", z.astype(other)), ("ints", z.astype(np.int64)), ("a list", z.tolist()),
                  ("a scalar", 0.0), ("a string", "zeros")]
    if kind != "lstm":
        return bad_arrays + [("a tuple (h, c)", (z, z)), ("a ragged tuple", (z, z[:, :1])), ("a 1-tuple", (z,))]
    forms = [("(h, None)", (z, None)), ("(None, c)", (None, z)), ("(None, None)", (None, None)),
             ("a single array", z), ("a 1-tuple", (z,)), ("a 3-tuple", (z, z, z)), ("a list [h, c]", [z, z])]
    forms += [(f"(h, {d})", (z, a)) for d, a in bad_arrays] + [(f"({d}, c)", (a, z)) for d, a in bad_arrays]
    return forms


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_malformed_h0_is_a_shape_error(kind):
    """Every malformed h0 raises ShapeError with a message (rnnlab 0.2: LSTM.forward(x, (h, None)) raised
    TypeError: 'NoneType' object is not subscriptable)."""
    L, B, H = 2, 3, 4
    layer = rnnlab.make_layer(kind, 5, H, num_layers=L, dtype=np.float64)
    x = np.zeros((6, B, 5))
    out, hn, cache = layer.forward(x)
    for what, h0 in malformed_states(kind, L, B, H, np.float64):
        with pytest.raises(ShapeError, match="h0") as e:
            layer.forward(x, h0)
        assert len(str(e.value).splitlines()) == 1, what
        if kind != "lstm" or not any(p is None for p in h0 if isinstance(h0, tuple)):
            with pytest.raises(ShapeError, match="dhn"):  # the same checks for dhn, where None entries are allowed
                layer.backward(cache, np.zeros_like(out), h0)
    if kind == "lstm":  # dhn's entries may be None: no gradient arrives at that part of the final state
        for dhn in ((hn[0], None), (None, hn[1]), (None, None)):
            layer.backward(cache, np.zeros_like(out), dhn)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_stacked_one_hot_input_has_no_dx(kind):
    """Integer (one-hot) input to a stack: backward's dx is None (rnnlab 0.2 returned the gradient of layer
    0's output, left over from layer 1, as dx)."""
    layer = rnnlab.make_layer(kind, 7, 4, num_layers=2, dtype=np.float64)
    idx = np.random.default_rng(0).integers(0, 7, size=(5, 3))
    out, _, cache = layer.forward(idx)
    dx, dh0, grads = layer.backward(cache, np.ones_like(out))
    assert dx is None
    dense = layer.forward(np.eye(7)[idx])[2]
    dx_dense, _, _ = layer.backward(dense, np.ones_like(out))
    assert dx_dense.shape == (5, 3, 7)


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
