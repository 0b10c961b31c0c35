"""Task generators: layout, marker positions, lengths, targets, determinism, baselines, the wrong-rules."""
import numpy as np
import pytest

from rnnlab import tasks
from rnnlab.errors import ConfigError
from rnnlab.output import log_softmax


def rng(seed=0):
    return np.random.default_rng(seed)


@pytest.mark.parametrize("name,length", [("adding", 2), ("adding", 37), ("copy", 1), ("copy", 13),
                                         ("temporal-order", 10), ("temporal-order", 57)])
def test_shapes_dtypes_and_determinism(name, length):
    task = tasks.make_task(name, length)
    b1, b2 = task.sample(7, rng(3)), task.sample(7, rng(3))
    np.testing.assert_array_equal(b1.x, b2.x)
    np.testing.assert_array_equal(b1.y, b2.y)
    b3 = task.sample(7, rng(4))
    assert not np.array_equal(b1.x, b3.x)
    T = task.steps
    assert b1.x.shape[:2] == (T, 7)
    if np.issubdtype(b1.x.dtype, np.integer):
        assert b1.x.min() >= 0 and b1.x.max() < task.n_in
    else:
        assert b1.x.shape == (T, 7, task.n_in) and b1.x.dtype == np.float32
    s1, s2 = task.batches(5, seed=9), task.batches(5, seed=9)
    for _ in range(3):
        np.testing.assert_array_equal(next(s1).x, next(s2).x)


