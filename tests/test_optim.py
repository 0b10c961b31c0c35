"""Optimisers against torch.optim; sparse updates against dense ones; clipping."""
import numpy as np
import pytest

from rnnlab import optim
from rnnlab.errors import ConfigError
from rnnlab.sparse import SparseGrad, segment_sum

torch = pytest.importorskip("torch")

CASES = [
    ("sgd", {}, lambda p, lr: torch.optim.SGD(p, lr=lr)),
    ("sgd", {"momentum": 0.8}, lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.8)),
    ("sgd", {"momentum": 0.8, "nesterov": True}, lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.8, nesterov=True)),
    ("momentum", {"momentum": 0.9}, lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9)),
    ("momentum", {"momentum": 0.5, "nesterov": True},
     lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.5, nesterov=True)),
    ("adagrad", {"eps": 1e-10}, lambda p, lr: torch.optim.Adagrad(p, lr=lr, eps=1e-10)),
    ("rmsprop", {"alpha": 0.9, "eps": 1e-8}, lambda p, lr: torch.optim.RMSprop(p, lr=lr, alpha=0.9, eps=1e-8)),
    ("adam", {}, lambda p, lr: torch.optim.Adam(p, lr=lr)),
    ("adam", {"betas": (0.8, 0.99), "eps": 1e-6},
     lambda p, lr: torch.optim.Adam(p, lr=lr, betas=(0.8, 0.99), eps=1e-6)),
]


@pytest.mark.parametrize("name,kw,make_torch", CASES)
def test_matches_torch_optim(name, kw, make_torch):
    rng = np.random.default_rng(0)
    params = {"a": rng.standard_normal((3, 4)), "b": rng.standard_normal(5)}
    tp = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    opt = optim.make_optimizer(name, 0.01, **kw)
    topt = make_torch(list(tp.values()), 0.01)
    for _ in range(5):
        grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
        opt.step(params, grads)
        for k in tp:
            tp[k].grad = torch.tensor(grads[k])
        topt.step()
    for k in params:
        np.testing.assert_allclose(params[k], tp[k].detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["sgd", "momentum", "adagrad", "rmsprop", "adam"])
@pytest.mark.parametrize("axis", [0, 1])
def test_sparse_gradient_equals_dense(name, axis):
    rng = np.random.default_rng(1)
    p_dense = {"w": rng.standard_normal((6, 4))}
    p_sparse = {"w": p_dense["w"].copy()}
    o_dense, o_sparse = optim.make_optimizer(name, 0.05), optim.make_optimizer(name, 0.05)
    for _ in range(4):
        idx = rng.integers(0, p_dense["w"].shape[axis], size=5)
        vals = rng.standard_normal((5, p_dense["w"].shape[1 - axis]))
        uniq, sums = segment_sum(idx, vals)
        sg = SparseGrad(uniq, sums, p_dense["w"].shape, axis)
        o_dense.step(p_dense, {"w": sg.dense()})
        o_sparse.step(p_sparse, {"w": sg})
    np.testing.assert_allclose(p_sparse["w"], p_dense["w"], rtol=1e-12, atol=1e-14)


def test_clip_grad_norm_sparse_and_dense():
    g = {"a": np.array([3.0, 0.0]), "b": SparseGrad(np.array([1]), np.array([[4.0]]), (3, 1))}
    assert optim.global_norm(g) == pytest.approx(5.0)
    before = optim.clip_grad_norm(g, 1.0)
    assert before == pytest.approx(5.0)
    assert optim.global_norm(g) == pytest.approx(1.0)
    np.testing.assert_allclose(g["a"], [0.6, 0.0])
    small = {"a": np.array([0.1])}
    optim.clip_grad_norm(small, 1.0)
    assert small["a"][0] == 0.1


def test_clip_value_and_finite_guard():
    g = {"a": np.array([-5.0, 0.5, 3.0])}
    optim.clip_grad_value(g, 1.0)
    np.testing.assert_array_equal(g["a"], [-1.0, 0.5, 1.0])
    assert optim.all_finite(g)
    assert not optim.all_finite({"a": np.array([1.0, np.nan])})
    assert not optim.all_finite({"a": np.array([np.inf])})


