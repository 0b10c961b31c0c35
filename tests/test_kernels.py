"""The compiled gate kernels (rnnlab.kernels) against exact maths and against the NumPy code they replace.

The torch-oracle and finite-difference tests of the layers (test_layers, test_gradcheck, ...) run the
kernels, the default path; here the NumPy path is the reference the kernels must equal: to rounding in
float64, and in float32 as closely as two float32 computations of the same quantities can agree.
"""
import math
import warnings

import numpy as np
import pytest

pytest.importorskip("numba")

import rnnlab  # noqa: E402
from rnnlab import kernels  # noqa: E402
from rnnlab.kernels.expf import exp_into, tanh_into  # noqa: E402


def ulps(ours, exact):
    """|ours - exact| in units in the last place of float32 at exact (float64 in, float64 out)."""
    with np.errstate(over="ignore"):
        step = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    return np.abs(ours.astype(np.float64) - exact) / step


def test_exp_float32_is_within_a_unit_and_a_half_and_saturates():
    rng = np.random.default_rng(0)
    x = np.concatenate([np.linspace(-87.0, 88.3, 200_001), rng.uniform(-87, 88.3, 100_000),
                        [0.0, -0.0, 1e-30, -1e-30, 0.5 * np.log(2), -0.5 * np.log(2)]]).astype(np.float32)
    out = np.empty_like(x)
    exp_into(x, out)
    err = ulps(out, np.exp(x.astype(np.float64)))
    assert err.max() <= 1.5, f"exp: {err.max():.2f} ulp at x = {x[err.argmax()]}"
    big = np.array([88.8, 89.0, 100.0, 1e30, np.inf], dtype=np.float32)
    small = np.array([-87.5, -100.0, -1e30, -np.inf], dtype=np.float32)
    out_big, out_small = np.empty_like(big), np.empty_like(small)
    exp_into(big, out_big)
    exp_into(small, out_small)
    assert np.all(out_big == np.inf)
    assert np.all((out_small > 0) & (out_small < 1.3e-38))   # exp(-87.3): 1 + it is 1 in float32
    nan = np.array([np.nan], dtype=np.float32)
    exp_into(nan, nan)
    assert np.isnan(nan[0])


def test_tanh_float32_is_within_two_units_of_one_and_exact_at_the_limits():
    x = np.concatenate([np.linspace(-12, 12, 200_001), [0.0, 1e-20, -1e-20, 50.0, -50.0, 1e30, -1e30]])
    x = x.astype(np.float32)
    out = np.empty_like(x)
    tanh_into(x, out)
    err = np.abs(out.astype(np.float64) - np.tanh(x.astype(np.float64)))
    assert err.max() <= 2 * np.spacing(np.float32(1.0))           # 1 - 2 / (1 + exp(2x)): absolute
    assert np.all(out[np.abs(x) >= 10] == np.sign(x[np.abs(x) >= 10]))
    assert np.all(np.abs(out) <= 1)


def test_float64_uses_the_c_library():
    x = np.random.default_rng(1).uniform(-700, 700, 10_000)
    out = np.empty_like(x)
    exp_into(x, out)
    np.testing.assert_array_equal(out, [math.exp(v) for v in x])
    tanh_into(x / 100, out)
    np.testing.assert_array_equal(out, [math.tanh(v / 100) for v in x])


def run(kind, dtype, fused, *, L=1, truncate=None, p_hh=0.0, T=7, B=3, I=4, H=5, seed=3):
    """A layer's forward and backward, with the kernels or the NumPy code: every array that comes out,
    and every array of the caches (so a wrong intermediate shows even where the outputs hide it)."""
    rng = np.random.default_rng(seed)
    layer = rnnlab.make_layer(kind, I, H, num_layers=L, dtype=dtype, seed=seed)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    dout = rng.standard_normal((T, B, H)).astype(dtype)
    st = lambda: rng.standard_normal((L, B, H)).astype(dtype)
    h0, dhn = ((st(), st()), (st(), st())) if kind == "lstm" else (st(), st())
    masks_hh = None
    if p_hh:
        masks_hh = [((rng.random((B, H)) >= p_hh) / (1 - p_hh)).astype(dtype) for _ in range(L)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if fused:
            out, hn, cache = layer.forward(x, h0, masks_hh=masks_hh)
            grads = layer.backward(cache, dout, dhn, truncate=truncate)
        else:
            with kernels.numpy_only():
                out, hn, cache = layer.forward(x, h0, masks_hh=masks_hh)
                grads = layer.backward(cache, dout, dhn, truncate=truncate)
    if fused:
        for c in cache:        # the factors (truncation and the diagnostics ask for them): the kernel's
            layer.cell.prepare_backward(c)
    else:
        with kernels.numpy_only():
            for c in cache:
                layer.cell.prepare_backward(c)
    dx, dh0, dparams = grads
    arrays = {"out": out, "dx": dx}
    for name, v in (("hn", hn), ("dh0", dh0)):
        for i, a in enumerate(v if isinstance(v, tuple) else (v,)):
            arrays[f"{name}{i}"] = a
    arrays.update({f"d{k}": v for k, v in dparams.items()})
    for layer_index, c in enumerate(cache):
        for k, v in c.items():
            if isinstance(v, np.ndarray) and v.dtype == dtype:
                arrays[f"cache{layer_index}.{k}"] = v
    return arrays


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30)) if b.size else 0.0


