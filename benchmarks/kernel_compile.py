"""What the compiled gate kernels (rnnlab.kernels) cost before their first step: numba's import, the
compilation on a machine's first use, and loading them from numba's on-disk cache afterwards; then the
kernels' exp and tanh against NumPy's and against numba's own math.exp / math.tanh, ns per float32
(32768 numbers a call, 2000 calls).

    python -m benchmarks.kernel_compile

Each measurement runs in a fresh process with an empty cache directory of its own (``NUMBA_CACHE_DIR``),
first cold (compiles and writes the cache), then warm (the same directory: loads). A process times one
tiny forward and backward of an LSTM and of a GRU layer per dtype: the kernels are compiled per cell and
dtype on first use, so the first call carries the whole cost.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, time
t0 = time.perf_counter()
import numba  # noqa: F401
t_import = time.perf_counter() - t0
import numpy as np
import rnnlab
out = {"import numba": t_import}
for dtype in (np.float32, np.float64):
    for cell in ("lstm", "gru"):
        layer = rnnlab.make_layer(cell, 3, 4, dtype=dtype, seed=0)
        x = np.ones((2, 2, 3), dtype=dtype)
        t0 = time.perf_counter()
        _, _, cache = layer.forward(x)
        layer.backward(cache, np.ones((2, 2, 4), dtype=dtype))
        out[f"{cell} {np.dtype(dtype).name}: first step"] = time.perf_counter() - t0
print(json.dumps(out))
"""


def measure(cache_dir: str) -> dict:
    """Seconds of each stage in a fresh process using ``cache_dir`` as numba's cache."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    env.pop("RNNLAB_KERNELS", None)
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def elementwise() -> dict:
    """ns per float32 number of exp and tanh: the kernels' (rnnlab.kernels.expf), NumPy's, and numba's
    own ``math.exp`` / ``math.tanh`` (the C library's, one number at a time: why the kernels have theirs)."""
    import math
    import time

    import numpy as np
    from numba import njit

    from rnnlab.kernels.expf import JIT, exp_into, tanh_into

    plain = dict(JIT, cache=False)

    @njit(**plain)
    def libm_exp(x, out):
        for i in range(x.shape[0]):
            out[i] = math.exp(x[i])

    @njit(**plain)
    def libm_tanh(x, out):
        for i in range(x.shape[0]):
            out[i] = math.tanh(x[i])

    x = (np.random.default_rng(0).standard_normal(32768) * 5).astype(np.float32)
    y = np.empty_like(x)

    def ns(f, calls=2000):
        f()
        t0 = time.perf_counter()
        for _ in range(calls):
            f()
        return (time.perf_counter() - t0) / calls / x.size * 1e9

    return {"exp": (ns(lambda: exp_into(x, y)), ns(lambda: np.exp(x, out=y)), ns(lambda: libm_exp(x, y))),
            "tanh": (ns(lambda: tanh_into(x, y)), ns(lambda: np.tanh(x, out=y)), ns(lambda: libm_tanh(x, y)))}


def main() -> None:
    with tempfile.TemporaryDirectory() as cache_dir:
        cold = measure(cache_dir)
        warm = measure(cache_dir)
    print("| stage | cold: compiles, s | warm: from the disk cache, s |")
    print("| --- | ---: | ---: |")
    for k in cold:
        print(f"| {k} | {cold[k]:.2f} | {warm[k]:.3f} |")
    total = [sum(v for k, v in d.items() if k != "import numba") for d in (cold, warm)]
    print(f"| all four first steps | {total[0]:.2f} | {total[1]:.3f} |")
    print()
    print("| float32, ns per number | kernels (expf.py) | NumPy | numba's math.exp / math.tanh |")
    print("| --- | ---: | ---: | ---: |")
    for k, (ours, numpy_, libm) in elementwise().items():
        print(f"| {k} | {ours:.2f} | {numpy_:.2f} | {libm:.2f} |")


if __name__ == "__main__":
    main()
