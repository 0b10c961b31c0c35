"""Dropout (rnnlab.dropout): with the masks fixed, the gradient against torch autograd (float64) and finite
differences; off without a key (evaluation, sampling, diagnosis); seeded; variational (one mask per sequence)."""
import numpy as np
import pytest

from rnnlab.dropout import draw_masks
from rnnlab.errors import ConfigError
from rnnlab.lm import LanguageModel

torch = pytest.importorskip("torch")
from torch_oracle import assert_lm_matches  # noqa: E402


def t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
def test_dropout_gradient_matches_torch_with_the_same_masks(cell):
    rng = np.random.default_rng(0)
    V, H, E, L = 11, 5, 4, 2
    lm = LanguageModel(V, H, cell=cell, embedding_size=E, num_layers=L, dtype=np.float64, seed=3, dropout=0.4)
    x, y = rng.integers(0, V, (6, 3)), rng.integers(0, V, (6, 3))
    y[4:, 0] = -1
    key = (7, 12)
    loss, grads = lm.loss_and_grads(x, y, dropout_key=key)
    m = draw_masks(0.4, key, 3, E, H, L, np.float64)
    assert (m.output == 0).any() and (m.input == 0).any()
    P = {k: torch.tensor(v, requires_grad=True) for k, v in lm.params.items()}
    mods = []
    for l in range(L):
        cls = {"gru": torch.nn.GRU, "lstm": torch.nn.LSTM, "rnn": torch.nn.RNN}[cell]
        mods.append(cls(E if l == 0 else H, H, dtype=torch.float64))   # run with rnnlab's weights below
    inp = P["encoder.weight"][t(x)] * t(m.input)
    for l in range(L):
        if l > 0:
            inp = inp * t(m.layers[l])
        w = {f"{n}_l0": P[f"rnn.{n}_l{l}"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
        inp, _ = torch.func.functional_call(mods[l], w, (inp,))
    z = (inp * t(m.output)) @ P["decoder.weight"].T + P["decoder.bias"]
    assert_lm_matches(loss, grads, z, y, P)


def test_dropout_gradient_matches_finite_differences_class_output():
    rng = np.random.default_rng(1)
    lm = LanguageModel(12, 4, cell="gru", embedding_size=4, num_layers=2, output="class", n_classes=3,
                       dtype=np.float64, seed=2, dropout=0.5, tie=True)
    x, y = rng.integers(0, 12, (5, 2)), rng.integers(0, 12, (5, 2))
    key = (0, 3)
    _, grads = lm.loss_and_grads(x, y, dropout_key=key)
    for name in ("encoder.weight", "rnn.weight_ih_l1", "rnn.weight_hh_l0", "class_decoder.weight"):
        p = lm.params[name].reshape(-1)
        for i in rng.choice(p.size, 4, replace=False):
            old = p[i]
            p[i] = old + 1e-6
            lp = lm.forward_backward(x, y, need_grad=False, dropout_key=key)[0]
            p[i] = old - 1e-6
            lm_ = lm.forward_backward(x, y, need_grad=False, dropout_key=key)[0]
            p[i] = old
            assert abs((lp - lm_) / 2e-6 - grads[name].reshape(-1)[i]) <= 1e-8, (name, i)


@pytest.mark.parametrize("kw", [{"dropout": 0.5}, {"cell": "lstm", "dropout_recurrent": 0.5}])
def test_dropout_is_off_without_a_key_and_seeded_with_one(kw):
    """Both kinds of dropout (the non-recurrent masks, and the recurrent one of test_dropout_recurrent.py)."""
    rng = np.random.default_rng(2)
    a = LanguageModel(10, 6, embedding_size=3, dtype=np.float64, seed=1, **kw)
    b = LanguageModel(10, 6, embedding_size=3, dtype=np.float64, seed=1, cell=kw.get("cell", "rnn"))
    x, y = rng.integers(0, 10, (4, 3)), rng.integers(0, 10, (4, 3))
    assert a.loss(x, y)[0] == b.loss(x, y)[0]                         # evaluation: no dropout
    assert np.array_equal(a.log_probs(x)[0], b.log_probs(x)[0])
    l1 = a.forward_backward(x, y, dropout_key=(0, 1))[0]
    assert l1 == a.forward_backward(x, y, dropout_key=(0, 1))[0]     # seeded
    assert l1 != a.forward_backward(x, y, dropout_key=(0, 2))[0] != b.loss(x, y)[0]


def test_masks_are_per_sequence_and_scaled():
    m = draw_masks(0.3, (1, 2), 400, 50, 60, 3, np.float32)
    assert m.input.shape == (400, 50) and m.output.shape == (400, 60) and m.layers[0] is None
    assert len(m.layers) == 3 and m.layers[2].shape == (400, 60)
    assert set(np.unique(m.output)) == {0.0, np.float32(1 / 0.7)}
    assert abs((m.output == 0).mean() - 0.3) < 0.02


@pytest.mark.parametrize("p", [1.0, 1.5, -0.1])
def test_bad_dropout_is_a_config_error(p):
    with pytest.raises(ConfigError, match="--dropout"):
        LanguageModel(10, 4, dropout=p)