CASES = [dict(), dict(L=2), dict(truncate=2), dict(p_hh=0.4, L=2), dict(T=1, B=1), dict(H=33, B=5, T=12)]


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "plain")
def test_kernels_equal_the_numpy_code_float64(kind, case):
    ours, ref = run(kind, np.float64, True, **case), run(kind, np.float64, False, **case)
    assert ours.keys() == ref.keys()
    assert "cache0.coef" in ours                                    # the per-step factors are compared too
    for k in ref:
        assert rel(ours[k], ref[k]) <= 1e-13, f"{kind} {k}: {rel(ours[k], ref[k]):.1e}"


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "plain")
def test_kernels_float32_are_as_close_to_float64_as_the_numpy_code(kind, case):
    """In float32 the two paths round differently (exp and tanh are not the same functions), so each is
    held to the float64 result: the kernels' error may not exceed the NumPy code's by more than a few
    units of float32 rounding."""
    exact = run(kind, np.float64, False, **case)
    ours, ref = run(kind, np.float32, True, **case), run(kind, np.float32, False, **case)
    eps = float(np.finfo(np.float32).eps)
    for k in exact:
        e_ours, e_ref = rel(ours[k], exact[k]), rel(ref[k], exact[k])
        assert ours[k].dtype == np.float32
        assert e_ours <= 2 * e_ref + 16 * eps, f"{kind} {k}: kernels {e_ours:.1e}, numpy {e_ref:.1e}"


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_full_bptt_with_the_kernels_makes_no_per_step_factors(kind):
    """The compiled backward step forms the factors itself: a full backward leaves no coef in the cache
    (truncation still gets them, from the factors kernel)."""
    layer = rnnlab.make_layer(kind, 3, 4, dtype=np.float32, seed=0)
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    _, _, cache = layer.forward(x)
    layer.backward(cache, np.ones((5, 2, 4), np.float32))
    assert "coef" not in cache[0]
    layer.backward(cache, np.ones((5, 2, 4), np.float32), truncate=1)
    assert "coef" in cache[0]


def test_the_switch():
    assert kernels.for_cell("lstm", np.float32) is not None
    assert kernels.for_cell("gru", np.dtype(np.float64)) is not None
    assert kernels.for_cell("lstm", np.float16) is None            # no kernel: the NumPy code
    with kernels.numpy_only():
        assert kernels.for_cell("lstm", np.float32) is None
        with kernels.numpy_only():
            pass
        assert kernels.for_cell("gru", np.float32) is None           # nested blocks restore, not reset
    assert kernels.for_cell("lstm", np.float32) is not None


def test_environment_variable_and_a_missing_numba_fall_back(monkeypatch):
    monkeypatch.setenv("RNNLAB_KERNELS", "numpy")
    assert kernels.for_cell("lstm", np.float32) is None
    monkeypatch.delenv("RNNLAB_KERNELS")
    monkeypatch.setitem(kernels._modules, "numba", False)          # as if `import numba` had failed
    assert kernels.for_cell("gru", np.float32) is None
    ours = run("gru", np.float64, True)                              # the layer still runs, on NumPy
    monkeypatch.setitem(kernels._modules, "numba", True)
    ref = run("gru", np.float64, False)
    for k in ref:
        np.testing.assert_array_equal(ours[k], ref[k])


def test_without_a_writable_cache_directory_the_kernels_compile_uncached(tmp_path):
    """numba refuses to build a cached function when no cache directory is writable (a read-only install
    without a home directory); rnnlab then compiles without the cache instead of failing. Simulated in a
    fresh process by leaving numba no cache locator."""
    import subprocess
    import sys

    code = """
import numpy as np
from numba.core import caching
caching.CacheImpl._locator_classes = []           # as if no directory were writable
import rnnlab
from rnnlab import kernels
layer = rnnlab.make_layer("gru", 3, 4, dtype=np.float64, seed=0)
x = np.random.default_rng(0).standard_normal((5, 2, 3))
out, _, cache = layer.forward(x)
with kernels.numpy_only():
    ref, _, _ = layer.forward(x)
assert kernels.CACHE["on"] is False and kernels.for_cell("gru", np.float64) is not None
assert np.abs(out - ref).max() < 1e-13
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")


def test_version_says_which_code_the_gated_cells_run(tmp_path):
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for setting, says in (("", "compiled kernels (numba "), ("numpy", "NumPy code (RNNLAB_KERNELS=numpy)")):
        env = dict(os.environ, RNNLAB_KERNELS=setting, PYTHONPATH=root)
        done = subprocess.run([sys.executable, "-m", "rnnlab", "--version"], capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[1].startswith(f"LSTM and GRU steps: {says}")
