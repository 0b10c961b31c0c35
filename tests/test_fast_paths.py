"""Fast paths against the plain computations they replace (bitwise where the arithmetic is the same)."""
import numpy as np
import pytest

from rnnlab import optim
from rnnlab.sparse import SparseGrad, segment_sum


@pytest.fixture(params=[1 << 16, 16], ids=["whole", "blocked"])
def block(request, monkeypatch):
    """Elementwise updates on whole arrays, or in blocks of 16 elements (several blocks per array)."""
    monkeypatch.setattr(optim, "BLOCK", request.param)
    return request.param


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("n_idx", [3, 40])  # below and above Adagrad's densify threshold (of 50 rows)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adagrad_sparse_and_densified_updates_equal_dense_bitwise(axis, n_idx, dtype, block):
    rng = np.random.default_rng(n_idx + axis)
    shape = (50, 7) if axis == 0 else (7, 50)
    p_dense = {"w": rng.standard_normal(shape).astype(dtype)}
    p_sparse = {"w": p_dense["w"].copy()}
    o_dense, o_sparse = optim.Adagrad(0.05), optim.Adagrad(0.05)
    for _ in range(5):
        idx = rng.integers(0, 50, size=n_idx)
        uniq, sums = segment_sum(idx, rng.standard_normal((n_idx, 7)).astype(dtype))
        sg = SparseGrad(uniq, sums, shape, axis)
        o_dense.step(p_dense, {"w": sg.dense()})
        o_sparse.step(p_sparse, {"w": sg})
    np.testing.assert_array_equal(p_sparse["w"], p_dense["w"])
    np.testing.assert_array_equal(o_sparse.state["G.w"], o_dense.state["G.w"])


@pytest.mark.parametrize("n_idx", [4, 8])  # below and above the dense-then-restore threshold (of 10 rows)
@pytest.mark.parametrize("axis", [0, 1])
def test_sparse_adam_matches_torch_sparse_adam(axis, n_idx, block):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5 + axis)
    shape = (10, 4) if axis == 0 else (4, 10)
    p = {"w": rng.standard_normal(shape)}
    tw = torch.tensor(p["w"].T.copy() if axis else p["w"].copy(), requires_grad=True)  # rows in torch
    opt = optim.SparseAdam(0.01, eps=1e-12)
    topt = torch.optim.SparseAdam([tw], lr=0.01, eps=1e-12)
    for _ in range(6):
        idx = np.sort(rng.choice(10, size=n_idx, replace=False))
        vals = rng.standard_normal((n_idx, 4))
        opt.step(p, {"w": SparseGrad(idx, vals, shape, axis)})
        tw.grad = torch.sparse_coo_tensor(torch.from_numpy(idx)[None], torch.from_numpy(vals), (10, 4),
                                          check_invariants=True)
        topt.step()
    ours = p["w"].T if axis else p["w"]
    np.testing.assert_allclose(ours, tw.detach().numpy(), rtol=1e-9, atol=1e-12)


def test_sparse_adam_with_every_row_equals_adam_bitwise(block):
    rng = np.random.default_rng(9)
    p1 = {"w": rng.standard_normal((6, 3)).astype(np.float32)}
    p2 = {"w": p1["w"].copy()}
    o1, o2 = optim.SparseAdam(0.01), optim.Adam(0.01)
    for _ in range(4):
        vals = rng.standard_normal((6, 3)).astype(np.float32)
        o1.step(p1, {"w": SparseGrad(np.arange(6), vals, (6, 3), 0)})
        o2.step(p2, {"w": vals})
    np.testing.assert_array_equal(p1["w"], p2["w"])


