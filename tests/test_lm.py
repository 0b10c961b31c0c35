"""The language model against its torch twin (float64), finite differences, and its own invariants."""
import numpy as np
import pytest

import rnnlab
from rnnlab.data.vocab import Vocab, frequency_classes
from rnnlab.errors import ConfigError, ShapeError
from rnnlab.finite_differences import lm_gradcheck
from rnnlab.lm import LanguageModel, default_classes

torch = pytest.importorskip("torch")

CELLS = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")]


def rel(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def problem(seed=0, V=20, T=5, B=3, pad=True):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, V, (T, B))
    y = rng.integers(0, V, (T, B))
    if pad:
        y[3:, 1] = -1  # a shorter sentence in the batch
    return x, y


@pytest.mark.parametrize("cell,nl", CELLS)
@pytest.mark.parametrize("output", ["softmax", "class"])
@pytest.mark.parametrize("emb", [None, 6])
@pytest.mark.parametrize("layers", [1, 2])
def test_loss_grads_and_logits_match_torch(cell, nl, output, emb, layers):
    lm = LanguageModel(20, 8, cell=cell, nonlinearity=nl, num_layers=layers, embedding_size=emb, output=output,
                       dtype=np.float64, seed=3, num_classes=4)
    x, y = problem()
    loss, grads = lm.loss_and_grads(x, y)
    mod = rnnlab.interop.to_torch(lm)
    assert list(mod.state_dict()) == list(lm.params)
    z, _ = mod(torch.from_numpy(x))
    ce = torch.nn.functional.cross_entropy(z.reshape(-1, 20), torch.from_numpy(y.reshape(-1)), ignore_index=-1)
    ce.backward()
    assert abs(loss - ce.item()) <= 1e-12 * abs(ce.item())
    for k, p in mod.named_parameters():
        assert grads[k].shape == lm.params[k].shape and grads[k].dtype == np.float64
        assert rel(grads[k], p.grad.numpy()) <= 1e-9, k
    if output == "softmax":                              # the torch module's z: logits ...
        assert rel(lm.logits(x)[0], z.detach().numpy()) <= 1e-12
    else:                                                # ... or, for the class output, log-probabilities
        assert rel(lm.log_probs(x)[0], z.detach().numpy()) <= 1e-12


@pytest.mark.parametrize("output", ["softmax", "class"])
def test_truncated_lm_gradient_matches_torch_detach(output):
    """truncate=k through the whole model equals torch's windowed-detach definition (1 layer)."""
    import sys
    sys.path.insert(0, "tests")
    from torch_oracle import run_layer

    lm = LanguageModel(15, 6, cell="gru", embedding_size=5, output=output, dtype=np.float64, seed=1, num_classes=3)
    x, y = problem(V=15, T=9, B=2, pad=False)
    _, grads = lm.loss_and_grads(x, y, truncate=2)
    P = {k: torch.tensor(v, requires_grad=True) for k, v in lm.params.items()}
    L = {k[4:]: v for k, v in P.items() if k.startswith("rnn.")}
    emb = P["encoder.weight"][torch.from_numpy(x)]
    outs = torch.stack(run_layer("gru", "tanh", L, 0, list(emb.unbind(0)), torch.zeros(2, 6, dtype=torch.float64),
                                 truncate=2))
    mod = rnnlab.interop.to_torch(lm)
    with torch.no_grad():
        for k, p in mod.named_parameters():
            p.copy_(P[k])
    # decoder part through the torch twin's output head, applied to the windowed states
    z = outs @ P["decoder.weight"].T + P["decoder.bias"]
    if output == "class":
        cw = torch.from_numpy(lm.output.class_of_word)
        logp_c = torch.log_softmax(outs @ P["class_decoder.weight"].T + P["class_decoder.bias"], -1)
        logp = torch.empty_like(z)
        for c in range(lm.output.n_classes):
            m = cw == c
            logp[..., m] = torch.log_softmax(z[..., m], -1) + logp_c[..., c:c + 1]
        z = logp
    ce = torch.nn.functional.cross_entropy(z.reshape(-1, 15), torch.from_numpy(y.reshape(-1)))
    ce.backward()
    for k in lm.params:
        assert rel(grads[k], P[k].grad.numpy()) <= 1e-9, k


@pytest.mark.parametrize("output", ["softmax", "class"])
def test_gradcheck_finite_differences(output):
    # torch's uniform forget-gate bias: with the default 1.0 a few entries of weight_hh at this point are
    # ~1e-7 of the largest gradient, where the differences' round-off (growing as eps shrinks) decides;
    # the torch oracle (test_interop_lm) checks the default init
    lm = LanguageModel(12, 5, cell="lstm", embedding_size=4, output=output, dtype=np.float64, num_classes=3,
                       forget_bias=None)
    x, y = problem(V=12)
    _, grads = lm.loss_and_grads(x, y)

    r = lm_gradcheck(lm, x, y, grads, max_entries=25)
    assert r.passed, r.max_rel_error


