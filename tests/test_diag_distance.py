"""Gradient by distance against torch autograd (float64): every part dL_t/ds_{t-d}, their sums, and the
d-steps-back terms of dL/dW_hh (torch: a separate copy of W_hh per step)."""
import numpy as np
import pytest

import rnnlab
from rnnlab.diagnostics import decay_distance, gradient_by_distance, lag_sweep, layer_output_grads
from rnnlab.errors import ShapeError

torch = pytest.importorskip("torch")
from torch_oracle import cell_step, t  # noqa: E402

KINDS = [("rnn", "tanh"), ("rnn", "sigmoid"), ("rnn", "relu"), ("lstm", None), ("gru", None)]


def problem(kind, nl, T=7, B=3, I=3, H=4, L=1, seed=0):
    rng = np.random.default_rng(seed)
    layer = rnnlab.make_layer(kind, I, H, nonlinearity=nl or "tanh", num_layers=L, dtype=np.float64, seed=seed)
    x = rng.standard_normal((T, B, I))
    dout = rng.standard_normal((T, B, H))
    return layer, x, dout


def torch_states(kind, nl, params, x, l=0, per_step_w=False):
    """States s_0 (= zeros) .. s_T of one layer as torch tensors; optionally with a separate leaf copy of
    W_hh for every step (returned as a list)."""
    P = {k: t(v) for k, v in params.items()}
    T, B = x.shape[:2]
    H = params[f"weight_hh_l{l}"].shape[1]
    z = lambda: torch.zeros(B, H, dtype=torch.float64)
    s = (z(), z()) if kind == "lstm" else z()
    states, Ws = [s], []
    for u in range(T):
        Pu = P
        if per_step_w:
            W = P[f"weight_hh_l{l}"].clone().requires_grad_(True)
            Ws.append(W)
            Pu = {**P, f"weight_hh_l{l}": W}
        s = cell_step(kind, nl or "tanh", Pu, l, t(x[u]), s)
        states.append(s)
    return states, Ws


def h_of(s, kind):
    return s[0] if kind == "lstm" else s


def cut_grads(kind, nl, params, x, dout, u, ts):
    """d(sum_{t in ts} L_t)/ds_u with the state s_u = (h_u[, c_u]) cut out of the graph as fresh leaves,
    i.e. as the independent argument of the rest of the computation (for an LSTM, dL/dc_u then excludes
    the path c_u -> h_u inside step u, which belongs to h_u)."""
    P = {k: t(v) for k, v in params.items()}
    B, H = x.shape[1], params["weight_hh_l0"].shape[1]
    zero = torch.zeros(B, H, dtype=torch.float64)
    s = (zero, zero) if kind == "lstm" else zero
    with torch.no_grad():
        for v in range(u):
            s = cell_step(kind, nl or "tanh", P, 0, t(x[v]), s)
    leaves = tuple(p.clone().requires_grad_(True) for p in (s if kind == "lstm" else (s,)))
    s = leaves if kind == "lstm" else leaves[0]
    L = torch.zeros((), dtype=torch.float64)
    if u - 1 in ts:                              # the output at state u itself (distance 0)
        L = L + (h_of(s, kind) * t(dout[u - 1])).sum()
    for v in range(u, x.shape[0]):
        s = cell_step(kind, nl or "tanh", P, 0, t(x[v]), s)
        if v in ts:
            L = L + (h_of(s, kind) * t(dout[v])).sum()
    gs = torch.autograd.grad(L, leaves, allow_unused=True)
    return [np.zeros((B, H)) if g is None else g.numpy() for g in gs]


@pytest.mark.parametrize("kind,nl", KINDS)
def test_each_part_matches_torch(kind, nl):
    layer, x, dout = problem(kind, nl)
    T = x.shape[0]
    _, _, cache = layer.forward(x)
    sweep = {lag.d: lag for lag in lag_sweep(layer.cell, cache[0], layer.params["weight_hh_l0"], np.arange(T), dout)}
    checked = 0
    for t_ in (0, 3, T - 1):
        for d in range(0, t_ + 2):
            u = t_ + 1 - d
            g = cut_grads(kind, nl, layer.params, x, dout, u, {t_})
            lag = sweep[d]
            row = int(np.flatnonzero(lag.rows == t_)[0])
            assert lag.state[row] == u
            np.testing.assert_allclose(lag.uh[row], g[0], rtol=1e-10, atol=1e-13)
            if kind == "lstm":
                np.testing.assert_allclose(0 if lag.uc is None else lag.uc[row], g[1], rtol=1e-10, atol=1e-13)
            checked += 1
    assert checked == sum(t_ + 2 for t_ in (0, 3, T - 1))


