"""What the gradient-flow diagnostics cost, against a training step on the same tokens.

    python examples/diagnose_cost.py [--hidden 100] [--vocab 8000] [--steps 100] [--batch 4]

For each cell (tanh RNN, LSTM, GRU): the best of several runs of one training step (forward, backward,
SGD update), of ``quick_summary`` (the per-epoch log line: one lag sweep), and of ``diagnose_lm`` (every
measure, D = 50), on random tokens (the cost does not depend on what the model has learnt)."""
import argparse
import time

import numpy as np

import rnnlab
from rnnlab.diagnostics import diagnose_lm, quick_summary
from rnnlab.optim import SGD


def best(f, n):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, default=100)
    p.add_argument("--vocab", type=int, default=8000)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--max-distance", type=int, default=50)
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args()
    rng = np.random.default_rng(0)
    x = rng.integers(0, a.vocab, (a.steps, a.batch))
    y = rng.integers(0, a.vocab, (a.steps, a.batch))
    print(f"hidden {a.hidden}, vocabulary {a.vocab}, {a.steps} x {a.batch} = {a.steps * a.batch} tokens, "
          f"distances up to {a.max_distance}")
    for cell in ("rnn", "lstm", "gru"):
        lm = rnnlab.LanguageModel(a.vocab, a.hidden, cell=cell, seed=0)
        opt = SGD(lr=1e-6)

        def step(lm=lm, opt=opt):
            _, grads = lm.loss_and_grads(x, y)
            opt.step(lm.params, grads)

        t_step, _ = best(step, a.repeat)
        t_quick, _ = best(lambda lm=lm: quick_summary(lm, x, y, a.max_distance), a.repeat)
        t_all, r = best(lambda lm=lm: diagnose_lm(lm, x, y, max_distance=a.max_distance), max(2, a.repeat // 2))
        parts = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in r["seconds"].items())
        print(f"{cell:4s} | step {t_step * 1000:6.1f} ms | quick_summary {t_quick * 1000:6.1f} ms "
              f"= {t_quick / t_step:4.1f} steps | all measures {t_all * 1000:6.0f} ms = {t_all / t_step:5.1f} steps "
              f"({parts}; Jacobian by {r['jacobian_method']})", flush=True)


if __name__ == "__main__":
    main()
