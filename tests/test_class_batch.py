"""The batched class softmax (rnnlab.class_batch) against a plain per-token reference, float64."""
import numpy as np
import pytest

from rnnlab import class_batch
from rnnlab.output import ClassSoftmax
from rnnlab.sparse import to_dense


def reference(cw, params, h, y):
    """Token by token: loss summed, dh, and dense gradients of every output parameter."""
    W, b, Wc, bc = (params[k] for k in ("decoder.weight", "decoder.bias", "class_decoder.weight",
                                        "class_decoder.bias"))
    g = {k: np.zeros_like(v) for k, v in params.items()}
    dh = np.zeros_like(h)
    loss = 0.0
    for n in range(len(y)):
        c = cw[y[n]]
        zc = Wc @ h[n] + bc
        pc = np.exp(zc - zc.max())
        pc /= pc.sum()
        words = np.flatnonzero(cw == c)
        z = W[words] @ h[n] + b[words]
        p = np.exp(z - z.max())
        p /= p.sum()
        j = int(np.flatnonzero(words == y[n])[0])
        loss -= np.log(pc[c]) + np.log(p[j])
        pc[c] -= 1.0
        p[j] -= 1.0
        g["class_decoder.weight"] += np.outer(pc, h[n])
        g["class_decoder.bias"] += pc
        g["decoder.weight"][words] += np.outer(p, h[n])
        g["decoder.bias"][words] += p
        dh[n] = pc @ Wc + p @ W[words]
    return loss, dh, g


def make(V, H, cw, seed):
    rng = np.random.default_rng(seed)
    out = ClassSoftmax(V, H, cw)
    params = {k: rng.uniform(-0.5, 0.5, s) for k, s in out.param_shapes().items()}
    return out, params


def classes(rng, V, contiguous):
    """Class sizes from 1 to ~V/4 (several buckets, one-word classes included)."""
    sizes = []
    while sum(sizes) < V:
        sizes.append(int(rng.choice([1, 1, 2, 3, 5, 8, 13, 21, 40])))
    sizes[-1] -= sum(sizes) - V
    sizes = [s for s in sizes if s > 0]
    cw = np.repeat(np.arange(len(sizes)), sizes)
    return cw if contiguous else rng.permutation(cw)


@pytest.mark.parametrize("dense", [0.0, 2.0])  # DENSE_FRACTION: always dense (if contiguous), never
@pytest.mark.parametrize("contiguous", [True, False])
@pytest.mark.parametrize("seed", range(4))
def test_batched_class_softmax_matches_per_token_reference(contiguous, seed, dense, monkeypatch):
    monkeypatch.setattr(class_batch, "DENSE_FRACTION", dense)
    rng = np.random.default_rng(seed)
    V, H, N = 120, 7, 90
    cw = classes(rng, V, contiguous)
    out, params = make(V, H, cw, seed)
    assert len(set(np.bincount(cw))) >= 4  # classes of several sizes
    # targets concentrated on a few words (many tokens per class) plus uniform ones
    y = np.concatenate([rng.integers(0, 6, N // 2), rng.integers(0, V, N - N // 2)])
    h = rng.standard_normal((N, H))
    loss, dh, grads = out.loss_and_grad(params, h, y)
    ref_loss, ref_dh, ref_g = reference(cw, params, h, y)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(dh, ref_dh, rtol=1e-11, atol=1e-13)
    for k in params:
        g = grads[k].dense() if hasattr(grads[k], "dense") else grads[k]
        np.testing.assert_allclose(g, ref_g[k], rtol=1e-11, atol=1e-13, err_msg=k)
    with_grad = np.flatnonzero(np.isin(cw, cw[y]) & (np.bincount(cw)[cw] > 1))
    if contiguous and dense == 0.0:
        assert isinstance(grads["decoder.weight"], np.ndarray)
    else:
        rows = grads["decoder.weight"].index
        assert len(np.unique(rows)) == len(rows)                  # each decoder row once
        assert set(rows) == set(with_grad)
    # the loss alone (evaluation path) is the same number
    assert out.loss_and_grad(params, h, y, need_grad=False)[0] == loss


def test_only_one_word_classes_and_scaling():
    rng = np.random.default_rng(7)
    cw = np.array([0, 1, 2, 2, 2, 3])
    out, params = make(6, 4, cw, 1)
    h = rng.standard_normal((5, 4))
    y = np.array([0, 1, 5, 1, 0])                                  # no token in the 3-word class
    loss, dh, grads = out.loss_and_grad(params, h, y, scale=0.5)
    assert not to_dense(grads["decoder.weight"]).any()
    ref_loss, ref_dh, ref_g = reference(cw, params, h, y)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(dh, 0.5 * ref_dh, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grads["class_decoder.weight"], 0.5 * ref_g["class_decoder.weight"], rtol=1e-12)


def test_float32_stays_float32():
    rng = np.random.default_rng(3)
    cw = classes(rng, 60, True)
    out, params = make(60, 5, cw, 2)
    params = {k: v.astype(np.float32) for k, v in params.items()}
    h = rng.standard_normal((40, 5)).astype(np.float32)
    y = rng.integers(0, 60, 40)
    loss, dh, grads = out.loss_and_grad(params, h, y)
    assert dh.dtype == np.float32
    assert all((g.values if hasattr(g, "values") else g).dtype == np.float32 for g in grads.values())
    ref_loss, _, _ = reference(cw, {k: v.astype(np.float64) for k, v in params.items()}, h.astype(np.float64), y)
    assert loss == pytest.approx(ref_loss, rel=1e-5)
