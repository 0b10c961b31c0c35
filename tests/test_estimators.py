"""The gradient algorithms of rnnlab.estimators against exact BPTT (the layers' backward) and against
each other, float64, where the papers say they must agree exactly."""
import math

import numpy as np
import pytest

from rnnlab.errors import ConfigError, ShapeError
from rnnlab.estimators import make_estimator
from rnnlab.layers import make_layer

CELLS = ["rnn", "lstm", "gru"]


def problem(kind, H=6, I=3, T=12, B=2, seed=0, dtype=np.float64):
    layer = make_layer(kind, input_size=I, hidden_size=H, dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed + 10)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    dout = rng.standard_normal((T, B, H)).astype(dtype)
    return layer, x, dout


def bptt(layer, x, dout):
    _, _, cache = layer.forward(x)
    return layer.backward(cache, dout)[2]


def rel_error(g, ref):
    num = math.sqrt(sum(float(np.sum((g[k] - ref[k]) ** 2)) for k in ref))
    return num / math.sqrt(sum(float(np.sum(ref[k] ** 2)) for k in ref))


@pytest.mark.parametrize("kind", CELLS)
def test_rtrl_equals_bptt_n32_t100(kind):
    layer, x, dout = problem(kind, H=32, I=2, T=100, B=2)
    g = make_estimator("rtrl", layer).sequence_gradient(x, dout)
    assert rel_error(g, bptt(layer, x, dout)) <= 1e-10


@pytest.mark.parametrize("kind", CELLS)
def test_online_interface_matches_sequence_gradient(kind):
    """step/learn/gradient in chunks of 5 with frozen weights: the chunks' forward-mode gradients sum to the
    whole gradient (the influence is carried across gradient calls)."""
    layer, x, dout = problem(kind, T=13)
    est = make_estimator("rtrl", layer)
    est.reset(x.shape[1])
    total = {k: np.zeros_like(v) for k, v in layer.params.items()}
    for t in range(x.shape[0]):
        h = est.step(x[t])
        est.learn(dout[t])
        if (t + 1) % 5 == 0 or t == x.shape[0] - 1:
            for k, v in est.gradient().items():
                total[k] += v
    out, _, _ = layer.forward(x)
    np.testing.assert_allclose(h, out[-1], rtol=1e-13)
    assert rel_error(total, bptt(layer, x, dout)) <= 1e-12