def test_class_softmax_probabilities_sum_to_one_and_match_sampling_path():
    lm = LanguageModel(50, 7, output="class", dtype=np.float64, class_of_word=default_classes(50, 6))
    x, _ = problem(V=50, T=4, B=2)
    lp, _ = lm.log_probs(x)
    np.testing.assert_allclose(np.exp(lp).sum(-1), 1.0, rtol=1e-12)
    # the training loss equals -log p(y) read off the full distribution
    y = np.random.default_rng(5).integers(0, 50, x.shape)
    loss, _, n = lm.loss(x, y)
    ref = -np.take_along_axis(lp, y[..., None], -1).mean()
    assert abs(loss - ref) < 1e-12 and n == y.size


def test_padding_is_ignored():
    lm = LanguageModel(20, 6, dtype=np.float64)
    x, y = problem()
    loss, g = lm.loss_and_grads(x, y)
    y2 = y.copy()
    x2 = x.copy()
    x2[3:, 1] = 7  # whatever sits at padded positions does not matter (it comes after the sentence)
    loss2, g2 = lm.loss_and_grads(x2, y2)
    assert loss == loss2
    for k in g:
        np.testing.assert_array_equal(g[k], g2[k])


def test_float32_end_to_end():
    lm = LanguageModel(20, 6, cell="lstm", embedding_size=5, output="class", dtype=np.float32, num_classes=4)
    x, y = problem()
    loss, g = lm.loss_and_grads(x, y)
    assert all(v.dtype == np.float32 for v in g.values())
    assert lm.log_probs(x)[0].dtype == np.float32


def test_classes_by_frequency_are_balanced_and_nonempty():
    counts = np.array([1000, 500, 300, 100, 50, 20, 10, 5, 3, 1])
    c = default_classes(10, 3, counts)
    assert set(c) == {0, 1, 2}
    assert c[0] == 0 and c[-1] == 2


@pytest.mark.parametrize("seed", range(6))
def test_default_classes_and_vocab_classes_are_one_rule(seed):
    """A model built without class_of_word and `rnnlab train --output class` bin the same counts the same way."""
    rng = np.random.default_rng(seed)
    V = int(rng.integers(5, 400))
    words = np.sort(rng.zipf(1.2 + 0.2 * seed, V - 3).clip(1, 10**7))[::-1]
    counts = np.concatenate([[int(rng.integers(0, 100)), 0, int(rng.integers(1, 1000))], words]).astype(np.int64)
    vocab = Vocab(["<unk>", "<s>", "</s>"] + [f"w{i}" for i in range(V - 3)], counts)
    for C in sorted({1, 2, int(round(np.sqrt(V))), int(rng.integers(1, V + 1)), V}):
        c = default_classes(V, C, counts)
        np.testing.assert_array_equal(c, vocab.frequency_classes(C))
        np.testing.assert_array_equal(c, frequency_classes(counts, C))
        assert np.bincount(c, minlength=C).min() >= 1 and (np.diff(c) >= 0).all()   # non-empty runs of ids
    # without counts: the same rule on a Zipf profile over the ids
    zipf = default_classes(V)
    np.testing.assert_array_equal(zipf, frequency_classes(1.0 / np.arange(1, V + 1), int(round(np.sqrt(V)))))
    lm = LanguageModel(V, 4, output="class", num_classes=3, dtype=np.float64)
    np.testing.assert_array_equal(lm.output.class_of_word, frequency_classes(1.0 / np.arange(1, V + 1), 3))
    assert lm.output.contiguous


def test_class_rule_rejects_bad_counts():
    for bad in ([3, -1, 2], [1.0, np.nan], [[1, 2]], []):
        with pytest.raises(ConfigError, match="counts"):
            frequency_classes(np.asarray(bad), 1)
    with pytest.raises(ConfigError, match="one entry per word"):
        default_classes(5, 2, [3, 2, 1])


def test_bad_arguments():
    with pytest.raises(ConfigError):
        LanguageModel(20, 0)
    with pytest.raises(ConfigError):
        LanguageModel(20, 5, cell="transformer")
    lm = LanguageModel(20, 5)
    with pytest.raises(ShapeError):
        lm.loss_and_grads(np.zeros((3, 2)), np.zeros((3, 2), int))
    with pytest.raises(ShapeError):
        lm.loss_and_grads(np.full((3, 2), 25), np.zeros((3, 2), int))
    with pytest.raises(ShapeError):
        lm.loss_and_grads(np.zeros((3, 2), int), np.full((3, 2), -1))


