"""Direct connections (rnnlab.direct): the hash against a scalar loop, the merged sparse gradient against
np.add.at, the model's loss and gradients against torch autograd on an explicit one-hot feature matrix
(float64) and against finite differences."""
import numpy as np
import pytest

from rnnlab.direct import _K, DirectBatch, history_hashes
from rnnlab.errors import ConfigError
from rnnlab.interop import to_torch
from rnnlab.lm import LanguageModel

torch = pytest.importorskip("torch")

MASK = (1 << 64) - 1


def scalar_hash(words, o, n_buckets):
    """The hash of the o-word history ``words`` (the last o words, most recent last), with Python ints."""
    h = int(_K[o, 0])
    for i in range(o):
        h = (h + (int(words[-1 - i]) + 1) * int(_K[o, i + 1])) & MASK
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & MASK
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & MASK
    h ^= h >> 31
    return h % n_buckets


def test_history_hashes_match_a_scalar_loop():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 50, (7, 3))
    hashes, present = history_hashes(x, 4, 1009)
    for o in range(4):
        for t in range(7):
            for b in range(3):
                assert present[o, t, b] == (t >= o - 1)
                if present[o, t, b]:
                    assert hashes[o, t, b] == scalar_hash(x[:t + 1, b], o, 1009), (o, t, b)
    # the same history gives the same hash anywhere; order 0 is one feature
    assert len(set(hashes[0].ravel())) == 1
    x2 = x.copy()
    x2[:, 1] = x[:, 0]
    h2, _ = history_hashes(x2, 4, 1009)
    assert np.array_equal(h2[:, :, 1], h2[:, :, 0])


def test_merged_gradient_matches_add_at():
    """Windows that overlap (shared histories, collisions) are summed entry by entry, every entry once, in
    order; the null window's entries get no gradient; the scores read the same windows."""
    rng = np.random.default_rng(1)
    M, null = 70, 60
    table = np.zeros(M)
    hashes = rng.integers(0, 45, (3, 20))
    hashes[rng.random((3, 20)) < 0.2] = null
    d = DirectBatch(table, hashes, null)
    tokens = rng.permutation(20)[:12]
    widths = rng.integers(1, 9, 12)
    offsets = rng.integers(0, 2, 12)
    _, where = d.ragged(tokens, offsets, widths)
    g = rng.normal(size=int(widths.sum()))
    d.ragged_backward(g, where)
    gb = rng.normal(size=(7, 5))
    d.block_backward(gb, tokens[:7], 3, 5)
    ref = np.zeros(M)
    pos = 0
    for n, w, off in zip(tokens, widths, offsets):
        for o in range(3):
            np.add.at(ref, hashes[o, n] + off + np.arange(w), g[pos:pos + w])
        pos += w
    for i, n in enumerate(tokens[:7]):
        for o in range(3):
            np.add.at(ref, hashes[o, n] + 3 + np.arange(5), gb[i])
    ref[null:] = 0
    sg = d.grad(0.5)
    assert np.all(np.diff(sg.index) > 0) and sg.index.max() < null
    np.testing.assert_allclose(sg.dense(), 0.5 * ref, rtol=1e-12, atol=1e-12)
    table[:] = rng.normal(size=M)
    s, _ = d.ragged(tokens, offsets, widths)
    b = d.block(tokens[:7], 3, 5)
    pos = 0
    for i, (n, w, off) in enumerate(zip(tokens, widths, offsets)):
        want = sum(table[hashes[o, n] + off + np.arange(w)] for o in range(3))
        np.testing.assert_allclose(s[pos:pos + w], want, rtol=1e-12)
        if i < 7:
            want = sum(table[hashes[o, n] + 3 + np.arange(5)] for o in range(3))
            np.testing.assert_allclose(b[i], want, rtol=1e-12)
        pos += w


def feature_matrix(lm, x, rows):
    """The explicit (N, K, M) count of features that fire for each row's candidate k (the reference:
    built from the hashes, not from the windows; class output: classes 0..C-1, then words by class)."""
    d = lm.direct
    hashes, present = history_hashes(x, d.order, d.null - d.n_candidates + 1)
    hashes, present = hashes.reshape(d.order, -1)[:, rows], present.reshape(d.order, -1)[:, rows]
    phi = np.zeros((len(rows), d.n_candidates, d.size))
    for n in range(len(rows)):
        for o in range(d.order):
            if present[o, n]:
                phi[n, np.arange(d.n_candidates), hashes[o, n] + np.arange(d.n_candidates)] += 1
    return phi


