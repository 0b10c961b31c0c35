"""The tutorial's language model, one SGD training step (forward, loss, backward, update).

Vocabulary V = 8000, hidden H = 100, tanh, full softmax, a batch of B = 32 sentences of T = 20 words:
words/s = T B / seconds per step. torch's model is nn.Embedding(V, H) (the tutorial's one-hot input
times U, as a lookup) -> nn.RNN(H, H, tanh) -> nn.Linear(H, V) (the tutorial's V), mean cross-entropy,
plain SGD; rnnlab's is ``LanguageModel(V, H)`` (one-hot input: ``weight_ih_l0`` is U, the same
parameters as torch's) with ``forward_backward`` and ``optim.SGD``. The products per step, forward and
backward, are

    output layer   3 products of (T B, H) x (H, V)      6 T B H V
    recurrence     W_hh, 3 products per step            6 T B H^2   (+ the same again for torch's W_ih)

and the "% peak" column is the rate of those flops against the measured matrix-product rate.

Three comparisons:
- ``run``: rnnlab against torch eager, same step, same data.
- ``run_reference``: rnnlab with the tutorial's truncation (``truncate=4``) against
  ``rnnlab.reference.TutorialRNN``, the tutorial's own algorithm: one 20-word sentence per SGD step, float64.
- ``run_class``: the class-factorised softmax against the full softmax, whole training step, V = 8000;
  the target words are drawn from a Zipf distribution (p(rank r) ~ 1/r), the profile that frequency
  classes are built for: with uniform targets most tokens would fall into the largest (rarest) classes.
"""
from __future__ import annotations

import numpy as np

from ..harness import Context, Row, compare, optional_torch, peak_memory


def lm_batch(V: int, T: int, B: int, seed: int = 0, zipf: bool = False):
    """Word ids: inputs x and targets y (next words), both (T, B) int64; uniform, or Zipf over ids."""
    rng = np.random.default_rng(seed)
    if zipf:
        p = 1.0 / np.arange(1, V + 1)
        words = rng.choice(V, size=(T + 1, B), p=p / p.sum())
    else:
        words = rng.integers(0, V, size=(T + 1, B))
    return words[:-1], words[1:]


def torch_lm_step(V: int = 8000, H: int = 100, T: int = 20, B: int = 32, lr: float = 0.1):
    import torch

    torch.manual_seed(0)
    emb, rnn, out = torch.nn.Embedding(V, H), torch.nn.RNN(H, H), torch.nn.Linear(H, V)
    params = [*emb.parameters(), *rnn.parameters(), *out.parameters()]
    opt = torch.optim.SGD(params, lr=lr)
    x_np, y_np = lm_batch(V, T, B)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)

    def step():
        opt.zero_grad(set_to_none=True)
        h, _ = rnn(emb(x))                                    # (T, B, H)
        logits = out(h)                                       # (T, B, V)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        loss.backward()
        opt.step()

    return step


def rnnlab_lm_step(V: int = 8000, H: int = 100, T: int = 20, B: int = 32, lr: float = 0.1,
                   truncate: int | None = None, output: str = "softmax", zipf: bool = False):
    import rnnlab
    from rnnlab.optim import SGD

    lm = rnnlab.LanguageModel(V, H, output=output, dtype=np.float32, seed=0)
    opt = SGD(lr)
    x, y = lm_batch(V, T, B, zipf=zipf)

    def step():
        _, grads, _, _ = lm.forward_backward(x, y, truncate=truncate)
        opt.step(lm.params, grads)

    step.kept_bytes = lm.layer.workspace.nbytes              # the arrays it reuses (benchmarks.memchild)
    return step


def reference_lm_step(V: int = 8000, H: int = 100, T: int = 20, lr: float = 0.005, truncate: int = 4):
    """The tutorial's algorithm: one sentence of T words per SGD step, float64."""
    from rnnlab.reference import TutorialRNN

    model = TutorialRNN(V, H, bptt_truncate=truncate, seed=0)
    x, y = lm_batch(V, T, 1)
    xs, ys = x[:, 0].tolist(), y[:, 0].tolist()
    return lambda: model.sgd_step(xs, ys, lr)


