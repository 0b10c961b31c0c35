"""The tutorial's language model, one SGD training step (forward, loss, backward, update).

Vocabulary V = 8000, hidden H = 100, tanh, full softmax, a batch of B = 32 sentences of T = 20 words:
words/s = T B / seconds per step. torch's model is nn.Embedding(V, H) (the tutorial's one-hot input
times U, as a lookup) -> nn.RNN(H, H, tanh) -> nn.Linear(H, V) (the tutorial's V), mean cross-entropy,
plain SGD; its products per step, forward and backward, are

    output layer   3 products of (T B, H) x (H, V)      6 T B H V
    recurrence     W_ih and W_hh, 3 products each       12 T B H^2

The rnnlab rows (``rnnlab.LanguageModel``, and ``rnnlab.reference`` for the tutorial's own algorithm)
are to be added here as further step functions timed in the same ``compare`` call.
"""
from __future__ import annotations

import numpy as np

from ..harness import Context, Row, compare, optional_torch, peak_memory


def lm_batch(V: int, T: int, B: int, seed: int = 0):
    """Random word ids: inputs x and targets y (next words), both (T, B) int64."""
    rng = np.random.default_rng(seed)
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


def lm_flops(V, H, T, B):
    return 6.0 * T * B * H * V + 12.0 * T * B * H * H


def run(ctx: Context) -> list:
    cfg = ctx.config
    V, H, T, B = cfg.pick((8000, 100, 20, 32), (64, 8, 5, 4))
    if optional_torch() is None:
        return []
    kw = dict(V=V, H=H, T=T, B=B)
    timings = compare({"torch": torch_lm_step(**kw)}, cfg)
    case = f"tutorial LM SGD step V={V} H={H} tanh full softmax, {B} x {T} words"
    rows = []
    for impl, t in timings.items():
        mem = peak_memory(cfg, f"benchmarks.cases.lm:{impl}_lm_step", **kw)
        rows.append(Row(case, impl, t, flops=lm_flops(V, H, T, B), items=T * B, item_unit="words/s",
                        peak_mib=mem))
    return rows
