"""What the report page's interactive view costs to compute, and how large it makes the page.

    OPENBLAS_NUM_THREADS=1 python examples/lab_cost.py [--hidden 64] [--vocab 284] [--steps 150]

For each cell (tanh RNN, LSTM, GRU): the least CPU time of several runs of ``rnnlab.diagnostics.lab.lab_data`` on a
probe of ``--steps`` tokens read as one stream (the longest probe the report uses), split into its parts
(the per-pair gradient norms and truncation terms, and the reach), and the bytes that one frame adds to
report.html (``rnnlab.report.lab_page``); then the same for a sentence probe (4 sentences of 20 tokens).
The defaults are the demo's models; random weights and tokens (the cost does not depend on what the model
has learnt)."""
import argparse
import json
import time

import numpy as np

import rnnlab
from rnnlab.diagnostics.lab import lab_data
from rnnlab.report.lab_page import _frame


def best(f, n):
    """The least CPU time of n runs (one thread: the time on one core, whatever else the machine runs)."""
    times = []
    for _ in range(n):
        t0 = time.process_time()
        out = f()
        times.append(time.process_time() - t0)
    return min(times), out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--embedding", type=int, default=32)
    p.add_argument("--vocab", type=int, default=284)
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    rng = np.random.default_rng(0)
    probes = {"stream": [tuple(rng.integers(0, a.vocab, (2, a.steps)))],
              "4 sentences": [tuple(rng.integers(0, a.vocab, (2, 20))) for _ in range(4)]}
    print(f"hidden {a.hidden}, embedding {a.embedding}, vocabulary {a.vocab}; best of {a.repeat}")
    print("| cell | probe | lab_data (CPU) | of which reach | frame in the page |")
    print("| --- | --- | --- | --- | --- |")
    for cell in ("rnn", "lstm", "gru"):
        lm = rnnlab.LanguageModel(a.vocab, a.hidden, cell=cell, embedding_size=a.embedding, seed=0)
        for what, segs in probes.items():
            t, lab = best(lambda lm=lm, segs=segs: lab_data(lm, segs), a.repeat)
            t_noreach, _ = best(lambda lm=lm, segs=segs: lab_data(lm, segs, reach_budget=0), a.repeat)
            frame = dict(lab, step=0, label="")
            size = len(json.dumps(_frame(frame), separators=(",", ":")))
            T = sum(len(x) for x, _ in segs)
            print(f"| {cell} | {what} ({T} steps, reach at {len(lab['reach'])} t) | {t:.2f} s | "
                  f"{t - t_noreach:.2f} s | {size / 1000:.0f} kB |")


if __name__ == "__main__":
    main()