def lm_flops(V, H, T, B, output_rows=None):
    """Products of one step: 6 T B H (rows of the output layer) + 6 T B H^2 (recurrence)."""
    return 6.0 * T * B * H * (V if output_rows is None else output_rows) + 6.0 * T * B * H * H


def run(ctx: Context) -> list:
    """rnnlab against torch eager (target: >= 3x words/s with the CPU's own BLAS kernel)."""
    cfg = ctx.config
    V, H, T, B = cfg.pick((8000, 100, 20, 32), (64, 8, 5, 4))
    kw = dict(V=V, H=H, T=T, B=B)
    fns = {"rnnlab": rnnlab_lm_step(**kw)}
    if optional_torch() is not None:
        fns["torch"] = torch_lm_step(**kw)
    timings = compare(fns, cfg)
    case = f"tutorial LM SGD step V={V} H={H} tanh full softmax, {B} x {T} words"
    rows = []
    for impl, t in timings.items():
        ratio = timings["torch"].median / t.median if impl == "rnnlab" and "torch" in timings else None
        mem = peak_memory(cfg, f"benchmarks.cases.lm:{impl}_lm_step", **kw)
        rows.append(Row(case, impl, t, flops=lm_flops(V, H, T, B), items=T * B, item_unit="words/s",
                        peak_mib=mem, ratio=ratio, ref="torch" if ratio else "",
                        note="target >= 3x" if ratio else ""))
    return rows


def run_reference(ctx: Context, k: int = 4) -> list:
    """rnnlab truncate=k (batches of B sentences) against the tutorial's algorithm (target: >= 80x words/s)."""
    cfg = ctx.config
    V, H, T, B = cfg.pick((8000, 100, 20, 32), (64, 8, 5, 4))
    fns = {f"rnnlab truncate={k}": rnnlab_lm_step(V=V, H=H, T=T, B=B, truncate=k),
           "tutorial (reference)": reference_lm_step(V=V, H=H, T=T, truncate=k)}
    timings = compare(fns, cfg)
    case = f"tutorial LM SGD step V={V} H={H}, truncate={k}: rnnlab {B} x {T} words vs the tutorial, 1 x {T} (float64)"
    ref = timings["tutorial (reference)"].median / T          # seconds per word
    rows = []
    for impl, t in timings.items():
        words = T * B if impl.startswith("rnnlab") else T
        ratio = ref / (t.median / words) if impl.startswith("rnnlab") else None
        rows.append(Row(case, impl, t, items=words, item_unit="words/s", ratio=ratio,
                        ref="tutorial, words/s" if ratio else "", note="target >= 80x" if ratio else ""))
    return rows


def run_class(ctx: Context) -> list:
    """Class-factorised against full softmax, whole SGD step (target: >= 5x words/s)."""
    cfg = ctx.config
    V, H, T, B = cfg.pick((8000, 100, 20, 32), (64, 8, 5, 4))
    kw = dict(V=V, H=H, T=T, B=B, zipf=True)
    timings = compare({"class softmax": rnnlab_lm_step(**kw, output="class"),
                       "full softmax": rnnlab_lm_step(**kw, output="softmax")}, cfg)
    case = f"rnnlab LM SGD step V={V} H={H}, class vs full softmax, {B} x {T} Zipf words"
    rows = []
    for impl, t in timings.items():
        ratio = timings["full softmax"].median / t.median if impl == "class softmax" else None
        output = "class" if impl == "class softmax" else "softmax"
        mem = peak_memory(cfg, "benchmarks.cases.lm:rnnlab_lm_step", **kw, output=output)
        rows.append(Row(case, impl, t, flops=lm_flops(V, H, T, B) if output == "softmax" else None,
                        items=T * B, item_unit="words/s", peak_mib=mem, ratio=ratio,
                        ref="full" if ratio else "", note="target >= 5x" if ratio else ""))
    return rows
