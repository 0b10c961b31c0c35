"""Readout, task losses and the whole task model (layer + readout + loss) against torch autograd in float64
and against finite differences."""
import numpy as np
import pytest

from rnnlab import tasks
from rnnlab.errors import ConfigError, ShapeError
from rnnlab.finite_differences import gradcheck
from rnnlab.tasks.readout import mse_loss, readout_backward, readout_forward, xent_loss

torch = pytest.importorskip("torch")
from torch_oracle import torch_module  # noqa: E402


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


@pytest.mark.parametrize("lead", [(5,), (4, 3)])
@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_readout_and_losses_match_torch(lead, loss):
    rng = np.random.default_rng(len(lead))
    H, K = 6, 4
    params = {"readout.weight": rng.standard_normal((K, H)), "readout.bias": rng.standard_normal(K)}
    h = rng.standard_normal(lead + (H,))
    o = readout_forward(params, h)
    if loss == "mse":
        y = rng.standard_normal(lead + (K,))
        E, do = mse_loss(o.reshape(-1, K), y.reshape(-1, K))
    else:
        y = rng.integers(0, K, size=lead)
        E, do = xent_loss(o.reshape(-1, K), y.reshape(-1))
    dh, grads = readout_backward(params, h, do.reshape(o.shape))

    P = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    ht = torch.tensor(h, requires_grad=True)
    ot = ht @ P["readout.weight"].T + P["readout.bias"]
    if loss == "mse":
        Et = ((ot - torch.tensor(y)) ** 2).reshape(-1, K).sum(1).mean()
    else:
        Et = torch.nn.functional.cross_entropy(ot.reshape(-1, K), torch.tensor(y).reshape(-1))
    Et.backward()
    assert E == pytest.approx(Et.item(), rel=1e-12)
    assert rel(dh, ht.grad) < 1e-12
    for k in params:
        assert rel(grads[k], P[k].grad) < 1e-12, k


def test_losses_reject_bad_shapes():
    with pytest.raises(ShapeError):
        mse_loss(np.zeros((3, 1)), np.zeros((3, 2)))
    with pytest.raises(ShapeError):
        xent_loss(np.zeros((3, 4)), np.zeros((2,), dtype=int))


def torch_task_loss(model, batch):
    """The same model in torch (torch.nn.RNN/LSTM/GRU + linear readout), float64, autograd gradients."""
    task, layer = model.task, model.layer
    spec = model.spec
    kind = "rnn" if hasattr(layer.cell, "nonlinearity") else ("lstm" if layer.cell.gates == 4 else "gru")
    nl = getattr(layer.cell, "nonlinearity", "tanh")
    mod = torch_module(kind, task.n_in, layer.hidden_size, 1, nl, np.float64)
    assert mod is not None, spec
    with torch.no_grad():
        for k, p in mod.named_parameters():
            p.copy_(torch.tensor(model.params[f"rnn.{k}"]))
    W = torch.tensor(model.params["readout.weight"], requires_grad=True)
    b = torch.tensor(model.params["readout.bias"], requires_grad=True)
    x = batch.x
    if np.issubdtype(x.dtype, np.integer):
        x = tasks.one_hot(x, task.n_in, dtype=np.float64)
    h, _ = mod(torch.tensor(x))
    hr = h[-1] if task.readout == "last" else h
    o = hr @ W.T + b
    if task.loss == "mse":
        E = ((o - torch.tensor(batch.y, dtype=torch.float64)) ** 2).sum(-1).mean()
    else:
        E = torch.nn.functional.cross_entropy(o.reshape(-1, task.n_out), torch.tensor(batch.y).reshape(-1))
    E.backward()
    grads = {f"rnn.{k}": p.grad.numpy() for k, p in mod.named_parameters()}
    grads.update({"readout.weight": W.grad.numpy(), "readout.bias": b.grad.numpy()})
    return E.item(), grads