@pytest.mark.parametrize("kind,nl", KINDS)
def test_parts_sum_to_full_bptt_state_gradient(kind, nl):
    """sum_d dL_{u-1+d}/ds_u = dL/ds_u for every state u (u = 0: the layer's dh0)."""
    layer, x, dout = problem(kind, nl, T=6, seed=1)
    T, B, H = dout.shape
    _, _, cache = layer.forward(x)
    tot_h = np.zeros((T + 1, B, H))
    tot_c = np.zeros((T + 1, B, H))
    for lag in lag_sweep(layer.cell, cache[0], layer.params["weight_hh_l0"], np.arange(T), dout):
        np.add.at(tot_h, lag.state, lag.uh)
        if lag.uc is not None:
            np.add.at(tot_c, lag.state, lag.uc)
    for u in range(T + 1):
        g = cut_grads(kind, nl, layer.params, x, dout, u, set(range(T)))
        np.testing.assert_allclose(tot_h[u], g[0], rtol=1e-10, atol=1e-13)
        if kind == "lstm":
            np.testing.assert_allclose(tot_c[u], g[1], rtol=1e-10, atol=1e-13)
    _, dh0, _ = layer.backward(cache, dout)
    np.testing.assert_allclose(tot_h[0], (dh0[0] if kind == "lstm" else dh0)[0], rtol=1e-10, atol=1e-13)
    if kind == "lstm":
        np.testing.assert_allclose(tot_c[0], dh0[1][0], rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("kind,nl", KINDS)
def test_weight_terms_by_distance_match_torch(kind, nl):
    layer, x, dout = problem(kind, nl, T=6, seed=2)
    T = x.shape[0]
    _, _, cache = layer.forward(x)
    prof = gradient_by_distance(layer, cache, dout)[0]
    states, Ws = torch_states(kind, nl, layer.params, x, per_step_w=True)
    terms = [np.zeros(layer.params["weight_hh_l0"].shape) for _ in range(T)]
    for t_ in range(T):
        L_t = (h_of(states[t_ + 1], kind) * t(dout[t_])).sum()
        gs = torch.autograd.grad(L_t, Ws[: t_ + 1], retain_graph=True)
        for s, g in enumerate(gs):
            terms[t_ - s] += g.numpy()
    want = np.array([np.linalg.norm(m) for m in terms])
    np.testing.assert_allclose(prof.weight_grad_norm[:T], want, rtol=1e-10, atol=1e-14)
    assert prof.weight_grad_norm[T] == 0.0    # no step lies T steps before any output
    np.testing.assert_allclose(prof.weight_grad_sum, sum(terms), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("kind,nl", KINDS)
def test_weight_terms_up_to_k_are_the_truncated_gradient(kind, nl):
    layer, x, dout = problem(kind, nl, T=9, seed=3)
    _, _, cache = layer.forward(x)
    for k in (0, 2, 5):
        prof = gradient_by_distance(layer, cache, dout, max_distance=k)[0]
        _, _, g = layer.backward(cache, dout, truncate=k)
        np.testing.assert_allclose(prof.weight_grad_sum, g["weight_hh_l0"], rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("kind,nl", KINDS)
def test_norm_statistics(kind, nl):
    """grad_norm[d] is the mean over (t, b) of the per-sequence vector norm; shares sum to 1."""
    layer, x, dout = problem(kind, nl, T=8, seed=4)
    T = x.shape[0]
    _, _, cache = layer.forward(x)
    prof = gradient_by_distance(layer, cache, dout, max_distance=5)[0]
    lags = list(lag_sweep(layer.cell, cache[0], layer.params["weight_hh_l0"], np.arange(T), dout, None, 5))
    for lag in lags:
        full = lag.uh if lag.uc is None else np.concatenate([lag.uh, lag.uc], -1)
        assert prof.grad_norm[lag.d] == pytest.approx(np.linalg.norm(full, axis=-1).mean(), rel=1e-12)
        assert prof.hidden_grad_norm[lag.d] == pytest.approx(np.linalg.norm(lag.uh, axis=-1).mean(), rel=1e-12)
        assert prof.count[lag.d] == min(T, T - lag.d + 1)
    assert prof.grad_share.sum() == pytest.approx(1.0)
    assert prof.grad_norm[0] == pytest.approx(np.linalg.norm(dout, axis=-1).mean())
    assert (prof.cell_grad_norm is not None) == (kind == "lstm")


def test_mask_restricts_the_means_to_outputs_with_a_loss():
    layer, x, dout = problem("lstm", None, T=8, seed=6)
    T, B = x.shape[:2]
    _, _, cache = layer.forward(x)
    mask = np.ones((T, B), dtype=bool)
    mask[5:, 0] = False                                      # padding at the end of sequence 0
    mask[:, 2] = False                                       # an empty sequence
    prof = gradient_by_distance(layer, cache, dout, max_distance=6, mask=mask)[0]
    for lag in lag_sweep(layer.cell, cache[0], layer.params["weight_hh_l0"], np.arange(T), dout, None, 6):
        full = lag.uh if lag.uc is None else np.concatenate([lag.uh, lag.uc], -1)
        keep = mask[lag.rows]
        assert prof.grad_norm[lag.d] == pytest.approx(np.linalg.norm(full, axis=-1)[keep].mean(), rel=1e-12)
    with pytest.raises(ShapeError):
        gradient_by_distance(layer, cache, dout, mask=mask[:-1])
    with pytest.raises(ShapeError):
        gradient_by_distance(layer, cache, dout[:, :2])


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_stacked_layer_output_grads_match_torch(kind):
    layer, x, dout = problem(kind, None, T=5, L=2, seed=5)
    _, _, cache = layer.forward(x)
    douts = layer_output_grads(layer, cache, dout)
    # torch: outputs of layer 0 as a leaf fed to layer 1
    out0 = t(cache[0]["hs"][1:]).clone().requires_grad_(True)
    P = {k: t(v) for k, v in layer.params.items()}
    zero = torch.zeros(x.shape[1], 4, dtype=torch.float64)
    s = (zero, zero) if kind == "lstm" else zero
    L = 0
    for u in range(5):
        s = cell_step(kind, "tanh", P, 1, out0[u], s)
        L = L + (h_of(s, kind) * t(dout[u])).sum()
    L.backward()
    np.testing.assert_allclose(douts[0], out0.grad.numpy(), rtol=1e-10, atol=1e-13)
    profs = gradient_by_distance(layer, cache, dout)
    _, _, g = layer.backward(cache, dout)
    for l in range(2):
        np.testing.assert_allclose(profs[l].weight_grad_sum, g[f"weight_hh_l{l}"], rtol=1e-10, atol=1e-13)


def test_lstm_saturated_forget_gate_carries_gradient_undiminished():
    """f = 1 exactly, i = 0, W_hh = 0: dL_t/dc_{t-d} is the same vector for every d >= 1."""
    T, B, H = 12, 2, 3
    layer = rnnlab.LSTM(2, H, dtype=np.float64, seed=0)
    P = layer.params
    P["weight_hh_l0"][:] = 0.0
    P["bias_ih_l0"][H:2 * H] = 60.0    # sigmoid(60) == 1.0 in float64
    P["bias_ih_l0"][:H] = -800.0       # input gate exactly 0: exp(800) overflows (sigmoid(-60) is 8.8e-27)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, 2))
    dout = rng.standard_normal((T, B, H))
    _, _, cache = layer.forward((x * 0.1), (rng.standard_normal((1, B, H)), rng.standard_normal((1, B, H))))
    assert np.all(cache[0]["gates"][..., H:2 * H] == 1.0) and np.all(cache[0]["gates"][..., :H] == 0.0)
    first = {}
    for lag in lag_sweep(layer.cell, cache[0], P["weight_hh_l0"], np.arange(T), dout):
        if lag.d == 0:
            continue
        for row, t_ in enumerate(lag.rows):
            if lag.d == 1:
                first[t_] = lag.uc[row].copy()
            np.testing.assert_array_equal(lag.uc[row], first[t_])
            np.testing.assert_array_equal(lag.uh[row], 0.0)
    prof = gradient_by_distance(layer, cache, dout)[0]
    # each t keeps its own constant vector, so the mean over the t reaching d changes only by which t reach
    norms = {t_: np.linalg.norm(v, axis=-1) for t_, v in first.items()}
    for d in range(1, T + 1):
        want = np.mean([norms[t_] for t_ in range(d - 1, T)])
        assert prof.cell_grad_norm[d] == pytest.approx(want, rel=1e-12)


def test_decay_distance():
    assert decay_distance([1.0, 0.5, 0.02, 0.009, 0.001]) == 3
    assert decay_distance([1.0, 0.5, 0.2], 0.1) is None
    assert decay_distance([2.0, 0.15, 0.1], 0.1) == 1
    assert decay_distance([0.0, 0.0]) is None