def test_bad_hyperparameters():
    for lr in (0, -1, float("nan")):
        with pytest.raises(ConfigError):
            optim.SGD(lr)
    with pytest.raises(ConfigError):
        optim.make_optimizer("lbfgs", 0.1)


def test_state_dict_round_trip_continues_identically():
    rng = np.random.default_rng(2)
    p1 = {"w": rng.standard_normal(4)}
    o1 = optim.Adam(0.1)
    gs = [{"w": rng.standard_normal(4)} for _ in range(4)]
    for g in gs[:2]:
        o1.step(p1, g)
    p2 = {"w": p1["w"].copy()}
    o2 = optim.Adam(0.1)
    o2.load_state_dict(o1.state_dict())
    for g in gs[2:]:
        o1.step(p1, {"w": g["w"].copy()})
        o2.step(p2, {"w": g["w"].copy()})
    np.testing.assert_array_equal(p1["w"], p2["w"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_finite_exploding_gradient_is_clipped_not_skipped(dtype):
    """A finite gradient of norm ~1e20 has a finite global norm and is clipped (rnnlab 0.2 summed the squares
    in float32, which overflows near 1.8e19: the step was taken for non-finite and skipped)."""
    big = 1e20 if dtype == np.float32 else 1e160  # float64 squares overflow near 1.3e154
    dense = lambda: np.full(4, big / 2, dtype)                                          # norm big
    sparse = lambda: SparseGrad(np.array([0, 2]), np.full((2, 3), big / 2, dtype), (5, 3), 0)  # norm big sqrt(6)/2
    for grads, norm in [({"w": dense()}, big), ({"e": sparse()}, big * np.sqrt(6) / 2),
                        ({"w": dense(), "e": sparse()}, big * np.sqrt(10) / 2)]:
        assert optim.all_finite(grads)
        assert optim.global_norm(grads) == pytest.approx(norm, rel=1e-6)
        before = optim.clip_grads(grads, clip_norm=1.0)
        assert before == pytest.approx(norm, rel=1e-6)
        assert optim.global_norm(grads) == pytest.approx(1.0, rel=1e-5)
        assert all(np.isfinite(g.values if isinstance(g, SparseGrad) else g).all() for g in grads.values())
    assert not optim.all_finite({"w": np.array([1.0, np.inf], dtype)})
    assert np.isnan(optim.global_norm({"w": np.array([np.inf, np.nan], dtype)}))


def test_clip_grads_clips_values_then_norm():
    rng = np.random.default_rng(3)
    g = {"a": rng.standard_normal((4, 3)) * 10, "b": SparseGrad(np.array([1, 3]), rng.standard_normal((2, 2)) * 10,
                                                                (5, 2), 0)}
    expect = {"a": g["a"].copy(), "b": g["b"].values.copy()}
    norm0 = np.sqrt(np.sum(expect["a"] ** 2) + np.sum(expect["b"] ** 2))
    for v in expect.values():
        np.clip(v, -2.0, 2.0, out=v)
    scale = 1.5 / np.sqrt(np.sum(expect["a"] ** 2) + np.sum(expect["b"] ** 2))
    assert optim.clip_grads(g, clip_norm=1.5, clip_value=2.0) == pytest.approx(norm0)
    np.testing.assert_allclose(g["a"], expect["a"] * scale, rtol=1e-9)
    np.testing.assert_allclose(g["b"].values, expect["b"] * scale, rtol=1e-9)
    # given the norm the caller computed already: the same result
    h1 = {"a": rng.standard_normal(5) * 10}
    h2 = {"a": h1["a"].copy()}
    assert optim.clip_grads(h1, clip_norm=1.0) == optim.clip_grads(h2, clip_norm=1.0, norm=optim.global_norm(h2))
    np.testing.assert_array_equal(h1["a"], h2["a"])
    # off, and gradients that are not finite, are left as they are (the caller's guard skips them)
    same = {"a": np.array([3.0, -4.0])}
    assert optim.clip_grads(same) == pytest.approx(5.0) and same["a"].tolist() == [3.0, -4.0]
    bad = {"a": np.array([np.inf, 7.0])}
    assert optim.clip_grads(bad, clip_norm=1.0, clip_value=1.0) == np.inf
    assert bad["a"].tolist() == [np.inf, 7.0]


@pytest.mark.parametrize("name", list(optim.OPTIMIZERS))
def test_scale_momentum(name):
    opt = optim.make_optimizer(name)
    assert opt.lr == optim.DEFAULT_LR[name]
    coefficient = {"momentum": lambda o: o.momentum, "adam": lambda o: o.betas[0],
                   "sparseadam": lambda o: o.betas[0]}.get(name)
    before = vars(opt).copy()
    opt.scale_momentum(0.5)
    if coefficient is None:  # nothing to scale: nothing changes (plain SGD: momentum stays 0)
        assert vars(opt) == before
    else:
        assert coefficient(opt) == pytest.approx(0.45)
        with pytest.raises(ConfigError):
            opt.scale_momentum(3.0)
    sgd = optim.SGD(0.1, momentum=0.6)
    sgd.scale_momentum(0.5)
    assert sgd.momentum == pytest.approx(0.3)


def test_registries_agree():
    assert set(optim.DEFAULT_LR) == set(optim.OPTIMIZERS)
    for name, cls in optim.OPTIMIZERS.items():
        assert cls.name == name


@pytest.mark.parametrize("name,state", [
    ("sgd", {}), ("momentum", {"m.w": [0.5, -1.0]}), ("adagrad", {"G.w": [0.25, 4.0]}),
    ("rmsprop", {"E.w": [0.25, 4.0]}), ("adam", {"m.w": [0.1, -0.2], "v.w": [0.01, 0.04]}),
    ("sparseadam", {"m.w": [0.1, -0.2], "v.w": [0.01, 0.04]})])
def test_loads_rnnlab_0_2_optimizer_state(name, state):
    """The optimiser state rnnlab 0.2 checkpointed (name, lr, t, state keyed "<slot>.<parameter>") loads and
    the next step is the update of the documented formula from that state."""
    sd = {"name": name, "lr": 0.1, "t": 3, "state": {k: np.array(v) for k, v in state.items()}}
    opt = optim.make_optimizer(name, 0.5)
    opt.load_state_dict(sd)
    assert (opt.lr, opt.t) == (0.1, 3)
    p, g = np.array([1.0, 2.0]), np.array([0.3, -0.6])
    st = {k.split(".")[0]: np.array(v) for k, v in state.items()}
    if name == "sgd":
        want = p - 0.1 * g
    elif name == "momentum":
        want = p - 0.1 * (0.9 * st["m"] + g)
    elif name == "adagrad":
        want = p - 0.1 * g / (np.sqrt(st["G"] + g * g) + 1e-8)
    elif name == "rmsprop":
        want = p - 0.1 * g / (np.sqrt(0.99 * st["E"] + 0.01 * g * g) + 1e-8)
    else:
        m, v = 0.9 * st["m"] + 0.1 * g, 0.999 * st["v"] + 0.001 * g * g
        want = p - 0.1 * (m / (1 - 0.9 ** 4)) / (np.sqrt(v / (1 - 0.999 ** 4)) + 1e-8)
    params = {"w": p.copy()}
    opt.step(params, {"w": g})
    np.testing.assert_allclose(params["w"], want, rtol=1e-12)
    assert set(opt.state_dict()) == {"name", "lr", "t", "state"} and set(opt.state_dict()["state"]) == set(state)


def test_bad_momentum_and_betas():
    for bad in (dict(momentum=1.0), dict(momentum=-0.1), dict(nesterov=True)):
        with pytest.raises(ConfigError):
            optim.SGD(0.1, **bad)
    for betas in ((0.9,), (1.0, 0.999), (0.9, -1)):
        with pytest.raises(ConfigError):
            optim.Adam(0.1, betas=betas)
