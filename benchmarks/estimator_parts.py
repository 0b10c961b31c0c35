"""Benchmark: where an estimator's call goes (per step, per learn, reset, gradient), robust to a loaded machine.

    python benchmarks/estimator_parts.py [--names uoro,bptt,snap-1] [--n 128] [--threads 1] [--calls 300]

The estimators case of ``python -m benchmarks`` times whole ``sequence_gradient`` calls (the plain RNN,
T = 20, B = 8, float32). This splits one such sequence into its parts with the online interface
(``reset``, then ``step`` and ``learn`` per time step, then ``gradient``) and times whole calls too,
the algorithms interleaved; it prints the 10th percentile of each over ``--calls`` calls (after 50
untimed), which a shared machine inflates far less than the median. BPTT's online step only stores the
step (its work is in ``gradient``), so compare estimators by the whole call. One BLAS thread by default:
with two on a machine whose other core is busy, OpenBLAS's threaded products wait for it (milliseconds).
"""
import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from rnnlab.estimators import make_estimator
from rnnlab.layers import make_layer


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--names", default="uoro,bptt,snap-1", help="estimators, comma-separated")
    ap.add_argument("--n", type=int, default=128, help="hidden units")
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads")
    ap.add_argument("--calls", type=int, default=300, help="timed calls per estimator")
    args = ap.parse_args()
    limits = threadpool_limits(args.threads)    # noqa: F841 (kept for the life of the run)
    T, B, I, n = 20, 8, 8, args.n
    layer = make_layer("rnn", input_size=I, hidden_size=n, dtype=np.float32, seed=0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I), dtype=np.float32)
    dout = rng.standard_normal((T, B, n), dtype=np.float32)
    ests = {name: make_estimator(name, layer, seed=0) for name in args.names.split(",")}
    parts = {name: {k: [] for k in ("step", "learn", "reset", "gradient", "call")} for name in ests}
    clock = time.perf_counter
    for rep in range(50 + args.calls):
        for name, est in ests.items():
            p = parts[name]
            t0 = clock()
            est.reset(B)
            t1 = clock()
            for t in range(T):
                a = clock()
                est.step(x[t])
                b = clock()
                est.learn(dout[t])
                c = clock()
                if rep >= 50:
                    p["step"].append(b - a)
                    p["learn"].append(c - b)
            a = clock()
            est.gradient()
            b = clock()
            est.sequence_gradient(x, dout)
            c = clock()
            if rep >= 50:
                p["reset"].append(t1 - t0)
                p["gradient"].append(b - a)
                p["call"].append(c - b)
    print(f"plain RNN n={n} T={T} B={B} float32, {args.threads} BLAS thread(s); "
          f"10th percentile over {args.calls} calls")
    ref = next(iter(ests))
    p10 = {name: {k: float(np.percentile(v, 10)) for k, v in p.items()} for name, p in parts.items()}
    for name, q in p10.items():
        print(f"{name:8s} step {q['step'] * 1e6:6.1f} us  learn {q['learn'] * 1e6:5.1f} us"
              f"  reset {q['reset'] * 1e6:6.1f} us  gradient {q['gradient'] * 1e6:7.1f} us"
              f"  |  call {q['call'] * 1e3:6.3f} ms"
              f"  ({q['call'] / p10[ref]['call']:.2f}x {ref}'s)")


if __name__ == "__main__":
    main()
