"""rnnlab.threads: the BLAS thread limit of `rnnlab train --threads`."""
import numpy as np  # noqa: F401  (the BLAS must be loaded for threadpoolctl to see it)
import pytest

from rnnlab.cli import main
from rnnlab.threads import blas_threads

threadpoolctl = pytest.importorskip("threadpoolctl")


def blas_counts():
    return [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]


def test_blas_threads_limits_inside_the_block_and_restores_after():
    before = blas_counts()
    assert before
    with blas_threads(1):
        assert blas_counts() == [1] * len(before)
    assert blas_counts() == before
    with blas_threads(None):
        assert blas_counts() == before


def test_train_rejects_zero_threads(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:  # refused while parsing, before any data is read
        main(["train", "--out", str(tmp_path / "m"), "--threads", "0", "--epochs", "0"])
    assert e.value.code == 2
    assert "--threads" in capsys.readouterr().err


def test_split_rows_runs_two_halves_with_one_blas_thread_each():
    from rnnlab.threads import blas_thread_count, row_parallel, split_rows

    seen = []

    def part(lo, hi):
        seen.append((lo, hi, blas_thread_count()))
        return hi - lo

    with blas_threads(2):
        assert split_rows(part, 300) == [300]           # outside row_parallel: one call
        with row_parallel():
            assert split_rows(part, 300) == [150, 150]
            assert split_rows(part, 100) == [100]       # too few rows to split
        assert sorted(seen) == [(0, 100, 1), (0, 150, 1), (0, 300, 2), (150, 300, 1)]
        assert blas_thread_count() == 2
    with blas_threads(1), row_parallel():
        assert split_rows(part, 300) == [300]


@pytest.mark.parametrize("scale", [1.0, 1 / 640])
def test_full_softmax_split_over_two_threads_equals_one(scale):
    from rnnlab.output import Softmax
    from rnnlab.threads import row_parallel

    rng = np.random.default_rng(0)
    V, H, N = 500, 16, 640
    params = {"decoder.weight": rng.normal(size=(V, H)), "decoder.bias": rng.normal(size=V)}
    h, y = rng.normal(size=(N, H)), rng.integers(0, V, N)
    out = Softmax(V, H)
    with blas_threads(1):
        loss1, dh1, g1 = out.loss_and_grad(params, h, y, scale=scale)
    with blas_threads(2), row_parallel():
        loss2, dh2, g2 = out.loss_and_grad(params, h, y, scale=scale)
    assert loss2 == pytest.approx(loss1, rel=1e-13)
    np.testing.assert_allclose(dh2, dh1, rtol=1e-12, atol=1e-15)
    for k in g1:
        np.testing.assert_allclose(g2[k], g1[k], rtol=1e-12, atol=1e-15)


def test_language_model_gradients_equal_with_and_without_the_split(monkeypatch):
    """The tutorial's shape (V >= 20 H, N V >= 2^20): forward_backward splits the softmax under two threads."""
    import rnnlab.output
    from rnnlab.lm import LanguageModel
    from rnnlab.sparse import to_dense

    parts = []
    split = rnnlab.output.split_rows
    monkeypatch.setattr(rnnlab.output, "split_rows", lambda *a, **k: parts.append(len(r := split(*a, **k))) or r)

    lm = LanguageModel(2100, 8, dtype=np.float64, seed=0)
    x = np.random.default_rng(1).integers(0, 2100, (10, 52))
    with blas_threads(1):
        l1, g1, h1, _ = lm.forward_backward(x, x)
    with blas_threads(2):
        l2, g2, h2, _ = lm.forward_backward(x, x)
    assert parts == [1, 2]
    assert l2 == pytest.approx(l1, rel=1e-13)
    np.testing.assert_array_equal(h2, h1)
    for k in g1:
        np.testing.assert_allclose(to_dense(g2[k]), to_dense(g1[k]), rtol=1e-11, atol=1e-14)