@pytest.mark.parametrize("name", ["adagrad", "adam"])
def test_blocked_dense_update_equals_whole_array_update_bitwise(name, monkeypatch):
    rng = np.random.default_rng(11)
    p1 = {"w": rng.standard_normal((40, 9)).astype(np.float32)}
    p2 = {"w": p1["w"].copy()}
    o1, o2 = optim.make_optimizer(name, 0.01), optim.make_optimizer(name, 0.01)
    for _ in range(3):
        g = rng.standard_normal((40, 9)).astype(np.float32)
        monkeypatch.setattr(optim, "BLOCK", 1 << 16)
        o1.step(p1, {"w": g.copy()})
        monkeypatch.setattr(optim, "BLOCK", 20)     # 2-row blocks
        assert len(optim.row_blocks(p2["w"])) == 20
        o2.step(p2, {"w": g.copy()})
    np.testing.assert_array_equal(p1["w"], p2["w"])


def test_full_softmax_scaled_gradients_equal_scaling_afterwards():
    """The scale is folded into the small factors (h, the ones vector, dh): same numbers as scaling after."""
    from rnnlab.output import Softmax

    rng = np.random.default_rng(2)
    out = Softmax(30, 5)
    params = {"decoder.weight": rng.standard_normal((30, 5)), "decoder.bias": rng.standard_normal(30)}
    h, y = rng.standard_normal((12, 5)), rng.integers(0, 30, 12)
    loss1, dh1, g1 = out.loss_and_grad(params, h, y, scale=0.25)
    loss2, dh2, g2 = out.loss_and_grad(params, h, y)
    assert loss1 == loss2
    np.testing.assert_allclose(dh1, 0.25 * dh2, rtol=1e-14)
    for k in g1:
        np.testing.assert_allclose(g1[k], 0.25 * g2[k], rtol=1e-13, atol=1e-16)


def test_one_hot_lm_stores_u_by_columns_and_is_checked_by_finite_differences():
    import rnnlab
    from rnnlab.finite_differences import lm_gradcheck

    lm = rnnlab.LanguageModel(12, 5, output="class", dtype=np.float64, num_classes=3, seed=4)
    U = lm.params["rnn.weight_ih_l0"]
    assert U.shape == (5, 12) and U.flags.f_contiguous and U is lm.layer.params["weight_ih_l0"]
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 12, (4, 3)), rng.integers(0, 12, (4, 3))
    _, grads = lm.loss_and_grads(x, y)

    r = lm_gradcheck(lm, x, y, {"rnn.weight_ih_l0": grads["rnn.weight_ih_l0"]}, max_entries=30)
    assert r.passed, r.max_rel_error