@pytest.mark.parametrize("task_name,length", [("adding", 7), ("copy", 3), ("temporal-order", 12)])
@pytest.mark.parametrize("model_name", ["rnn-tanh", "rnn-relu", "irnn", "lstm", "gru"])
def test_task_model_gradients_match_torch_float64(task_name, length, model_name):
    task = tasks.make_task(task_name, length)
    model = tasks.TaskModel(task, model_name, hidden_size=5, seed=3, dtype=np.float64)
    if model_name == "irnn":   # move off the identity so the test sees a generic recurrent matrix
        model.params["rnn.weight_hh_l0"] += 0.1 * np.random.default_rng(0).standard_normal((5, 5))
    batch = task.sample(4, np.random.default_rng(11))
    if task_name == "adding":
        batch.x = batch.x.astype(np.float64)
        batch.y = batch.y.astype(np.float64)
    E, grads, _ = model.loss_and_grads(batch)
    Et, gt = torch_task_loss(model, batch)
    assert E == pytest.approx(Et, rel=1e-10)
    assert set(grads) == set(model.params)
    for k in model.params:
        assert grads[k].shape == model.params[k].shape
        assert rel(grads[k], gt[k]) < 1e-9, k


@pytest.mark.parametrize("task_name", ["adding", "copy", "temporal-order"])
def test_task_model_gradients_match_finite_differences(task_name):
    task = tasks.make_task(task_name, 10)
    model = tasks.TaskModel(task, "lstm", hidden_size=4, seed=1, dtype=np.float64)
    batch = task.sample(3, np.random.default_rng(2))
    E, grads, _ = model.loss_and_grads(batch)

    def loss_fn(p):
        saved = {k: v.copy() for k, v in model.params.items()}
        for k in p:
            model.params[k][...] = p[k]          # in place: the layer shares these arrays
        try:
            return model.loss(model.predict(batch.x), batch)[0]
        finally:
            for k in saved:
                model.params[k][...] = saved[k]

    r = gradcheck(loss_fn, model.params, grads, max_entries=25, tol=1e-6)
    assert r.passed, r.max_rel_error


def test_float32_model_and_predict_chunks():
    task = tasks.make_task("copy", 4)
    model = tasks.TaskModel(task, "gru", hidden_size=8)
    batch = task.sample(7, np.random.default_rng(0))
    E, grads, _ = model.loss_and_grads(batch)
    assert all(g.dtype == np.float32 for g in grads.values())
    np.testing.assert_allclose(model.predict(batch.x, chunk=3), model.predict(batch.x), rtol=1e-5, atol=1e-6)
    r = model.evaluate(50, seed=1, chunk=16)
    assert 0 <= r["fraction_wrong"] <= 1 and r["loss"] > 0


def test_model_options():
    task = tasks.make_task("adding", 5)
    lstm = tasks.TaskModel(task, "lstm", hidden_size=4)
    H = 4
    assert np.all(lstm.params["rnn.bias_ih_l0"][H:2 * H] == 1.0) and np.all(lstm.params["rnn.bias_hh_l0"][H:2 * H] == 0)
    lstm2 = tasks.TaskModel(task, "lstm", hidden_size=4, forget_bias=2.5)
    assert np.all(lstm2.params["rnn.bias_ih_l0"][H:2 * H] == 2.5)
    irnn = tasks.TaskModel(task, "irnn", hidden_size=4, init="orthogonal")
    np.testing.assert_array_equal(irnn.params["rnn.weight_hh_l0"], np.eye(4))
    orth = tasks.TaskModel(task, "rnn-tanh", hidden_size=4, init="orthogonal", spectral_radius=0.5)
    assert np.max(np.abs(np.linalg.eigvals(orth.params["rnn.weight_hh_l0"]))) == pytest.approx(0.5, rel=1e-5)
    with pytest.raises(ConfigError, match="unknown model"):
        tasks.TaskModel(task, "transformer")
    with pytest.raises(ConfigError, match="forget_bias"):
        tasks.TaskModel(task, "gru", forget_bias=1.0)
    with pytest.raises(ConfigError, match="Omega"):
        lstm.loss_and_grads(task.sample(2, np.random.default_rng(0)), omega=0.1)