def test_adding_markers_and_targets():
    T, B = 41, 4000
    task = tasks.make_task("adding", T)
    b = task.sample(B, rng(1))
    v, m = b.x[..., 0], b.x[..., 1]
    assert set(np.unique(m)) == {0.0, 1.0}
    assert np.all(m.sum(axis=0) == 2)
    first = m[: T // 2].sum(axis=0)
    assert np.all(first == 1), "exactly one marker in the first half, one in the second"
    assert v.min() >= 0 and v.max() < 1
    np.testing.assert_allclose(b.y[:, 0], (v * m).sum(axis=0), rtol=1e-6)
    # every position of each half is used (uniform placement), none outside
    p1 = m[: T // 2].argmax(axis=0)
    p2 = T // 2 + m[T // 2:].argmax(axis=0)
    assert set(p1) == set(range(T // 2)) and set(p2) == set(range(T // 2, T))
    assert abs(np.mean(p1) - (T // 2 - 1) / 2) < 0.5


def test_adding_baseline_is_the_mse_of_predicting_the_mean():
    task = tasks.make_task("adding", 20)
    b = task.sample(200_000, rng(2))
    y = b.y.astype(np.float64)
    assert task.baseline() == pytest.approx(1 / 6)
    assert np.mean((y - 1.0) ** 2) == pytest.approx(task.baseline(), rel=0.01)
    assert np.mean(y) == pytest.approx(1.0, abs=0.005)
    # predicting the mean gets 64% wrong: P(|v1 + v2 - 1| > 0.2) = 0.8^2
    assert np.mean(task.wrong(np.ones_like(b.y), b)) == pytest.approx(0.64, abs=0.005)


def test_adding_wrong_rule():
    task = tasks.make_task("adding", 10)
    b = task.sample(4, rng(0))
    pred = b.y + np.array([[0.0], [0.199], [-0.201], [np.nan]], dtype=np.float32)
    np.testing.assert_array_equal(task.wrong(pred, b), [False, False, True, True])


def test_copy_layout():
    T, B = 17, 300
    task = tasks.make_task("copy", T)
    b = task.sample(B, rng(5))
    x, y = b.x, b.y
    assert task.steps == T + 20 and x.shape == y.shape == (T + 20, B)
    data = x[:10]
    assert data.min() >= 1 and data.max() <= 8 and set(np.unique(data)) == set(range(1, 9))
    assert np.all(x[10:T + 9] == 0), "T - 1 blanks"
    assert np.all(x[T + 9] == 9), "the delimiter"
    assert np.all(x[T + 10:] == 0), "10 blanks while recalling"
    assert np.all(y[:T + 10] == 0)
    np.testing.assert_array_equal(y[T + 10:], data)


def test_copy_baseline_is_the_memoryless_strategy():
    T = 30
    task = tasks.make_task("copy", T)
    assert task.baseline() == pytest.approx(10 * np.log(8) / (T + 20))
    b = task.sample(2000, rng(6))
    # blanks (with certainty) until the delimiter has been seen, then uniform over the 8 data symbols
    p = np.zeros((T + 20, 2000, 10))
    p[:T + 10, :, 0] = 1.0
    p[T + 10:, :, 1:9] = 1 / 8
    with np.errstate(divide="ignore"):
        logp = np.log(p)
    ce = -np.take_along_axis(logp, b.y[..., None], axis=-1).mean()
    assert ce == pytest.approx(task.baseline(), rel=1e-12)


def test_copy_wrong_rule():
    task = tasks.make_task("copy", 5)
    b = task.sample(3, rng(0))
    pred = np.eye(10, dtype=np.float32)[b.y]            # perfect one-hot scores
    assert not task.wrong(pred, b).any()
    pred[-1, 1] = np.roll(pred[-1, 1], 1)               # last recalled symbol of sequence 1 wrong
    pred[0, 2] = np.nan                                  # a NaN before the recall period does not matter
    np.testing.assert_array_equal(task.wrong(pred, b), [False, True, False])
    pred[-3, 0, 4] = np.nan
    assert task.wrong(pred, b)[0]


@pytest.mark.parametrize("T", [10, 19, 100, 233])
def test_temporal_order_positions_and_classes(T):
    task = tasks.make_task("temporal-order", T)
    b = task.sample(5000, rng(7))
    x = b.x
    relevant = x < 2
    assert np.all(relevant.sum(axis=0) == 2)
    (a1, b1), (a2, b2) = task.windows()
    assert (a1, b1, a2, b2) == (int(T * .1), 2 * int(T * .1), int(T * .5), int(T * .5) + int(T * .1))
    pos = np.argwhere(relevant.T)[:, 1].reshape(-1, 2)      # (B, 2) positions, in time order
    assert pos[:, 0].min() == a1 and pos[:, 0].max() == b1 - 1
    assert pos[:, 1].min() == a2 and pos[:, 1].max() == b2 - 1
    n = np.arange(x.shape[1])
    v1, v2 = x[pos[:, 0], n], x[pos[:, 1], n]
    np.testing.assert_array_equal(b.y, v1 + 2 * v2)
    counts = np.bincount(b.y, minlength=4) / len(b.y)
    np.testing.assert_allclose(counts, 0.25, atol=0.03)
    distract = x[~relevant]
    assert set(np.unique(distract)) == {2, 3, 4, 5}
    assert task.baseline() == pytest.approx(np.log(4))
    uniform = np.zeros((5000, 4), dtype=np.float32)
    assert -log_softmax(uniform)[n, b.y].mean() == pytest.approx(task.baseline(), rel=1e-6)
    assert task.wrong(uniform + np.eye(4, dtype=np.float32)[b.y], b).sum() == 0


def test_bad_arguments_raise_config_error():
    with pytest.raises(ConfigError, match="unknown task"):
        tasks.make_task("parity", 10)
    with pytest.raises(ConfigError, match="length"):
        tasks.make_task("temporal-order", 9)
    with pytest.raises(ConfigError, match="length"):
        tasks.make_task("adding", 0)
    with pytest.raises(ConfigError, match="length"):
        tasks.make_task("copy", 2.5)
    with pytest.raises(ConfigError, match="batch size"):
        tasks.make_task("copy", 3).sample(0, rng())


def test_one_hot():
    s = np.array([[0, 2], [1, 1]])
    oh = tasks.one_hot(s, 3)
    assert oh.shape == (2, 2, 3) and oh.dtype == np.float32
    np.testing.assert_array_equal(oh.argmax(-1), s)
    assert np.all(oh.sum(-1) == 1)
