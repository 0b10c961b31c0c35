"""The estimators' step and its derivatives (rnnlab.estimators.jacobians) against the layers' forward,
torch autograd (float64) and finite differences."""
import numpy as np
import pytest
import torch

from rnnlab.estimators.jacobians import (
    cell_spec,
    direct_diagonal,
    grads_from_groups,
    immediate,
    inputs_u,
    jacobian_diagonal,
    local_vjp,
    state_jvp,
    state_vjp,
    step_forward,
)
from rnnlab.layers import make_layer

CASES = [("rnn", 1.0), ("rnn", 0.3), ("lstm", 1.0), ("gru", 1.0)]
I, H, B = 3, 5, 2


def setup(kind, leak=1.0, seed=0, dtype=np.float64):
    layer = make_layer(kind, input_size=I, hidden_size=H, dtype=dtype, seed=seed)
    spec = cell_spec(layer, leak)
    rng = np.random.default_rng(seed + 1)
    S = spec.parts * H
    x = rng.standard_normal((B, I)).astype(dtype)
    s = (0.5 * rng.standard_normal((B, S))).astype(dtype)
    return layer, spec, x, s, rng


def torch_step(spec, P, x, s, s_net=None):
    """The step in torch; ``s_net`` (default s) is the state the network path W_hh h reads, so a
    derivative with respect to ``s`` alone is the direct path's."""
    W_ih, W_hh, b_ih, b_hh = P["weight_ih_l0"], P["weight_hh_l0"], P["bias_ih_l0"], P["bias_hh_l0"]
    s_net = s if s_net is None else s_net
    h, hn = s[:, :H], s_net[:, :H]
    gi, gh = x @ W_ih.T + b_ih, hn @ W_hh.T + b_hh
    if spec.kind == "rnn":
        a = {"tanh": torch.tanh, "relu": torch.relu}[spec.nonlinearity](gi + gh)
        return (1 - spec.leak) * h + spec.leak * a
    if spec.kind == "lstm":
        i, f, g, o = (gi + gh).chunk(4, dim=-1)
        c = torch.sigmoid(f) * s[:, H:] + torch.sigmoid(i) * torch.tanh(g)
        return torch.cat([torch.sigmoid(o) * torch.tanh(c), c], dim=-1)
    r = torch.sigmoid(gi[:, :H] + gh[:, :H])
    z = torch.sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
    n = torch.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
    return (1 - z) * n + z * h


def tparams(layer):
    return {k: torch.from_numpy(v.copy()) for k, v in layer.params.items()}


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_step_forward_equals_the_layer(kind, dtype):
    layer, spec, _, _, rng = setup(kind, dtype=dtype)
    xs = rng.standard_normal((7, B, I)).astype(dtype)
    out, _, _ = layer.forward(xs)
    s = np.zeros((B, spec.parts * H), dtype=dtype)
    for t in range(7):
        s, _ = step_forward(spec, layer.params, xs[t], s)
        assert s.dtype == dtype
        np.testing.assert_allclose(s[:, :H], out[t], rtol=1e-5 if dtype == np.float32 else 1e-13, atol=1e-6)


