"""Benchmark: what fresh arrays cost a layer step (page faults, system time), with and without the workspace.

    python -m benchmarks.alloc_probe [--threads 2] [--repeats 15] [--cells rnn lstm gru] [--kernel own] [--torch]

One forward + backward of each layer (T = 100, B = 32, I = H = 256, float32), twice over: with the
layer's ``rnnlab.workspace.Workspace`` (arrays reused across calls) and with ``workspace = None`` (every
array new, the code before the workspace). The two are interleaved call by call, after warm-up, in one
process on the CPU's own BLAS kernel (``benchmarks.kernels``: the two OpenBLAS variables removed, the
script re-runs itself once if they are set). Per call it prints the median wall time, the minor page
faults, and the user and system CPU seconds of the process (``getrusage``: the system time is mostly the
kernel faulting in and zeroing pages). CPU seconds hold up on a shared machine better than wall time.
``--torch`` interleaves torch's layer (``benchmarks.cases.layers``) too, so that both rnnlab variants'
ratios against it come from one run.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

import numpy as np

from . import kernels


def _usage():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return np.array([time.perf_counter(), r.ru_minflt, r.ru_utime, r.ru_stime])


def probe(cell: str, repeats: int, T=100, B=32, I=256, H=256, torch=False) -> dict:
    """{"workspace": samples, "fresh": samples (, "torch": samples)}, each (repeats, 4): wall s, minor
    faults, user s, system s."""
    import rnnlab

    from .cases.layers import torch_layer_step

    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I), dtype=np.float32)
    dout = rng.standard_normal((T, B, H), dtype=np.float32)
    layers = {"workspace": rnnlab.make_layer(cell, I, H, dtype=np.float32, seed=0),
              "fresh": rnnlab.make_layer(cell, I, H, dtype=np.float32, seed=0)}
    layers["fresh"].workspace = None

    def step(layer):
        out, hn, cache = layer.forward(x)
        return layer.backward(cache, dout)

    steps = {name: (lambda layer=layer: step(layer)) for name, layer in layers.items()}
    if torch:
        steps["torch"] = torch_layer_step(cell, T, B, I, H)
    samples = {k: [] for k in steps}
    for _ in range(3):
        for fn in steps.values():
            fn()
    for _ in range(repeats):
        for name, fn in steps.items():
            fn()                                          # settle: the other one's threads and pages
            u0 = _usage()
            fn()
            samples[name].append(_usage() - u0)
    return {k: np.array(v) for k, v in samples.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--cells", nargs="+", default=["rnn", "lstm", "gru"])
    ap.add_argument("--kernel", choices=kernels.KERNELS, default="own")
    ap.add_argument("--torch", action="store_true", help="time torch's layer too, interleaved, and print "
                    "both rnnlab variants against it")
    args = ap.parse_args(argv)
    if not kernels.matches(args.kernel):
        env = kernels.environment(args.kernel)
        sys.exit(subprocess.call([sys.executable, "-m", "benchmarks.alloc_probe", *sys.argv[1:]], env=env))
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    if args.torch:
        import torch

        torch.set_num_threads(args.threads)
    import gc

    gc.disable()
    print(kernels.describe(args.kernel))
    print(f"{args.threads} threads, load average before {os.getloadavg()[0]:.2f}; T=100 B=32 I=H=256 float32, "
          f"{args.repeats} interleaved calls each; per call: median wall, median minor faults, mean user/system CPU")
    for cell in args.cells:
        res = probe(cell, args.repeats, torch=args.torch)
        for name, s in res.items():
            print(f"{cell.upper():5s} {name:10s} wall {np.median(s[:, 0]) * 1e3:7.1f} ms  "
                  f"faults {np.median(s[:, 1]):6.0f}  user {s[:, 2].mean() * 1e3:7.1f} ms  "
                  f"system {s[:, 3].mean() * 1e3:6.1f} ms")
        w, f = (np.median(res[k][:, 0]) for k in ("workspace", "fresh"))
        line = f"{cell.upper():5s} fresh / workspace wall: {f / w:.2f}x"
        if args.torch:
            t = np.median(res["torch"][:, 0])
            line += f"; vs torch: fresh {t / f:.2f}x, workspace {t / w:.2f}x"
        print(line)
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
