"""Benchmark: what the training loop itself costs per step (bookkeeping, checks, log), without the step.

    python benchmarks/loop_overhead.py [--steps 3000] [--repeats 3]

Runs the Trainer over ``--steps`` tiny batches with a step that does nothing and prints the best
microseconds per step over the repeats (one epoch end included). Set PYTHONPATH to another checkout to
compare (it also drives rnnlab 0.2's Trainer, whose step took (x, y) and returned a tuple).
"""
import argparse
import tempfile
import time

import numpy as np

from rnnlab.lm import LanguageModel
from rnnlab.train import TrainConfig, Trainer


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    x = np.zeros((5, 2), dtype=np.int64)

    class Data:
        stream = False

        def epoch_batches(self, epoch, start=0, stride=1):
            for _ in range(start, args.steps, stride):
                yield x, x

        def n_batches(self, epoch):
            return args.steps

        def valid_batches(self):
            yield x, x

    best = float("inf")
    for _ in range(args.repeats):
        tr = Trainer(LanguageModel(12, 4), TrainConfig(epochs=1), Data(), tempfile.mkdtemp(), {},
                     log=lambda s: None, progress=False)
        try:
            from rnnlab.training import StepResult
            tr.step = lambda batch, t=None: StepResult(1.0, 1.0, 10, True)
        except ImportError:  # rnnlab 0.2
            tr.step = lambda x, y: (1.0, 1.0, 10, True)
        t0 = time.perf_counter()
        tr.run()
        best = min(best, (time.perf_counter() - t0) / args.steps * 1e6)
    print(f"loop overhead: {best:.1f} us per step ({args.steps} steps, best of {args.repeats})")


if __name__ == "__main__":
    main()