@pytest.mark.parametrize("name", ["sgd", "adagrad", "sparseadam"])
def test_column_major_parameter_updates_equal_row_major_bitwise(name):
    rng = np.random.default_rng(8)
    pc = {"u": rng.standard_normal((6, 40)).astype(np.float32)}
    pf = {"u": np.asfortranarray(pc["u"])}
    oc, of = optim.make_optimizer(name, 0.05), optim.make_optimizer(name, 0.05)
    for n in (5, 30, 5):  # sparse, densified, sparse
        idx = np.sort(rng.choice(40, n, replace=False))
        vals = rng.standard_normal((n, 6)).astype(np.float32)
        oc.step(pc, {"u": SparseGrad(idx, vals, (6, 40), 1)})
        of.step(pf, {"u": SparseGrad(idx, vals, (6, 40), 1)})
    np.testing.assert_array_equal(pc["u"], pf["u"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_without_the_max_shift_when_logits_are_bounded(dtype):
    from rnnlab.output import SAFE_LOGIT, logit_bound, softmax_ce

    rng = np.random.default_rng(4)
    h = np.tanh(rng.standard_normal((30, 6))).astype(dtype)
    W, b = rng.uniform(-1, 1, (50, 6)).astype(dtype), rng.uniform(-1, 1, 50).astype(dtype)
    y = rng.integers(0, 50, 30)
    bound = logit_bound(h, W, b)
    assert np.abs(h @ W.T + b).max() <= bound < SAFE_LOGIT
    l1, d1 = softmax_ce(h @ W.T, y, b, bound=bound)        # no shift
    l2, d2 = softmax_ce(h @ W.T, y, b)                     # shifted by the row max
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert l1 == pytest.approx(l2, rel=tol)
    np.testing.assert_allclose(d1, d2, rtol=tol, atol=tol * 1e-2)
    # logits far beyond the safe range: the bound says so and the shift keeps everything finite
    big = 200.0 * np.abs(W)
    l3, d3 = softmax_ce(h @ big.T, y, b, bound=logit_bound(h, big, b))
    assert np.isfinite(l3) and np.all(np.isfinite(d3))


def test_sparse_adam_updates_runs_of_rows_as_views_bitwise(monkeypatch):
    """Whole classes of a class output (runs of ids) take the view path: bitwise the row-gathering path."""
    rng = np.random.default_rng(12)
    idx = np.r_[np.arange(0, 40), np.arange(55, 100), np.arange(101, 120)]
    assert optim.contiguous_runs(idx) == [(0, 40, 0), (55, 100, 40), (101, 120, 85)]
    assert optim.contiguous_runs(np.arange(0, 40, 2)) is None          # runs of one row
    p1 = {"w": rng.standard_normal((130, 5)).astype(np.float32), "b": rng.standard_normal(130).astype(np.float32)}
    p2 = {k: v.copy() for k, v in p1.items()}
    o1, o2 = optim.SparseAdam(0.01), optim.SparseAdam(0.01)
    for _ in range(3):
        gw, gb = rng.standard_normal((len(idx), 5)).astype(np.float32), rng.standard_normal(len(idx)).astype(np.float32)
        o1.step(p1, {"w": SparseGrad(idx, gw, (130, 5), 0), "b": SparseGrad(idx, gb, (130,), 0)})
        with monkeypatch.context() as m:   # the reference: rows gathered, updated, scattered
            m.setattr(optim, "contiguous_runs", lambda index: None)
            m.setattr(optim, "DENSE_FRACTION", 2.0)
            o2.step(p2, {"w": SparseGrad(idx, gw, (130, 5), 0), "b": SparseGrad(idx, gb, (130,), 0)})
    for k in p1:
        np.testing.assert_array_equal(p1[k], p2[k])
        np.testing.assert_array_equal(o1.state[f"v.{k}"], o2.state[f"v.{k}"])


@pytest.mark.parametrize("kind,nl", [("rnn", "tanh"), ("rnn", "relu"), ("lstm", None), ("gru", None)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("final", [False, True], ids=["no-dhn", "dhn"])
def test_full_bptt_with_step_into_equals_plain_steps_bitwise(kind, nl, dtype, final):
    """bptt's sweep with the cells' ``backward_step_into`` against the plain ``backward_step`` sweep, both in
    NumPy (the compiled kernels' ``backward_step_into`` is held to this one in test_kernels)."""
    from rnnlab import kernels

    with kernels.numpy_only():
        _step_into_against_plain_steps(kind, nl, dtype, final)


def _step_into_against_plain_steps(kind, nl, dtype, final):
    import rnnlab
    from rnnlab import bptt

    rng = np.random.default_rng(5)
    T, B, I, H = 9, 3, 4, 5
    layer = rnnlab.make_layer(kind, I, H, nonlinearity=nl or "tanh", dtype=dtype, seed=2)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    dout = rng.standard_normal((T, B, H)).astype(dtype)
    st = lambda: rng.standard_normal((B, H)).astype(dtype)
    dhn = ((st(), st()) if kind == "lstm" else st()) if final else None
    _, _, cache = layer.forward(x)
    c, W_hh = cache[0], layer.params["weight_hh_l0"]
    layer.cell.prepare_backward(c)
    dhn_h, dhn_c = (dhn if kind == "lstm" and final else (dhn, None))
    before = [None if a is None else a.copy() for a in (dhn_h, dhn_c)]
    fast = bptt._full_into(layer.cell, c, W_hh, dout, dhn_h, dhn_c)
    plain = bptt._full(layer.cell, c, W_hh, dout, dhn_h, dhn_c)
    assert (fast[1] is fast[0]) == (plain[1] is plain[0])
    for ours, ref in zip(fast, plain):
        if ref is None:
            assert ours is None
        else:
            np.testing.assert_array_equal(ours, ref)
    for a, b in zip((dhn_h, dhn_c), before):  # the caller's final-state gradients are read, never written
        if b is not None:
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_per_step_factors_in_step_blocks_equal_one_block_bitwise(kind, monkeypatch):
    """``prepare_backward`` a few steps at a time (blocks of 1 and 2 steps, the last one short) against
    all steps in one block (the NumPy code: the compiled kernels have no blocks)."""
    import rnnlab
    from rnnlab import bptt

    monkeypatch.setenv("RNNLAB_KERNELS", "numpy")

    rng = np.random.default_rng(3)
    T, B, I, H = 7, 2, 3, 4
    layer = rnnlab.make_layer(kind, I, H, dtype=np.float64, seed=1)
    _, _, cache = layer.forward(rng.standard_normal((T, B, I)))
    keys = ("coef", "oc") if kind == "lstm" else ("coef",)
    results = []
    for block in (1 << 16, B * H, 2 * B * H):
        monkeypatch.setattr(bptt, "STEP_BLOCK", block)
        c = {k: v for k, v in cache[0].items() if k not in keys}
        layer.cell.prepare_backward(c)
        results.append([c[k] for k in keys])
    assert len(bptt.step_blocks(T, B * H)) == 4  # the last setting: blocks of 2, 2, 2, 1 steps
    for blocked in results[1:]:
        for ours, ref in zip(blocked, results[0]):
            np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("path", ["kernels", "numpy"])
def test_gates_by_exp_saturate_cleanly(kind, dtype, path, monkeypatch):
    """Gates computed through exp (sigma(a) = 1 / (1 + exp(-a)), tanh(a) = 2 sigma(2a) - 1) against the
    textbook formulas, with pre-activations far beyond exp's range: no warning, no NaN, exact 0 / +-1;
    the compiled kernels (rnnlab.kernels) and the NumPy code."""
    import warnings

    import rnnlab

    if path == "numpy":
        monkeypatch.setenv("RNNLAB_KERNELS", "numpy")

    rng = np.random.default_rng(4)
    T, B, I, H = 3, 4, 2, 3
    layer = rnnlab.make_layer(kind, I, H, dtype=dtype, seed=0)
    for k in layer.params:
        layer.params[k] *= dtype(300.0)  # pre-activations of several hundred to thousands: exp overflows
    x = rng.standard_normal((T, B, I)).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, _, cache = layer.forward(x)
    p = {k: v.astype(np.float64) for k, v in layer.params.items()}
    sig = lambda a: 0.5 * (1.0 + np.tanh(0.5 * a))
    h, c = np.zeros((B, H)), np.zeros((B, H))
    for t in range(T):
        gi = x[t] @ p["weight_ih_l0"].T + p["bias_ih_l0"]
        gh = h @ p["weight_hh_l0"].T + p["bias_hh_l0"]
        if kind == "lstm":
            a = gi + gh
            i, f, g, o = sig(a[:, :H]), sig(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), sig(a[:, 3 * H:])
            c = f * c + i * g
            h = o * np.tanh(c)
            ref_gates = np.concatenate([i, f, g, o], axis=1)
        else:
            r, z = sig(gi[:, :H] + gh[:, :H]), sig(gi[:, H:2 * H] + gh[:, H:2 * H])
            n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
            h = (1 - z) * n + z * h
            ref_gates = np.concatenate([r, z, n], axis=1)
        assert np.all(np.isfinite(cache[0]["gates"][t]))
        np.testing.assert_allclose(cache[0]["gates"][t], ref_gates, rtol=0, atol=10 * np.finfo(dtype).eps)
        np.testing.assert_allclose(out[t], h, rtol=0, atol=100 * np.finfo(dtype).eps)
    assert np.mean(np.abs(cache[0]["gates"]) == 1.0) > 0.3  # most gates saturated exactly