def torch_loss(lm, x, y):
    """Mean cross-entropy of lm on (x, y) computed in torch from the model's hidden states and an explicit
    feature matrix times the table; returns (loss, {name: grad}, dh)."""
    out, _, _ = lm.hidden(x)
    yf = y.reshape(-1)
    rows = np.flatnonzero(yf >= 0)
    h = torch.tensor(out.reshape(-1, lm.hidden_size)[rows], requires_grad=True)
    P = {k: torch.tensor(v, requires_grad=True) for k, v in lm.output_params().items()}
    P["direct.weight"] = torch.tensor(lm.params["direct.weight"], requires_grad=True)
    d = torch.einsum("nkm,m->nk", torch.from_numpy(feature_matrix(lm, x, rows)), P["direct.weight"])
    t = torch.from_numpy(yf[rows])
    if lm.output.kind == "softmax":
        z = h @ P["decoder.weight"].T + P["decoder.bias"] + d
        loss = torch.nn.functional.cross_entropy(z, t)
    else:
        o = lm.output
        C = o.n_classes
        zc = h @ P["class_decoder.weight"].T + P["class_decoder.bias"] + d[:, :C]
        c = torch.from_numpy(o.class_of_word[yf[rows]])
        lc = torch.nn.functional.cross_entropy(zc, c, reduction="none")
        lw = []
        for n in range(len(rows)):
            k = int(c[n])
            words = torch.from_numpy(o.words_by_class[o.offsets[k]:o.offsets[k + 1]])
            a, e = C + o.offsets[k], C + o.offsets[k + 1]
            zw = h[n] @ P["decoder.weight"][words].T + P["decoder.bias"][words] + d[n, a:e]
            lw.append(-torch.log_softmax(zw, 0)[int(o.pos_in_class[t[n]])])
        loss = (lc + torch.stack(lw)).mean()
    loss.backward()
    return loss.item(), {k: p.grad.numpy() for k, p in P.items()}, h.grad.numpy()


@pytest.mark.parametrize("output", ["softmax", "class"])
@pytest.mark.parametrize("order", [1, 2, 4])
def test_direct_loss_and_grads_match_torch_feature_matrix(output, order):
    rng = np.random.default_rng(order)
    V = 13
    lm = LanguageModel(V, 5, cell="gru", embedding_size=4, output=output, n_classes=4, dtype=np.float64, seed=2,
                       direct_size=97, direct_order=order)
    null = lm.direct.null                                        # a trained table, not the zero start
    lm.params["direct.weight"][:null] = rng.normal(0, 0.5, null)
    x = rng.integers(0, V, (6, 3))
    y = rng.integers(0, V, (6, 3))
    y[4:, 1] = -1
    loss, grads = lm.loss_and_grads(x, y)
    ref, rgrads, _ = torch_loss(lm, x, y)
    assert abs(loss - ref) <= 1e-12 * abs(ref)
    for k, g in rgrads.items():
        np.testing.assert_allclose(grads[k], g, rtol=1e-9, atol=1e-13, err_msg=k)
    # log-probabilities: normalised, and the loss is their mean at the targets
    logp = lm.log_probs(x)[0].reshape(-1, V)
    np.testing.assert_allclose(np.exp(logp).sum(1), 1.0, rtol=1e-12)
    yf = y.reshape(-1)
    ok = yf >= 0
    assert abs(-logp[ok, yf[ok]].mean() - loss) <= 1e-12 * loss