@pytest.mark.parametrize("kind,leak", CASES)
def test_state_jvp_and_vjp_match_torch(kind, leak):
    layer, spec, x, s, rng = setup(kind, leak)
    _, sv = step_forward(spec, layer.params, x, s)
    P = tparams(layer)
    v = rng.standard_normal((4, B, s.shape[1]))                # four tangents at once
    u = rng.standard_normal((4, B, s.shape[1]))
    f = lambda st: torch_step(spec, P, torch.from_numpy(x), st)   # noqa: E731
    for k in range(4):
        _, jv = torch.autograd.functional.jvp(f, torch.from_numpy(s), torch.from_numpy(v[k]))
        _, uj = torch.autograd.functional.vjp(f, torch.from_numpy(s), torch.from_numpy(u[k]))
        np.testing.assert_allclose(state_jvp(spec, sv, layer.params["weight_hh_l0"], v)[k], jv.numpy(),
                                   rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(state_vjp(spec, sv, layer.params["weight_hh_l0"], u)[0][k], uj.numpy(),
                                   rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kind,leak", CASES)
def test_immediate_influence_matches_torch(kind, leak):
    """Mbar_t = D_t (x) u_t, rebuilt densely, equals torch's Jacobian of the step w.r.t. the weights."""
    layer, spec, x, s, _ = setup(kind, leak)
    _, sv = step_forward(spec, layer.params, x, s)
    Di, Dh = immediate(spec, sv)                               # (B, G, S)
    ui, uh = inputs_u(sv)
    S = s.shape[1]
    unit = np.arange(S) % H                                    # state index -> its unit j
    onj = (unit[:, None] == np.arange(H)[None, :])             # (S, H)
    # ours[b, s, g, j, m] = [unit(s) = j] D[b, g, s] u[b, m]
    mi = np.einsum("sj,bgs,bm->bsgjm", onj, Di, ui)
    mh = np.einsum("sj,bgs,bm->bsgjm", onj, Dh, uh)
    ours = grads_from_groups(spec, mi, mh)                     # per (b, s): the param dict
    P = tparams(layer)
    names = list(P)

    def f(*ws):
        return torch_step(spec, dict(zip(names, ws)), torch.from_numpy(x), torch.from_numpy(s))

    jac = torch.autograd.functional.jacobian(f, tuple(P[k] for k in names))
    for k, jk in zip(names, jac):
        np.testing.assert_allclose(ours[k], jk.numpy(), rtol=1e-12, atol=1e-13, err_msg=k)


@pytest.mark.parametrize("kind,leak", CASES)
def test_diagonal_blocks_match_torch(kind, leak):
    """J_t's per-unit blocks and the direct path's (network path held fixed) against torch Jacobians."""
    layer, spec, x, s, _ = setup(kind, leak)
    _, sv = step_forward(spec, layer.params, x, s)
    P, tx, ts = tparams(layer), torch.from_numpy(x), torch.from_numpy(s)
    full = torch.autograd.functional.jacobian(lambda st: torch_step(spec, P, tx, st), ts).numpy()
    direct = torch.autograd.functional.jacobian(lambda st: torch_step(spec, P, tx, st, ts), ts).numpy()
    Pn, j = spec.parts, np.arange(H)
    for ours, ref in ((jacobian_diagonal(spec, sv, layer.params["weight_hh_l0"]), full),
                      (direct_diagonal(spec, sv), direct)):
        for q in range(Pn):
            for p in range(Pn):
                for b in range(B):
                    np.testing.assert_allclose(ours[b, q, p], ref[b, q * H + j, b, p * H + j], rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kind,leak", CASES)
def test_state_jvp_and_vjp_against_finite_differences(kind, leak):
    layer, spec, x, s, rng = setup(kind, leak, seed=3)
    W = layer.params["weight_hh_l0"]
    _, sv = step_forward(spec, layer.params, x, s)
    v, u = rng.standard_normal(s.shape), rng.standard_normal(s.shape)
    eps = 1e-5
    F = lambda st: step_forward(spec, layer.params, x, st)[0]   # noqa: E731
    fd = (F(s + eps * v) - F(s - eps * v)) / (2 * eps)
    np.testing.assert_allclose(state_jvp(spec, sv, W, v), fd, rtol=1e-7, atol=1e-9)
    # <u, J v> = <u^T J, v> for the VJP
    uJ = state_vjp(spec, sv, W, u)[0]
    np.testing.assert_allclose(np.sum(uJ * v, axis=1), np.sum(u * fd, axis=1), rtol=1e-7, atol=1e-9)
    dgi, dgh, _, _ = local_vjp(spec, sv, u)
    assert dgi.shape == dgh.shape == (B, spec.gates * H)
