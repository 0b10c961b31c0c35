"""Recurrent (variational) dropout, Gal & Ghahramani 2016 (rnnlab.dropout): one mask per sequence on the
state entering W_hh. With the masks fixed, the gradients of every cell, two layers, full and truncated BPTT,
against torch autograd (float64, the masked recurrence written out in torch) and finite differences; the
path without masks unchanged; off without a key; the non-recurrent masks unchanged by adding it."""
import numpy as np
import pytest

from rnnlab.dropout import draw_masks
from rnnlab.errors import ConfigError
from rnnlab.finite_differences import layer_gradcheck
from rnnlab.layers import make_layer
from rnnlab.lm import LanguageModel, ModelConfig

CELLS = ["gru", "lstm", "rnn"]


def masks_hh(seed, B, H, L, p=0.4):
    m = draw_masks(0.0, seed, B, None, H, L, np.float64, p).recurrent
    assert all((mi == 0).any() and (mi != 0).any() for mi in m)   # a test that can fail: some units dropped
    return m


# -- the torch oracle: the masked recurrence written out step by step ---------------------------------------

def torch_step(torch, kind, P, l, x_t, state, m):
    """One step of layer l; W_hh reads m * h_{t-1}, everything else the whole state."""
    W_ih, W_hh, b_ih, b_hh = (P[f"{n}_l{l}"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
    h = state[0] if kind == "lstm" else state
    gh = (h * m) @ W_hh.T + b_hh
    gi = x_t @ W_ih.T + b_ih
    if kind == "rnn":
        return torch.tanh(gi + gh)
    if kind == "lstm":
        i, f, g, o = (gi + gh).chunk(4, dim=-1)
        c = torch.sigmoid(f) * state[1] + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c
    ir, iz, inn = gi.chunk(3, dim=-1)
    hr, hz, hn = gh.chunk(3, dim=-1)
    r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
    return (1 - z) * torch.tanh(inn + r * hn) + z * h          # the bypass keeps the whole h_{t-1}


def torch_layer(torch, kind, P, l, xs, s0, m, truncate):
    """Outputs of layer l; with ``truncate=k`` output t is recomputed over steps t-k..t from the detached
    true state entering step t-k (or s0): the function whose gradient truncated BPTT computes."""
    states, s = [], s0
    for x_t in xs:
        s = torch_step(torch, kind, P, l, x_t, s, m)
        states.append(s)
    if truncate is None:
        return states
    outs = []
    for t in range(len(xs)):
        start = t - truncate
        if start <= 0:
            s, start = s0, 0
        else:
            prev = states[start - 1]
            s = (prev[0].detach(), prev[1].detach()) if kind == "lstm" else prev.detach()
        for u in range(start, t + 1):
            s = torch_step(torch, kind, P, l, xs[u], s, m)
        outs.append(s)
    return outs


@pytest.mark.parametrize("truncate", [None, 0, 2])
@pytest.mark.parametrize("kind", CELLS)
def test_layer_gradients_with_a_fixed_recurrent_mask_match_torch(kind, truncate):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    T, B, I, H, L = 6, 3, 4, 5, 2
    layer = make_layer(kind, I, H, num_layers=L, dtype=np.float64, seed=1)
    x, dout = rng.standard_normal((T, B, I)), rng.standard_normal((T, B, H))
    lstm = kind == "lstm"
    st = lambda: rng.standard_normal((L, B, H))
    h0, dhn = ((st(), st()), (st(), st())) if lstm else (st(), st())
    m_hh = masks_hh(2, B, H, L)
    m_in = [None, draw_masks(0.3, 9, B, None, H, L, np.float64).layers[1]]   # and dropout between layers
    out, hn, cache = layer.forward(x, h0, m_in, m_hh)
    dx, dh0, grads = layer.backward(cache, dout, dhn, truncate=truncate)

    tt = lambda a: torch.from_numpy(np.ascontiguousarray(a))
    P = {k: tt(v).clone().requires_grad_(True) for k, v in layer.params.items()}
    xt = tt(x).clone().requires_grad_(True)
    h0t = tuple(tt(a).clone().requires_grad_(True) for a in h0) if lstm else tt(h0).clone().requires_grad_(True)
    xs, finals = list(xt.unbind(0)), []
    for l in range(L):
        if l > 0:
            xs = [v * tt(m_in[l]) for v in xs]
        s0 = (h0t[0][l], h0t[1][l]) if lstm else h0t[l]
        outs = torch_layer(torch, kind, P, l, xs, s0, tt(m_hh[l]), truncate)
        finals.append(outs[-1])
        xs = [o[0] for o in outs] if lstm else outs
    ref_out = torch.stack(xs)
    loss = (ref_out * tt(dout)).sum()
    if lstm:
        ref_hn = (torch.stack([f[0] for f in finals]), torch.stack([f[1] for f in finals]))
        loss = loss + (ref_hn[0] * tt(dhn[0])).sum() + (ref_hn[1] * tt(dhn[1])).sum()
    else:
        ref_hn = torch.stack(finals)
        loss = loss + (ref_hn * tt(dhn)).sum()
    loss.backward()

    np.testing.assert_allclose(out, ref_out.detach().numpy(), rtol=1e-12, atol=1e-14)
    for ours, ref in zip(hn if lstm else (hn,), ref_hn if lstm else (ref_hn,)):
        np.testing.assert_allclose(ours, ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg="dx")
    for ours, ref in zip(dh0 if lstm else (dh0,), h0t if lstm else (h0t,)):
        np.testing.assert_allclose(ours, ref.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg="dh0")
    for k, p in P.items():
        np.testing.assert_allclose(grads[k], p.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("truncate", [None, 0, 2])
@pytest.mark.parametrize("kind", CELLS)
def test_layer_gradients_with_a_fixed_recurrent_mask_match_finite_differences(kind, truncate):
    r = layer_gradcheck(kind, num_layers=2, truncate=truncate, T=6, B=3, seed=4, dropout_recurrent=0.4,
                        max_entries=30)
    assert r.passed, r.max_rel_error
    masks_hh(4, 3, 4, 2)                       # the masks the check used dropped some units and kept some


@pytest.mark.parametrize("kind", CELLS)
def test_a_wrong_mask_in_backward_is_caught(kind):
    """The checks above can fail: a mask left out of the backward (the forward masked) is far off."""
    rng = np.random.default_rng(0)
    layer = make_layer(kind, 3, 4, num_layers=1, dtype=np.float64, seed=0)
    x, dout = rng.standard_normal((5, 3, 3)), rng.standard_normal((5, 3, 4))
    m = masks_hh(1, 3, 4, 1)
    _, _, cache = layer.forward(x, None, None, m)
    good = layer.backward(cache, dout)[2]["weight_hh_l0"]
    del cache[0]["mask_hh"]
    bad = layer.backward(cache, dout)[2]["weight_hh_l0"]
    assert np.abs(good - bad).max() > 1e-3 * np.abs(good).max()


@pytest.mark.parametrize("kind", CELLS)
def test_no_mask_path_is_unchanged_and_an_all_ones_mask_equals_it(kind):
    rng = np.random.default_rng(3)
    layer = make_layer(kind, 3, 6, num_layers=2, dtype=np.float64, seed=2)
    x, dout = rng.standard_normal((7, 4, 3)), rng.standard_normal((7, 4, 6))
    ref_out, ref_hn, cache = layer.forward(x)
    ref = layer.backward(cache, dout, truncate=2)
    assert all("mask_hh" not in c for c in cache)                  # nothing added to the plain path
    out, _, cache = layer.forward(x, None, None, [None, None])
    assert np.array_equal(out, ref_out) and all("mask_hh" not in c for c in cache)
    ones = [np.ones((4, 6)), np.ones((4, 6))]
    out, hn, cache = layer.forward(x, None, None, ones)
    np.testing.assert_allclose(out, ref_out, rtol=1e-14, atol=1e-15)
    for truncate in (None, 2):
        _, _, cache = layer.forward(x, None, None, ones)
        got = layer.backward(cache, dout, truncate=truncate)[2]
        want = ref[2] if truncate == 2 else layer.backward(layer.forward(x)[2], dout)[2]
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-13, atol=1e-15, err_msg=k)


# -- the language model -------------------------------------------------------------------------------------

@pytest.mark.parametrize("truncate", [None, 1])
@pytest.mark.parametrize("kind", CELLS)
def test_lm_gradient_with_both_dropouts_matches_torch(kind, truncate):
    torch = pytest.importorskip("torch")
    from torch_oracle import assert_lm_matches
    rng = np.random.default_rng(0)
    V, H, E, L, B = 11, 5, 4, 2, 3
    lm = LanguageModel(V, H, cell=kind, embedding_size=E, num_layers=L, dtype=np.float64, seed=3, dropout=0.3,
                       dropout_recurrent=0.4)
    x, y = rng.integers(0, V, (6, B)), rng.integers(0, V, (6, B))
    y[4:, 0] = -1
    key = (7, 12)
    loss, grads = lm.loss_and_grads(x, y, truncate=truncate, dropout_key=key)
    m = draw_masks(0.3, key, B, E, H, L, np.float64, 0.4)
    assert all((r == 0).any() for r in m.recurrent)
    tt = lambda a: torch.from_numpy(np.ascontiguousarray(a))
    P = {k: tt(v).clone().requires_grad_(True) for k, v in lm.params.items()}
    R = {k[len("rnn."):]: v for k, v in P.items() if k.startswith("rnn.")}
    xs = list((P["encoder.weight"][tt(x)] * tt(m.input)).unbind(0))
    lstm = kind == "lstm"
    for l in range(L):
        if l > 0:
            xs = [v * tt(m.layers[l]) for v in xs]
        z0 = torch.zeros(B, H, dtype=torch.float64)
        outs = torch_layer(torch, kind, R, l, xs, (z0, z0) if lstm else z0, tt(m.recurrent[l]), truncate)
        xs = [o[0] for o in outs] if lstm else outs
    z = (torch.stack(xs) * tt(m.output)) @ P["decoder.weight"].T + P["decoder.bias"]
    assert_lm_matches(loss, grads, z, y, P)


def test_recurrent_dropout_leaves_the_other_masks():
    """(Off without a key and seeded with one: test_dropout.py, for both kinds of dropout.)"""
    both, plain = draw_masks(0.3, (4, 5), 8, 3, 6, 2, np.float32, 0.2), draw_masks(0.3, (4, 5), 8, 3, 6, 2, np.float32)
    assert plain.recurrent is None and len(both.recurrent) == 2 and both.recurrent[1].shape == (8, 6)
    assert np.array_equal(both.input, plain.input) and np.array_equal(both.output, plain.output)
    assert np.array_equal(both.layers[1], plain.layers[1])
    only = draw_masks(0.0, (4, 5), 8, 3, 6, 2, np.float32, 0.2)
    assert only.input is None and only.output is None and only.layers == [None, None]
    assert np.array_equal(only.recurrent[0], both.recurrent[0])


def test_old_configurations_read_as_no_recurrent_dropout():
    d = LanguageModel(10, 4, dropout=0.2).config.to_dict()
    del d["dropout_recurrent"]                 # a checkpoint written before the setting existed
    assert ModelConfig.from_dict(d).dropout_recurrent == 0.0


@pytest.mark.parametrize("p", [1.0, 1.5, -0.1])
def test_bad_recurrent_dropout_is_a_config_error(p):
    with pytest.raises(ConfigError, match="--dropout-recurrent"):
        LanguageModel(10, 4, dropout_recurrent=p)
