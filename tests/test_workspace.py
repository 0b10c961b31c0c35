"""The layers' workspace (rnnlab.workspace): reused arrays give the results of new ones bit for bit, and an
array that anything still references is never handed out again."""
import copy
import os
import pickle
import threading
import weakref

import numpy as np
import pytest

import rnnlab
from rnnlab.workspace import Workspace

T, B, I, H = 7, 3, 5, 4


def test_held_arrays_are_not_reused_and_dropped_ones_are():
    ws = Workspace()
    a = ws.empty((4, 3), np.float32)
    b = ws.empty((4, 3), np.float32)
    assert b is not a                                      # a is held here
    view = b[1:]
    del b
    c = ws.empty((4, 3), np.float32)
    assert c is not a and c is not view.base               # a view keeps its base out of reuse
    a_id = id(a)
    del a
    d = ws.empty((4, 3), np.float32)
    assert id(d) == a_id                                   # dropped: the same array again
    assert ws.empty((4, 3), np.float64).dtype == np.float64
    z = ws.zeros((4, 3), np.float32)
    assert not z.any()


def test_pool_bounds_and_copies():
    ws = Workspace(max_keys=2, per_key=2)
    held = [ws.empty((5,), np.float32) for _ in range(3)]   # the third is beyond per_key: not kept
    assert ws.nbytes() == 2 * 5 * 4
    ws.empty((6,), np.float32)
    ws.empty((7,), np.float32)                             # a third key evicts the least recently used (5,)
    assert ws.nbytes() == (6 + 7) * 4
    for clone in (copy.deepcopy(ws), pickle.loads(pickle.dumps(ws))):
        assert clone.nbytes() == 0 and clone.per_key == 2
    ws.clear()
    assert ws.nbytes() == 0 and len(held) == 3
    small = Workspace(max_bytes=100)
    small.empty((20,), np.float32)
    small.empty((5,), np.float32)                          # 100 bytes: at the bound
    small.empty((6,), np.float32)                          # over it: the least recently used (20,) goes
    assert small.nbytes() == (5 + 6) * 4
    small.empty((30,), np.float32)                         # larger than the bound alone: not kept
    assert small.nbytes() == (5 + 6) * 4


def _pair(cell, dtype, num_layers):
    reuse = rnnlab.make_layer(cell, I, H, num_layers, dtype=dtype, seed=3)
    fresh = rnnlab.make_layer(cell, I, H, num_layers, dtype=dtype, seed=3)
    fresh.workspace = None
    return reuse, fresh


def _data(rng, dtype, n):
    return [(rng.standard_normal((T, B, I)).astype(dtype), rng.standard_normal((T, B, H)).astype(dtype))
            for _ in range(n)]


def _dhn(layer, rng, dtype):
    s = rng.standard_normal((layer.num_layers, B, H)).astype(dtype)
    return (s, 0.5 * s) if layer.cell.has_cell_state else s


def _flat(result):
    """The arrays of a (dx, dh0, grads) or (out, hn) result, in a fixed order."""
    out = []
    for r in result:
        if isinstance(r, dict):
            out += [r[k] for k in sorted(r)]
        elif isinstance(r, tuple):
            out += list(r)
        else:
            out.append(r)
    return out


def _assert_same(a, b):
    for x, y in zip(_flat(a), _flat(b), strict=True):
        np.testing.assert_array_equal(x, y)


CELLS = [("rnn", "tanh"), ("rnn", "relu"), ("rnn", "sigmoid"), ("rnn", "linear"), ("lstm", None), ("gru", None)]


