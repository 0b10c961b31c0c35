"""Step JVP/VJP and the spectral norm of ds_t/ds_{t-d}: against torch autograd (float64), the exact cases
of issue 4, and power iteration against the exact method."""
import numpy as np
import pytest

import rnnlab
from rnnlab.diagnostics import jacobian_bound, jacobian_norms, power_distances, state_jvp, state_vjp
from rnnlab.diagnostics.jacobian import spread
from rnnlab.init import orthogonal

torch = pytest.importorskip("torch")
from torch_oracle import cell_step, t  # noqa: E402

KINDS = [("rnn", "tanh"), ("rnn", "sigmoid"), ("rnn", "relu"), ("lstm", None), ("gru", None)]


def setup(kind, nl, T=8, B=3, I=3, H=4, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    layer = rnnlab.make_layer(kind, I, H, nonlinearity=nl or "tanh", dtype=np.float64, seed=seed)
    layer.params["weight_hh_l0"] *= scale
    x = rng.standard_normal((T, B, I))
    _, _, cache = layer.forward(x)
    return layer, x, cache[0], layer.params["weight_hh_l0"]


def split(v, H, lstm):
    return (v[..., :H], v[..., H:]) if lstm else (v, None)


def cat(a, b):
    return a if b is None else np.concatenate([a, b], axis=-1)


@pytest.mark.parametrize("kind,nl", KINDS)
def test_jvp_and_vjp_are_transposes(kind, nl):
    """<u, J v> = <J^T u, v> for a mixture of steps (fancy index, repeats, any order)."""
    layer, x, c, W = setup(kind, nl)
    lstm = kind == "lstm"
    H = layer.hidden_size
    S = 2 * H if lstm else H
    rng = np.random.default_rng(1)
    steps = np.array([3, 0, 7, 7, 2])
    u = rng.standard_normal((len(steps), 3, S))
    v = rng.standard_normal((len(steps), 3, S))
    Jv = cat(*state_jvp(layer.cell, c, W, steps, *split(v, H, lstm)))
    JTu = cat(*state_vjp(layer.cell, c, W, steps, *split(u, H, lstm))[:2])
    np.testing.assert_allclose(np.sum(u * Jv, -1), np.sum(JTu * v, -1), rtol=1e-11, atol=1e-14)


def torch_product(kind, nl, params, state_u, xs):
    """P = d s_end / d s_u (B, S, S) through the steps with inputs xs, by torch.autograd.functional."""
    P = {k: t(v) for k, v in params.items()}
    lstm = kind == "lstm"
    B = state_u.shape[0]
    H = params["weight_hh_l0"].shape[1]

    def f(s):
        st = (s[:, :H], s[:, H:]) if lstm else s
        for xv in xs:
            st = cell_step(kind, nl or "tanh", P, 0, t(xv), st)
        return torch.cat(st, dim=1) if lstm else st

    J = torch.autograd.functional.jacobian(f, t(state_u)).numpy()       # (B, S, B, S)
    return np.stack([J[b, :, b, :] for b in range(B)])


def state_at(c, u, lstm):
    return cat(c["hs"][u], c["cs"][u] if lstm else None)


@pytest.mark.parametrize("kind,nl", KINDS)
def test_jvp_matches_torch_step_jacobian(kind, nl):
    layer, x, c, W = setup(kind, nl, seed=2)
    lstm = kind == "lstm"
    H = layer.hidden_size
    rng = np.random.default_rng(3)
    for step in (0, 4):
        J = torch_product(kind, nl, layer.params, state_at(c, step, lstm), [x[step]])
        v = rng.standard_normal((1, 3, J.shape[-1]))
        Jv = cat(*state_jvp(layer.cell, c, W, np.array([step]), *split(v, H, lstm)))[0]
        np.testing.assert_allclose(Jv, np.einsum("bij,bj->bi", J, v[0]), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("kind,nl", KINDS)
@pytest.mark.parametrize("method", ["exact", "power", "lanczos"])
def test_norms_match_torch_products(kind, nl, method):
    layer, x, c, W = setup(kind, nl, seed=4)
    lstm = kind == "lstm"
    T = x.shape[0]
    jp = jacobian_norms(layer.cell, c, W, T, method=method, tol=1e-13, max_iter=3000)
    assert jp.method == method
    for t_, d in [(7, 1), (7, 3), (5, 6), (3, 4), (7, 8)]:
        u = t_ + 1 - d
        P = torch_product(kind, nl, layer.params, state_at(c, u, lstm), x[u:t_ + 1])
        want = np.linalg.norm(P, 2, axis=(1, 2))
        np.testing.assert_allclose(jp.per_position[d, t_], want, rtol=1e-9)
    # positions that cannot reach d steps back are not measured; d = 0 is the identity
    assert np.isnan(jp.per_position[5, 2]).all() and np.all(jp.per_position[0] == 1.0)
    ok = ~np.isnan(jp.per_position)
    np.testing.assert_allclose(jp.norm, [jp.per_position[d][ok[d]].mean() for d in range(T + 1)])


@pytest.mark.parametrize("rho", [0.9, 1.1])
@pytest.mark.parametrize("method", ["exact", "power", "lanczos"])
def test_linear_rnn_scaled_orthogonal_has_norm_rho_to_the_d(rho, method):
    H, T = 6, 20
    layer = rnnlab.RNN(2, H, nonlinearity="linear", dtype=np.float64, seed=0)
    layer.params["weight_hh_l0"][:] = rho * orthogonal(np.random.default_rng(5), H, H)
    x = np.random.default_rng(6).standard_normal((T, 2, 2))
    _, _, cache = layer.forward(x)
    jp = jacobian_norms(layer.cell, cache[0], layer.params["weight_hh_l0"], T, method=method)
    d = np.arange(T + 1)
    np.testing.assert_allclose(jp.norm, rho ** d, rtol=1e-12)
    ok = ~np.isnan(jp.per_position)
    np.testing.assert_allclose(jp.per_position[ok], np.broadcast_to((rho ** d)[:, None, None], ok.shape)[ok],
                               rtol=1e-12)


@pytest.mark.parametrize("nl,scale", [("tanh", 0.6), ("tanh", 3.0), ("relu", 2.0), ("sigmoid", 6.0)])
@pytest.mark.parametrize("method", ["exact", "power", "lanczos"])
def test_rnn_never_exceeds_the_bound(nl, scale, method):
    layer, x, c, W = setup("rnn", nl, T=12, H=5, seed=7, scale=scale)
    jp = jacobian_norms(layer.cell, c, W, 12, method=method, tol=1e-12, max_iter=3000)
    bound = jacobian_bound(layer, 12)
    w = np.linalg.norm(W, 2)
    np.testing.assert_allclose(bound, ((0.25 if nl == "sigmoid" else 1.0) * w) ** np.arange(13), rtol=1e-12)
    ok = ~np.isnan(jp.per_position)
    assert np.all(jp.per_position[ok] <= np.broadcast_to(bound[:, None, None], ok.shape)[ok])


def test_tanh_bound_is_attained_at_zero_state():
    """With zero input, bias and state, f' = 1 everywhere: dh_1/dh_0 = W and its norm is the bound."""
    layer = rnnlab.RNN(2, 5, dtype=np.float64, seed=0)
    for k in ("bias_ih_l0", "bias_hh_l0"):
        layer.params[k][:] = 0.0
    _, _, cache = layer.forward(np.zeros((4, 1, 2)))
    jp = jacobian_norms(layer.cell, cache[0], layer.params["weight_hh_l0"], 4, method="exact")
    assert jp.per_position[1, 0, 0] == pytest.approx(jacobian_bound(layer, 1)[1], rel=1e-12)


def saturated_lstm(T, B, H, o_bias=None):
    """f = 1 exactly (sigmoid(60) == 1.0), i = 0 exactly, W_hh = 0: the cell state is carried unchanged."""
    layer = rnnlab.LSTM(2, H, dtype=np.float64, seed=0)
    P = layer.params
    P["weight_hh_l0"][:] = 0.0
    P["bias_ih_l0"][H:2 * H] = 60.0
    P["bias_ih_l0"][:H] = -60.0
    if o_bias is not None:
        P["bias_ih_l0"][3 * H:] = o_bias
    rng = np.random.default_rng(0)
    _, _, cache = layer.forward(rng.standard_normal((T, B, 2)), (rng.standard_normal((1, B, H)),
                                                                rng.standard_normal((1, B, H))))
    return layer, cache[0]


@pytest.mark.parametrize("method,o_bias", [("exact", None), ("lanczos", None), ("exact", [60.0, -60.0, -60.0]),
                                           ("power", [60.0, -60.0, -60.0])])
def test_lstm_saturated_forget_gate_keeps_the_jacobian_from_decaying(method, o_bias):
    """f = 1, i = 0, W_hh = 0: ds_t/ds_{t-d} = [[0, diag(a_t)], [0, I]] with a = o (1 - tanh(c)^2), so its
    norm is sqrt(1 + max a_t^2) for every d >= 1: nothing decays along the cell state.
    Plain power iteration gets the case where one unit's output gate is open and the others are shut (a
    clear gap between the top two singular values); with random gates they all lie within 0.3% of each
    other, where power iteration converges too slowly to be exact, but Lanczos is exact (Krylov space of
    dimension <= S)."""
    T, B, H = 10, 2, 3
    layer, c = saturated_lstm(T, B, H, o_bias)
    jp = jacobian_norms(layer.cell, c, layer.params["weight_hh_l0"], T, method=method, tol=1e-14,
                        max_iter=500)
    a = c["gates"][..., 3 * H:] * (1.0 - c["tanh_c"] ** 2)                      # (T, B, H)
    want = np.sqrt(1.0 + np.max(a * a, axis=-1))                                # (T, B) per end step
    assert np.ptp(want) > 0.01
    for d in range(1, T + 1):
        np.testing.assert_allclose(jp.per_position[d, d - 1:], want[d - 1:], rtol=1e-12)


def test_auto_method_and_positions():
    layer, x, c, W = setup("lstm", None, H=20)
    assert jacobian_norms(layer.cell, c, W, 3, ends=[7], batch=[0]).method == "lanczos"   # S = 40 > 32
    layer, x, c, W = setup("gru", None, H=8)
    jp = jacobian_norms(layer.cell, c, W, 5, ends=spread(8, 3), batch=spread(3, 2))
    assert jp.method == "exact" and jp.per_position.shape == (6, 3, 2)
    assert list(spread(8, 3)) == [0, 4, 7] and list(spread(5, None)) == [0, 1, 2, 3, 4]
    g = power_distances(100)
    assert list(g[:11]) == list(range(11)) and g[-1] == 100 and np.all(np.diff(g) > 0)
    sparse = jacobian_norms(layer.cell, c, W, 6, method="power", distances=[2, 5])
    assert np.isnan(sparse.norm[[1, 3, 4, 6]]).all() and np.isfinite(sparse.norm[[0, 2, 5]]).all()


def test_jacobian_bound_is_none_for_gated_cells():
    assert jacobian_bound(rnnlab.LSTM(2, 3), 4) is None and jacobian_bound(rnnlab.GRU(2, 3), 4) is None
