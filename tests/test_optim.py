"""Optimisers against torch.optim; sparse updates against dense ones; clipping."""
import numpy as np
import pytest

from rnnlab import optim
from rnnlab.errors import ConfigError
from rnnlab.sparse import SparseGrad, segment_sum

torch = pytest.importorskip("torch")

CASES = [
    ("sgd", {}, lambda p, lr: torch.optim.SGD(p, lr=lr)),
    ("momentum", {"momentum": 0.9}, lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9)),
    ("momentum", {"momentum": 0.5, "nesterov": True},
     lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.5, nesterov=True)),
    ("adagrad", {"eps": 1e-10}, lambda p, lr: torch.optim.Adagrad(p, lr=lr, eps=1e-10)),
    ("rmsprop", {"alpha": 0.9, "eps": 1e-8}, lambda p, lr: torch.optim.RMSprop(p, lr=lr, alpha=0.9, eps=1e-8)),
    ("adam", {}, lambda p, lr: torch.optim.Adam(p, lr=lr)),
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
