"""Whole language models to torch and back: same parameters bit for bit, same outputs (float64: 1e-10),
and a model trained in torch comes back with torch's logits."""
import numpy as np
import pytest

from rnnlab.errors import ConfigError
from rnnlab.interop import from_torch, to_torch, unwrap
from rnnlab.lm import LanguageModel

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # tiny problems: OpenMP threads only contend on a shared machine

CELLS = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")]
V = 17



def module_output(lm, x, h0=None):
    """What the torch module's forward returns: logits, or for the class output log-probabilities."""
    return (lm.log_probs if lm.config.output == "class" else lm.logits)(x, h0)[0]

def tokens(seed, T=6, B=3, pad=True):
    rng = np.random.default_rng(seed)
    x, y = rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))
    if pad:
        y[4:, 1] = -1
    return x, y


def assert_same_params(lm, back):
    assert list(back.params) == list(lm.params)
    for k, v in lm.params.items():
        assert back.params[k].dtype == v.dtype, k
        np.testing.assert_array_equal(back.params[k], v, err_msg=k)


def state_arrays(h):
    return [t.detach().numpy() for t in (h if isinstance(h, tuple) else (h,))]


@pytest.mark.parametrize("cell,nl", CELLS)
@pytest.mark.parametrize("output", ["softmax", "class"])
@pytest.mark.parametrize("emb", [None, 5])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lm_round_trip_is_bitwise_and_outputs_agree(cell, nl, output, emb, layers, dtype):
    # class output: a scattered (non-contiguous, non-default) class of each word, so it must travel
    cw = np.random.default_rng(0).permutation(np.arange(V) % 4) if output == "class" else None
    lm = LanguageModel(V, 7, cell=cell, nonlinearity=nl, num_layers=layers, embedding_size=emb, output=output,
                       dtype=dtype, seed=11, class_of_word=cw)
    mod = to_torch(lm)
    assert list(mod.state_dict()) == list(lm.params)
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    assert all(v.dtype == tdt for v in mod.state_dict().values())
    back = from_torch(mod)
    assert type(back) is LanguageModel and back.config == lm.config
    assert_same_params(lm, back)
    if output == "class":
        np.testing.assert_array_equal(back.output.class_of_word, lm.output.class_of_word)

    x, y = tokens(1)
    h0 = np.random.default_rng(2).standard_normal((layers, 3, 7)).astype(dtype)
    h0 = (h0, 0.5 * h0) if cell == "lstm" else h0
    th0 = tuple(torch.from_numpy(h) for h in h0) if cell == "lstm" else torch.from_numpy(h0)
    tol = 1e-10 if dtype == np.float64 else 2e-5
    with torch.no_grad():
        z, thn = mod(torch.from_numpy(x), th0)
        tlogp, _ = mod.log_probs(torch.from_numpy(x), th0)
        tloss = mod.loss(torch.from_numpy(x), torch.from_numpy(y), th0)
    np.testing.assert_allclose(module_output(back, x, h0), z.numpy(), rtol=tol, atol=tol)
    logp, hn = back.log_probs(x, h0)
    np.testing.assert_allclose(logp, tlogp.numpy(), rtol=tol, atol=tol)
    for a, b in zip(state_arrays(thn), hn if isinstance(hn, tuple) else (hn,)):
        np.testing.assert_allclose(b, a, rtol=tol, atol=tol)
    loss, _, n = back.loss(x, y, h0)
    assert n == int((y >= 0).sum())
    np.testing.assert_allclose(loss, float(tloss), rtol=tol)


def test_sigmoid_rnn_lm_has_no_torch_twin():
    with pytest.raises(ConfigError, match="sigmoid"):
        to_torch(LanguageModel(V, 4, nonlinearity="sigmoid"))


@pytest.mark.parametrize("cell,output,emb", [("lstm", "class", 6), ("gru", "softmax", None),
                                             ("rnn", "class", None), ("rnn", "softmax", 6)])
def test_model_trained_in_torch_comes_back_with_torch_logits(cell, output, emb):
    """Reverse direction: a few Adam steps in torch (autograd), then from_torch; rnnlab reproduces the
    trained module's logits and loss, and the parameters are the trained ones, bit for bit."""
    lm = LanguageModel(V, 8, cell=cell, num_layers=2, embedding_size=emb, output=output, dtype=np.float64,
                       seed=5, num_classes=5)
    mod = to_torch(lm)
    opt = torch.optim.Adam(mod.parameters(), lr=0.05)
    x, y = tokens(7, T=8, B=4)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    first = None
    for _ in range(5):
        opt.zero_grad()
        loss = mod.loss(tx, ty)
        loss.backward()
        opt.step()
        first = float(loss.detach()) if first is None else first
    back = from_torch(mod)
    sd = mod.state_dict()
    for k, v in back.params.items():
        np.testing.assert_array_equal(v, sd[k].numpy(), err_msg=k)
    assert any(not np.array_equal(back.params[k], lm.params[k]) for k in lm.params)  # it did train
    xe, ye = tokens(8, T=5, B=2)
    with torch.no_grad():
        z, _ = mod(torch.from_numpy(xe))
        tl = float(mod.loss(torch.from_numpy(xe), torch.from_numpy(ye)))
    np.testing.assert_allclose(module_output(back, xe), z.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(back.loss(xe, ye)[0], tl, rtol=1e-10)
    assert back.loss(x, y)[0] < first  # and what torch learnt is what rnnlab now measures


def test_module_built_by_torch_converts_and_dtype_follows_the_parameters():
    """A module initialised by torch itself, then cast with .double(): rnnlab takes the float64 weights
    as they are (no silent cast back to the config's float32)."""
    lm = LanguageModel(V, 6, cell="lstm", embedding_size=4, output="class", num_classes=3, seed=1)
    mod = to_torch(lm)
    torch.manual_seed(0)
    for p in mod.parameters():
        torch.nn.init.normal_(p)
    mod = mod.double()
    back = from_torch(mod)
    assert back.config.dtype == "float64" and back.dtype == np.float64
    sd = mod.state_dict()
    for k, v in back.params.items():
        np.testing.assert_array_equal(v, sd[k].numpy())
    x, _ = tokens(3)
    with torch.no_grad():
        z, _ = mod(torch.from_numpy(x))
    np.testing.assert_allclose(module_output(back, x), z.numpy(), rtol=1e-10, atol=1e-10)
    with pytest.raises(ConfigError, match="float16"):
        from_torch(mod.half())


def test_wrapped_module_is_unwrapped():
    lm = LanguageModel(V, 5, cell="gru", seed=2)
    mod = to_torch(lm)
    wrapped = torch.nn.DataParallel(mod)  # the same unwrapping serves DistributedDataParallel
    assert unwrap(wrapped) is mod
    assert_same_params(lm, from_torch(wrapped))
