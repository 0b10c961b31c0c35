"""Fast paths against the plain computations they replace (bitwise where the arithmetic is the same)."""
import numpy as np
import pytest

from rnnlab import optim
from rnnlab.sparse import SparseGrad, segment_sum


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("n_idx", [3, 40])  # below and above Adagrad's densify threshold (of 50 rows)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adagrad_sparse_and_densified_updates_equal_dense_bitwise(axis, n_idx, dtype):
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
