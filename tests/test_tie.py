"""Weight tying (rnnlab.tie): one matrix for the embedding and the decoder; its gradient (the sum of both
uses) against torch's own tying (float64) and finite differences; sizes that do not match are refused."""
import numpy as np
import pytest

from rnnlab.errors import ConfigError
from rnnlab.interop import to_torch
from rnnlab.lm import LanguageModel
from rnnlab.sparse import SparseGrad
from rnnlab.tie import add_grads

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("output", ["softmax", "class"])
@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_tied_gradient_matches_torch_tied_module(output, cell):
    rng = np.random.default_rng(3)
    lm = LanguageModel(14, 6, cell=cell, embedding_size=6, output=output, n_classes=4, dtype=np.float64, seed=1,
                       tie=True)
    assert "decoder.weight" not in lm.params
    x, y = rng.integers(0, 14, (5, 3)), rng.integers(0, 14, (5, 3))
    y[3:, 2] = -1
    loss, grads = lm.loss_and_grads(x, y)
    mod = to_torch(lm)
    assert mod.decoder.weight is mod.encoder.weight
    ref = mod.loss(torch.from_numpy(x), torch.from_numpy(y))
    ref.backward()
    assert abs(loss - ref.item()) <= 1e-12 * ref.item()
    for k, p in mod.named_parameters():     # named_parameters lists the shared matrix once
        np.testing.assert_allclose(grads[k], p.grad.numpy(), rtol=1e-9, atol=1e-14, err_msg=k)
    assert np.array_equal(mod.to_rnnlab().params["encoder.weight"], lm.params["encoder.weight"])
    # finite differences on one shared entry: both uses move together
    E = lm.params["encoder.weight"]
    v = int(x[0, 0])
    E[v, 2] += 1e-6
    lp = lm.loss(x, y)[0]
    E[v, 2] -= 2e-6
    lm_ = lm.loss(x, y)[0]
    E[v, 2] += 1e-6
    assert abs((lp - lm_) / 2e-6 - grads["encoder.weight"][v, 2]) <= 1e-8


def test_add_grads_dense_and_sparse():
    rng = np.random.default_rng(0)
    a = SparseGrad(np.array([1, 4]), rng.normal(size=(2, 3)), (6, 3))
    b = SparseGrad(np.array([0, 4, 5]), rng.normal(size=(3, 3)), (6, 3))
    d = rng.normal(size=(6, 3))
    s = add_grads(a, b)
    assert isinstance(s, SparseGrad) and list(s.index) == [0, 1, 4, 5]
    np.testing.assert_allclose(s.dense(), a.dense() + b.dense())
    np.testing.assert_allclose(add_grads(a, d), a.dense() + d)
    np.testing.assert_allclose(add_grads(d, b), d + b.dense())


@pytest.mark.parametrize("emb", [None, 5])
def test_tie_needs_matching_sizes(emb):
    with pytest.raises(ConfigError, match="--tie"):
        LanguageModel(10, 6, embedding_size=emb, tie=True)