@pytest.mark.parametrize("bad", [-5, -2])
def test_only_minus_one_is_padding(bad):
    """Defect 4: any negative target used to be taken as padding; only -1 is, others are a ShapeError."""
    lm = LanguageModel(20, 5)
    x, y = problem()
    y[2, 0] = bad
    for call in (lambda: lm.loss_and_grads(x, y), lambda: lm.loss(x, y)):
        with pytest.raises(ShapeError, match=r"-1 \(padding\)"):
            call()


def test_one_owner_of_the_parameters():
    """The model's dict is the only owner: replacing an entry (as Hogwild does) is what the layer reads."""
    lm = LanguageModel(20, 5, num_layers=2, dtype=np.float64, seed=1)
    x, y = problem()
    before = lm.loss(x, y)[0]
    for k in list(lm.params):
        lm.params[k] = lm.params[k].copy(order="K")        # new arrays, same values
    assert all(lm.layer.params[k] is lm.params[f"rnn.{k}"] for k in lm.layer.params)
    assert lm.loss(x, y)[0] == before
    lm.params["rnn.weight_hh_l1"] = np.zeros_like(lm.params["rnn.weight_hh_l1"])
    assert lm.layer.params["weight_hh_l1"] is lm.params["rnn.weight_hh_l1"]
    assert lm.loss(x, y)[0] != before
    assert list(lm.layer.params) == [k[4:] for k in lm.params if k.startswith("rnn.")]


@pytest.mark.parametrize("output", ["softmax", "class"])
def test_state_dict_round_trip(output):
    lm = LanguageModel(20, 5, cell="lstm", embedding_size=3, output=output, num_classes=4, seed=1)
    sd = lm.state_dict()
    assert set(sd) == set(lm.params) | ({"output.class_of_word"} if output == "class" else set())
    assert all(sd[k] is v for k, v in lm.params.items())             # the live arrays
    other = LanguageModel.from_state_dict(lm.config, {k: v.copy() for k, v in sd.items()})
    x, y = problem()
    np.testing.assert_array_equal(other.log_probs(x)[0], lm.log_probs(x)[0])
    with pytest.raises(ConfigError, match="missing"):
        other.load_state_dict({k: v for k, v in sd.items() if k != "decoder.bias"})
    with pytest.raises(ConfigError, match="shape"):
        other.load_state_dict({**sd, "decoder.bias": np.zeros(3)})


def test_log_probs_for_both_outputs_and_logits_only_where_they_exist():
    x, _ = problem()
    for output in ("softmax", "class"):
        lm = LanguageModel(20, 5, output=output, dtype=np.float64)
        logp, hn = lm.log_probs(x)
        assert logp.shape == (*x.shape, 20) and hn.shape == (1, x.shape[1], 5)
        np.testing.assert_allclose(np.exp(logp).sum(-1), 1.0, rtol=1e-12)
        if output == "softmax":
            z, hn2 = lm.logits(x)
            np.testing.assert_allclose(z - np.log(np.exp(z).sum(-1, keepdims=True)), logp, rtol=1e-12, atol=1e-12)
            np.testing.assert_array_equal(hn, hn2)
        else:
            with pytest.raises(ConfigError, match="log_probs"):
                lm.logits(x)


@pytest.mark.parametrize("contiguous", [True, False])
def test_class_softmax_with_any_class_assignment_matches_torch(contiguous):
    rng = np.random.default_rng(4)
    classes = np.sort(rng.integers(0, 5, 30)) if contiguous else rng.integers(0, 5, 30)
    classes = np.unique(classes, return_inverse=True)[1]  # no empty class
    lm = LanguageModel(30, 6, cell="lstm", embedding_size=5, output="class", dtype=np.float64,
                       class_of_word=classes)
    assert lm.output.contiguous == contiguous
    x, y = problem(V=30, T=6, B=4)
    loss, grads = lm.loss_and_grads(x, y)
    mod = rnnlab.interop.to_torch(lm)
    z, _ = mod(torch.from_numpy(x))
    ce = torch.nn.functional.cross_entropy(z.reshape(-1, 30), torch.from_numpy(y.reshape(-1)), ignore_index=-1)
    ce.backward()
    assert abs(loss - ce.item()) <= 1e-12 * abs(ce.item())
    for k, p in mod.named_parameters():
        assert rel(grads[k], p.grad.numpy()) <= 1e-9, k