@pytest.mark.parametrize("output", ["softmax", "class"])
def test_direct_gradient_matches_finite_differences(output):
    rng = np.random.default_rng(5)
    lm = LanguageModel(11, 4, output=output, n_classes=3, dtype=np.float64, seed=1, direct_size=64,
                       direct_order=3)
    lm.params["direct.weight"][:lm.direct.null] = rng.normal(0, 0.3, lm.direct.null)
    x = rng.integers(0, 11, (5, 2))
    y = rng.integers(0, 11, (5, 2))
    _, grads = lm.loss_and_grads(x, y)
    D = lm.params["direct.weight"]
    eps = 1e-6
    checked = 0
    for i in range(64):   # the null window [null, M) is a constant zero: no effect, no gradient
        old = D[i]
        D[i] = old + eps
        lp = lm.loss(x, y)[0]
        D[i] = old - eps
        lm_ = lm.loss(x, y)[0]
        D[i] = old
        fd = (lp - lm_) / (2 * eps)
        assert abs(fd - grads["direct.weight"][i]) <= 1e-7 + 1e-6 * abs(fd), i
        checked += fd != 0
    assert checked > 10   # many entries are read: the check is not vacuous
    # also the decoder, whose softmax now includes the direct scores
    W = lm.params["decoder.weight"]
    W[2, 1] += eps
    lp = lm.loss(x, y)[0]
    W[2, 1] -= 2 * eps
    lm_ = lm.loss(x, y)[0]
    W[2, 1] += eps
    assert abs((lp - lm_) / (2 * eps) - grads["decoder.weight"][2, 1]) <= 1e-8


def test_bad_direct_settings_are_config_errors():
    with pytest.raises(ConfigError, match="order"):
        LanguageModel(10, 4, direct_size=1000, direct_order=0)
    with pytest.raises(ConfigError, match="too small"):
        LanguageModel(10, 4, direct_size=25, direct_order=2)
    with pytest.raises(ConfigError, match="both"):
        LanguageModel(10, 4, direct_size=1000)


@pytest.mark.parametrize("output", ["softmax", "class"])
def test_torch_twin_carries_the_direct_connections(output):
    """rnnlab export's module: the same log-probabilities, and torch's gradient of the table is ours."""
    rng = np.random.default_rng(7)
    lm = LanguageModel(12, 5, cell="lstm", embedding_size=3, output=output, n_classes=3, dtype=np.float64,
                       seed=4, direct_size=90, direct_order=3)
    lm.params["direct.weight"][:lm.direct.null] = rng.normal(0, 0.5, lm.direct.null)
    x = rng.integers(0, 12, (5, 2))
    y = rng.integers(0, 12, (5, 2))
    mod = to_torch(lm)
    assert list(mod.state_dict()) == list(lm.params)
    logp, _ = mod.log_probs(torch.from_numpy(x))
    np.testing.assert_allclose(logp.detach().numpy(), lm.log_probs(x)[0], rtol=1e-12, atol=1e-12)
    loss = mod.loss(torch.from_numpy(x), torch.from_numpy(y))
    loss.backward()
    ours, grads = lm.loss_and_grads(x, y)
    assert abs(loss.item() - ours) <= 1e-12 * ours
    np.testing.assert_allclose(mod.direct.weight.grad.numpy()[:lm.direct.null],
                               grads["direct.weight"][:lm.direct.null], rtol=1e-9, atol=1e-13)
    back = mod.to_rnnlab()
    assert np.array_equal(back.params["direct.weight"], lm.params["direct.weight"])


@pytest.mark.parametrize("output", ["softmax", "class"])
def test_diagnostics_see_the_direct_connections(output):
    """The diagnostics' dL_t/dh_t includes the direct scores: its loss is the model's, and its dh drives
    the recurrent layer to the same gradient as training's backward pass."""
    from rnnlab.diagnostics.diagnose import lm_forward

    rng = np.random.default_rng(3)
    lm = LanguageModel(12, 5, cell="rnn", embedding_size=4, output=output, num_classes=3, dtype=np.float64,
                       seed=2, direct_size=90, direct_order=3)
    lm.params["direct.weight"][:lm.direct.null] = rng.normal(0, 0.7, lm.direct.null)
    x, y = rng.integers(0, 12, (6, 3)), rng.integers(0, 12, (6, 3))
    y[4:, 0] = -1
    cache, dout, loss_sum, n = lm_forward(lm, x, y)
    loss, grads = lm.loss_and_grads(x, y)
    np.testing.assert_allclose(loss_sum / n, loss, rtol=1e-12)
    _, _, g = lm.layer.backward(cache, dout / n)
    np.testing.assert_allclose(g["weight_hh_l0"], grads["rnn.weight_hh_l0"], rtol=1e-10, atol=1e-14)