def diagonal_recurrence(layer):
    """Make every gate block of W_hh diagonal: then J_t is per-unit and SnAp-1 is exact."""
    W = layer.params["weight_hh_l0"]
    H = W.shape[1]
    for g in range(W.shape[0] // H):
        W[g * H:(g + 1) * H] *= np.eye(H)


@pytest.mark.parametrize("kind", CELLS)
def test_snap1_equals_bptt_for_diagonal_recurrence_and_one_step(kind):
    layer, x, dout = problem(kind, T=15)
    g = make_estimator("snap-1", layer).sequence_gradient(x, dout)
    assert rel_error(g, bptt(layer, x, dout)) > 1e-3        # a dense W_hh: SnAp-1 is an approximation
    assert rel_error(make_estimator("snap-1", layer).sequence_gradient(x[:1], dout[:1]),
                     bptt(layer, x[:1], dout[:1])) <= 1e-12
    diagonal_recurrence(layer)
    assert rel_error(make_estimator("snap-1", layer).sequence_gradient(x, dout), bptt(layer, x, dout)) <= 1e-12


@pytest.mark.parametrize("kind", CELLS)
def test_snap2_equals_rtrl_when_dense_and_masks_when_sparse(kind):
    layer, x, dout = problem(kind, T=10)
    assert np.all(layer.params["weight_hh_l0"] != 0)
    rtrl = make_estimator("rtrl", layer).sequence_gradient(x, dout)
    assert rel_error(make_estimator("snap-2", layer).sequence_gradient(x, dout), rtrl) <= 1e-12
    # sparse W_hh: SnAp-2 keeps the two-step pattern only, and drops what is further away
    W = layer.params["weight_hh_l0"]
    W *= np.random.default_rng(5).random(W.shape) < 0.3
    ref = snap_reference(layer, x, dout, steps=2)
    assert rel_error(make_estimator("snap-2", layer).sequence_gradient(x, dout), ref) <= 1e-12
    assert rel_error(ref, bptt(layer, x, dout)) > 1e-3
    assert rel_error(make_estimator("snap-1", layer).sequence_gradient(x, dout),
                     snap_reference(layer, x, dout, steps=1)) <= 1e-12


def snap_reference(layer, x, dout, steps):
    """SnAp-n by its definition, with dense matrices and loops (slow, tiny sizes): J_t column by column,
    Mbar_t entry by entry, then M_t = mask (J_t M + Mbar_t), the mask marking the entries of Mbar
    (steps=1) or of Mbar + J Mbar (steps=2) that can be nonzero."""
    from rnnlab.estimators.jacobians import cell_spec, immediate, inputs_u, state_jvp, step_forward

    spec = cell_spec(layer)
    p = layer.params
    T, B, I = x.shape
    H, G, Pp = spec.hidden, spec.gates, spec.parts
    S, K = Pp * H, I + H + 2
    unit = np.arange(S) % H
    # param (g, j, m) moves unit j in one step; unit j reaches unit k in one step if W_hh[g H + k, j] != 0
    one = np.broadcast_to((unit[:, None] == np.arange(H)[None, :])[:, None, :, None], (S, G, H, K))
    reach = (p["weight_hh_l0"].reshape(G, H, H) != 0).any(axis=0) | np.eye(H, dtype=bool)   # [k, j]
    two = np.broadcast_to(reach[unit][:, None, :, None], (S, G, H, K))
    mask = (one if steps == 1 else two).reshape(S, -1)
    s = np.zeros((B, S))
    M = np.zeros((B, S, G * H * K))
    grad = np.zeros(G * H * K)
    for t in range(T):
        s_new, sv = step_forward(spec, p, x[t], s)
        J = np.stack([state_jvp(spec, sv, p["weight_hh_l0"], np.broadcast_to(e, (B, S))) for e in np.eye(S)], -1)
        Di, Dh = immediate(spec, sv)
        ui, uh = inputs_u(sv)
        Mbar = np.zeros((B, S, G, H, K))
        for b in range(B):
            for si in range(S):
                j = unit[si]
                Mbar[b, si, :, j, :I + 1] = np.outer(Di[b, :, si], ui[b])
                Mbar[b, si, :, j, I + 1:] = np.outer(Dh[b, :, si], uh[b])
        M = (np.einsum("bst,btp->bsp", J, M) + Mbar.reshape(B, S, -1)) * mask
        grad += np.einsum("bh,bhp->p", dout[t], M[:, :H])
        s = s_new
    g = grad.reshape(G, H, K)
    return {"weight_ih_l0": g[:, :, :I].reshape(G * H, I), "bias_ih_l0": g[:, :, I].reshape(-1),
            "weight_hh_l0": g[:, :, I + 1:-1].reshape(G * H, H), "bias_hh_l0": g[:, :, -1].reshape(-1)}


@pytest.mark.parametrize("kind", CELLS)
def test_eprop_with_the_exact_learning_signal_equals_bptt(kind):
    layer, x, dout = problem(kind, T=20)
    ref = bptt(layer, x, dout)
    assert rel_error(make_estimator("eprop-exact", layer).sequence_gradient(x, dout), ref) <= 1e-12
    assert rel_error(make_estimator("eprop", layer).sequence_gradient(x, dout), ref) > 1e-3


def test_rflo_equals_rtrl_for_a_leaky_rnn_without_recurrence():
    layer, x, dout = problem("rnn", T=20)
    kw = {"leak": 0.3}
    assert rel_error(make_estimator("rflo", layer, **kw).sequence_gradient(x, dout),
                     make_estimator("rtrl", layer, **kw).sequence_gradient(x, dout)) > 1e-3
    layer.params["weight_hh_l0"][:] = 0.0
    rtrl = make_estimator("rtrl", layer, **kw).sequence_gradient(x, dout)
    assert rel_error(make_estimator("rflo", layer, **kw).sequence_gradient(x, dout), rtrl) <= 1e-12
    # and RTRL with the leak is exact: finite differences of the leaky loss sum_t dout_t . h_t
    from rnnlab.estimators.jacobians import cell_spec, step_forward
    spec = cell_spec(layer, 0.3)
    W = layer.params["weight_ih_l0"]

    def loss():
        s, total = np.zeros((x.shape[1], 6)), 0.0
        for t in range(x.shape[0]):
            s, _ = step_forward(spec, layer.params, x[t], s)
            total += float(np.sum(dout[t] * s))
        return total
    eps = 1e-6
    for idx in [(0, 0), (3, 2), (5, 1)]:
        W[idx] += eps
        up = loss()
        W[idx] -= 2 * eps
        down = loss()
        W[idx] += eps
        assert abs((up - down) / (2 * eps) - rtrl["weight_ih_l0"][idx]) <= 1e-7 * max(1.0, abs(up - down) / eps)


@pytest.mark.parametrize("kind", CELLS)
def test_checkpointed_equals_stored_bptt_with_sqrt_t_states(kind):
    T = 100
    layer, x, dout = problem(kind, T=T)
    ref = bptt(layer, x, dout)
    est = make_estimator("checkpointed", layer)
    assert rel_error(est.sequence_gradient(x, dout), ref) <= 1e-12
    assert est.forward_steps <= 2 * T                             # at most one extra forward pass
    assert est.stored_states <= 2 * math.isqrt(T) + 2             # ~ sqrt(T) checkpoints + one segment
    stored = make_estimator("bptt", layer)
    stored.sequence_gradient(x, dout)
    assert stored.forward_steps == T and stored.stored_states == T + 1
    # online: steps keep every 8th state; the gradient call recomputes each segment once
    est = make_estimator("checkpointed", layer)
    est.reset(x.shape[1])
    for t in range(T):
        est.step(x[t])
        est.learn(dout[t])
    assert rel_error(est.gradient(), ref) <= 1e-12
    assert est.forward_steps == 2 * T


@pytest.mark.parametrize("kind", CELLS)
def test_truncated_bptt_is_the_layers_truncation(kind):
    layer, x, dout = problem(kind, T=15)
    _, _, cache = layer.forward(x)
    ref = layer.backward(cache, dout, truncate=3)[2]
    assert rel_error(make_estimator("tbptt-3", layer).sequence_gradient(x, dout), ref) <= 1e-14


@pytest.mark.parametrize("name", ["bptt", "tbptt-2", "checkpointed", "rtrl", "uoro", "snap-1", "snap-2",
                                  "eprop", "eprop-exact"])
@pytest.mark.parametrize("kind", CELLS)
def test_float32_follows_float64(kind, name):
    l64, x, dout = problem(kind, T=8)
    l32 = make_layer(kind, input_size=3, hidden_size=6, dtype=np.float32, seed=0)
    g64 = make_estimator(name, l64, seed=3).sequence_gradient(x, dout)
    g32 = make_estimator(name, l32, seed=3).sequence_gradient(x.astype(np.float32), dout.astype(np.float32))
    assert all(v.dtype == np.float32 for v in g32.values())
    assert rel_error({k: v.astype(np.float64) for k, v in g32.items()}, g64) <= 1e-4


def test_errors_are_clear():
    lstm, x, dout = problem("lstm")
    with pytest.raises(ConfigError, match="Kronecker"):
        make_estimator("kf-rtrl", lstm)
    with pytest.raises(ConfigError, match="Kronecker"):
        make_estimator("kf-rtrl", problem("gru")[0])
    with pytest.raises(ConfigError, match="plain RNN"):
        make_estimator("rflo", lstm)
    with pytest.raises(ConfigError, match="unknown estimator"):
        make_estimator("bptt2", lstm)
    with pytest.raises(ConfigError, match="tbptt-K"):
        make_estimator("tbptt-x", lstm)
    rnn = problem("rnn")[0]
    with pytest.raises(ConfigError, match="leak"):
        make_estimator("bptt", rnn, leak=0.5)
    with pytest.raises(ConfigError, match="leak"):
        make_estimator("rtrl", rnn, leak=1.5)
    with pytest.raises(ConfigError, match="one-layer"):
        make_estimator("rtrl", make_layer("rnn", input_size=2, hidden_size=3, num_layers=2))
    est = make_estimator("rtrl", rnn)
    with pytest.raises(ConfigError, match="reset"):
        est.step(x[0])
    est.reset(2)
    with pytest.raises(ShapeError):
        est.step(x[0, :, :2])


@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize("every", [1, 3])
def test_online_truncated_bptt_keeps_k_steps_across_updates(kind, every):
    """tbptt-K updating every step (or every 3): with frozen weights the updates sum to the layer's
    per-output truncation over the whole sequence (K steps of context are carried across updates)."""
    layer, x, dout = problem(kind, T=14)
    _, _, cache = layer.forward(x)
    ref = layer.backward(cache, dout, truncate=4)[2]
    est = make_estimator("tbptt-4", layer)
    est.reset(x.shape[1])
    total = {k: np.zeros_like(v) for k, v in layer.params.items()}
    for t in range(x.shape[0]):
        est.step(x[t])
        est.learn(dout[t])
        if (t + 1) % every == 0 or t == x.shape[0] - 1:
            for k, v in est.gradient().items():
                total[k] += v
    assert rel_error(total, ref) <= 1e-12