@pytest.mark.parametrize("cell,nl", CELLS)
@pytest.mark.parametrize("truncate", [None, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reused_arrays_equal_new_arrays_bitwise(cell, nl, truncate, dtype):
    """Several steps in a row, so that later steps run on pooled arrays holding the earlier steps' values."""
    reuse, fresh = _pair(cell, dtype, 2)
    if nl:
        reuse.cell.nonlinearity = fresh.cell.nonlinearity = nl
        reuse.cell.f = fresh.cell.f = rnnlab.layers.rnn.ACTIVATIONS[nl]
    rng = np.random.default_rng(0)
    for x, dout in _data(rng, dtype, 4):
        dhn = _dhn(reuse, rng, dtype)
        results = []
        for layer in (reuse, fresh):
            out, hn, cache = layer.forward(x)
            results.append(((out.copy(), *_flat((hn,))), layer.backward(cache, dout, dhn, truncate=truncate)))
            del out, hn, cache
        (f1, b1), (f2, b2) = results
        _assert_same(f1, f2)
        _assert_same(b1, b2)
    assert reuse.workspace.nbytes() > 0


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_interleaved_forwards_keep_their_caches(cell):
    """Two forwards, then the two backwards (and the first backward twice), against one step at a time with
    new arrays: the second forward must not write into the first one's cache or outputs."""
    reuse, fresh = _pair(cell, np.float64, 2)
    rng = np.random.default_rng(1)
    (x1, d1), (x2, d2) = _data(rng, np.float64, 2)
    for _ in range(2):                                     # the second round runs on pooled arrays
        out1, hn1, c1 = reuse.forward(x1)
        out2, hn2, c2 = reuse.forward(x2)
        g2 = reuse.backward(c2, d2)
        g1 = reuse.backward(c1, d1)
        g1_again = reuse.backward(c1, d1, truncate=1)
        ref1, ref2 = fresh.forward(x1), fresh.forward(x2)
        _assert_same((out1, hn1), ref1[:2])
        _assert_same((out2, hn2), ref2[:2])
        _assert_same(g1, fresh.backward(ref1[2], d1))
        _assert_same(g2, fresh.backward(ref2[2], d2))
        _assert_same(g1_again, fresh.backward(ref1[2], d1, truncate=1))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_returned_arrays_survive_later_steps(cell):
    """dx and the gradients of one step, held by the caller, are not overwritten by the next steps."""
    layer = rnnlab.make_layer(cell, I, H, dtype=np.float64, seed=0)
    rng = np.random.default_rng(2)
    data = _data(rng, np.float64, 3)
    out, hn, cache = layer.forward(data[0][0])
    dx, dh0, grads = layer.backward(cache, data[0][1])
    kept = [a.copy() for a in _flat((out, dx, dh0, grads))]
    for x, dout in data[1:]:
        layer.backward(layer.forward(x)[2], dout)
    for a, b in zip(_flat((out, dx, dh0, grads)), kept, strict=True):
        np.testing.assert_array_equal(a, b)


def test_threads_sharing_a_layer_get_their_own_arrays():
    layer, fresh = _pair("lstm", np.float64, 1)
    rng = np.random.default_rng(4)
    data = _data(rng, np.float64, 4)
    expect = [fresh.backward(fresh.forward(x)[2], d) for x, d in data]
    got = [None] * len(data)

    def work(i):
        for _ in range(20):
            got[i] = layer.backward(layer.forward(data[i][0])[2], data[i][1])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(data))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for g, e in zip(got, expect, strict=True):
        _assert_same(g, e)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_process_leaves_the_parents_cache_alone():
    """As Hogwild's workers: the parent holds a cache, a forked child runs steps on the same layer object;
    the parent's backward afterwards still equals one on new arrays."""
    layer, fresh = _pair("gru", np.float64, 1)
    rng = np.random.default_rng(5)
    (x1, d1), (x2, d2) = _data(rng, np.float64, 2)
    layer.backward(layer.forward(x2)[2], d2)                # the pool holds free arrays when the child starts
    out, hn, cache = layer.forward(x1)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                           # child: steps on other data, then its verdict
        try:
            g = layer.backward(layer.forward(x2)[2], d2)
            e = fresh.backward(fresh.forward(x2)[2], d2)
            ok = all(np.array_equal(a, b) for a, b in zip(_flat(g), _flat(e), strict=True))
            os.write(w, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(w)
    verdict = os.read(r, 1)
    os.waitpid(pid, 0)
    assert verdict == b"1"
    _assert_same(layer.backward(cache, d1), fresh.backward(fresh.forward(x1)[2], d1))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_a_dropped_step_lends_its_arrays_to_the_next(cell):
    """The fast path is taken: once a step's results are dropped, the next step runs on the same arrays and
    the pool stops growing."""
    layer = rnnlab.make_layer(cell, I, H, dtype=np.float32, seed=0)
    (x, dout), = _data(np.random.default_rng(6), np.float32, 1)
    out, hn, cache = layer.forward(x)
    first = {k: weakref.ref(v) for k, v in cache[0].items() if k != "x"}   # dead once freed
    layer.backward(cache, dout)
    size = layer.workspace.nbytes()
    del out, hn, cache
    out, hn, cache = layer.forward(x)
    assert all(cache[0][k] is ref() for k, ref in first.items())
    layer.backward(cache, dout)
    assert layer.workspace.nbytes() == size
