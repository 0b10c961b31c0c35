"""Compiled per-step kernels for the gated cells (numba), and the switch between them and plain NumPy.

Why: a gated cell's step is one product (h_{t-1} W_hh^T, BLAS) and then a dozen elementwise passes over
(B, G H) arrays, each a NumPy call that reads and writes memory and runs on one core. At T = 100, B = 32,
H = 256 those passes took about a third of an LSTM layer's forward and backward (docs/PERFORMANCE.md,
"layer parts"). A kernel here does one step's passes in one compiled loop over each row of the batch,
with exp and tanh that the compiler vectorises (``expf``): the same equations, in the cells' own
notation, each kernel beside the NumPy code it replaces (``rnnlab.layers.lstm``, ``rnnlab.layers.gru``).

The NumPy code stays, and is the reference: the tests hold the kernels to it (float64: equal to rounding;
float32: within a few units in the last place) and to torch autograd. It runs

- when numba is not installed (rnnlab then works as before, only slower),
- for dtypes other than float32 and float64,
- under ``RNNLAB_KERNELS=numpy`` in the environment, or inside ``with kernels.numpy_only():``.

Compiled code is cached on disk (numba's cache: next to this file, or in the user's cache directory when
that is not writable), so only the first use on a machine compiles (a few seconds per cell and dtype;
``python -m benchmarks.kernel_compile`` measures both). Where no such directory is writable (numba then
refuses to build a cached function), the kernels are compiled without the cache, in every process.
"""
from __future__ import annotations

import contextlib
import os
import threading

import numpy as np

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_local = threading.local()
_modules: dict = {}
CACHE = {"on": True}       # read by expf.JIT when the kernel modules are imported


def _wanted() -> bool:
    return os.environ.get("RNNLAB_KERNELS", "").strip().lower() != "numpy" and not getattr(_local, "off", False)


def available() -> bool:
    """Whether numba imports here (the kernels can be used)."""
    if "numba" not in _modules:
        try:
            import numba  # noqa: F401
            _modules["numba"] = True
        except ImportError:
            _modules["numba"] = False
    return _modules["numba"]


def for_cell(name: str, dtype):
    """The kernel module of cell ``name`` ("lstm" or "gru") for arrays of ``dtype``, or None: use NumPy."""
    if np.dtype(dtype) not in _DTYPES or not _wanted() or not available():
        return None
    if name not in _modules:
        import importlib
        try:
            _modules[name] = importlib.import_module(f"{__name__}.{name}")
        except RuntimeError as e:          # numba: "cannot cache function ...: no locator available"
            if "cannot cache" not in str(e) or not CACHE["on"]:
                raise
            CACHE["on"] = False            # no writable cache directory: compile in every process instead
            _modules[name] = importlib.import_module(f"{__name__}.{name}")
    return _modules[name]


@contextlib.contextmanager
def numpy_only():
    """Within the block (in this thread), the cells run their NumPy code, not the kernels."""
    before = getattr(_local, "off", False)
    _local.off = True
    try:
        yield
    finally:
        _local.off = before


__all__ = ["available", "for_cell", "numpy_only"]
