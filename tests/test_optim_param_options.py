"""Per-parameter options of the optimisers (rnnlab.optim.Optimizer.set_param_options), used for the direct
connections' own learning rate and L2 decay (--direct-lr, --direct-l2): each update equals a plain reference
update written out here, the other parameters are untouched by the option, and the schedule moves both."""
import numpy as np
import pytest

from rnnlab.errors import ConfigError
from rnnlab.optim import OPTIMIZERS, make_optimizer
from rnnlab.sparse import SparseGrad


def problem(seed, n=50):
    rng = np.random.default_rng(seed)
    params = {"direct.weight": rng.standard_normal(n), "w": rng.standard_normal((4, 3))}
    return rng, params


def sparse_grad(rng, n=50, k=7):
    idx = np.sort(rng.choice(n, k, replace=False))
    return SparseGrad(idx, rng.standard_normal(k), (n,), 0)


def reference_step(name, lr, p, g, state, t):
    """One plain update of the entries of p (float64), the textbook formula of each optimiser applied to the
    dense gradient g; ``touched`` entries only for the lazy ones. Returns the new p; ``state`` in place."""
    if name == "sgd":
        return p - lr * g
    if name == "adagrad":
        state.setdefault("G", np.zeros_like(p))
        state["G"] += g * g
        return p - lr * g / (np.sqrt(state["G"]) + 1e-8)
    b1, b2, eps = 0.9, 0.999, 1e-8
    m, v = state.setdefault("m", np.zeros_like(p)), state.setdefault("v", np.zeros_like(p))
    sel = (g != 0) if name == "sparseadam" else np.ones(p.shape, bool)     # the lazy update's rows
    m[sel] = b1 * m[sel] + (1 - b1) * g[sel]
    v[sel] = b2 * v[sel] + (1 - b2) * g[sel] ** 2
    new = p.copy()
    new[sel] -= lr * (m[sel] / (1 - b1 ** t)) / (np.sqrt(v[sel] / (1 - b2 ** t)) + eps)
    return new


@pytest.mark.parametrize("name", ["sgd", "adagrad", "adam", "sparseadam"])
def test_own_lr_and_l2_equal_the_plain_reference_update(name):
    rng, params = problem(0)
    opt = make_optimizer(name, 0.01)
    opt.set_param_options("direct.weight", lr=0.3, l2=0.05)
    plain = make_optimizer(name, 0.01)                         # the same optimiser without options
    other = {"w": params["w"].copy()}
    p_ref, state = params["direct.weight"].copy(), {}
    lr_d = 0.3
    for t in range(1, 5):
        g = sparse_grad(rng)
        gw = rng.standard_normal((4, 3))
        touched = np.zeros(p_ref.shape, bool)
        touched[g.index] = True
        opt.step(params, {"direct.weight": g, "w": gw})
        plain.step(other, {"w": gw})
        decayed = np.where(touched, p_ref * (1 - 0.05), p_ref)
        p_ref = reference_step(name, lr_d, decayed, g.dense(), state, t)
        np.testing.assert_allclose(params["direct.weight"], p_ref, rtol=1e-13, atol=1e-15, err_msg=f"step {t}")
        assert np.array_equal(params["w"], other["w"])          # the other parameters: bitwise as without
        assert opt.lr == plain.lr                                 # the option leaves the rate as it was
        if t == 2:              # the schedule halves the optimiser's rate: the table's follows
            opt.lr /= 2
            plain.lr /= 2
            lr_d /= 2


def test_l2_decays_only_the_touched_entries_and_lr_alone_changes_only_the_rate():
    rng, params = problem(1)
    before = params["direct.weight"].copy()
    opt = make_optimizer("sgd", 0.1)
    opt.set_param_options("direct.weight", l2=0.5)
    g = SparseGrad(np.array([3, 9]), np.zeros(2), (50,), 0)    # touched with a zero gradient: decay only
    opt.step(params, {"direct.weight": g})
    after = params["direct.weight"]
    assert np.array_equal(after[[3, 9]], before[[3, 9]] * 0.5)
    rest = np.ones(50, bool)
    rest[[3, 9]] = False
    assert np.array_equal(after[rest], before[rest])
    dense = make_optimizer("sgd", 0.1)
    dense.set_param_options("direct.weight", l2=0.5)
    p = {"direct.weight": before.copy()}
    dense.step(p, {"direct.weight": np.zeros(50)})             # a dense gradient touches every entry
    assert np.array_equal(p["direct.weight"], before * 0.5)
    a, b = make_optimizer("adagrad", 0.2), make_optimizer("adagrad", 0.7)
    a.set_param_options("direct.weight", lr=0.7)
    pa, pb = {"direct.weight": before.copy()}, {"direct.weight": before.copy()}
    g = sparse_grad(rng)
    a.step(pa, {"direct.weight": g})
    b.step(pb, {"direct.weight": g})
    assert np.array_equal(pa["direct.weight"], pb["direct.weight"])   # the rate, exactly, and nothing else


@pytest.mark.parametrize("kw, needle", [({"lr": 0.0}, "learning rate"), ({"lr": float("nan")}, "learning rate"),
                                        ({"l2": 1.0}, "L2"), ({"l2": -0.1}, "L2")])
def test_bad_options_are_config_errors(kw, needle):
    with pytest.raises(ConfigError, match=needle):
        OPTIMIZERS["adam"](0.01).set_param_options("direct.weight", **kw)
