"""Torch reference computations used as oracles by the tests (torch autograd, float64)."""
from __future__ import annotations

import numpy as np
import torch

ACT = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid, "linear": lambda z: z}


def t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def torch_module(kind, input_size, hidden, num_layers, nonlinearity, dtype):
    """torch.nn module of the same kind, or None where torch has none (RNN sigmoid/linear)."""
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    if kind == "rnn":
        if nonlinearity not in ("tanh", "relu"):
            return None
        return torch.nn.RNN(input_size, hidden, num_layers, nonlinearity=nonlinearity).to(tdt)
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    return cls(input_size, hidden, num_layers).to(tdt)


def cell_step(kind, nonlinearity, P, l, x_t, state):
    """One step of layer l with torch ops; P maps torch parameter names to tensors."""
    W_ih, W_hh = P[f"weight_ih_l{l}"], P[f"weight_hh_l{l}"]
    b_ih, b_hh = P[f"bias_ih_l{l}"], P[f"bias_hh_l{l}"]
    if kind == "rnn":
        return ACT[nonlinearity](x_t @ W_ih.T + b_ih + state @ W_hh.T + b_hh)
    if kind == "lstm":
        h, c = state
        i, f, g, o = (x_t @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c
    gi = x_t @ W_ih.T + b_ih
    gh = state @ W_hh.T + b_hh
    ir, iz, inn = gi.chunk(3, dim=-1)
    hr, hz, hn = gh.chunk(3, dim=-1)
    r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
    n = torch.tanh(inn + r * hn)
    return (1 - z) * n + z * state


def run_layer(kind, nonlinearity, P, l, xs, state0, truncate=None):
    """Outputs of layer l over the list xs. With ``truncate=k`` every output t is recomputed over the
    window t-k..t from the detached true state entering step t-k (or from state0 when t-k <= 0): its
    value is unchanged but its gradient reaches back k steps only (the detach-based definition)."""
    T = len(xs)
    lstm = kind == "lstm"
    # true states (full graph)
    states = []
    s = state0
    for t_ in range(T):
        s = cell_step(kind, nonlinearity, P, l, xs[t_], s)
        states.append(s)
    if truncate is None:
        return states
    outs = []
    for t_ in range(T):
        start = t_ - truncate
        if start <= 0:
            s, start = state0, 0
        else:
            prev = states[start - 1]
            s = (prev[0].detach(), prev[1].detach()) if lstm else prev.detach()
        for u in range(start, t_ + 1):
            s = cell_step(kind, nonlinearity, P, l, xs[u], s)
        outs.append(s)
    return outs


def reference_grads(kind, nonlinearity, params, x, h0, dout, dhn, truncate=None, use_module=True):
    """out, hn, dx, dh0, grads computed by torch autograd (float64 if the arrays are)."""
    lstm = kind == "lstm"
    P = {k: t(v).clone().requires_grad_(True) for k, v in params.items()}
    num_layers = sum(1 for k in params if k.startswith("weight_ih"))
    xt = t(x).clone().requires_grad_(True)
    if lstm:
        h0t = (t(h0[0]).clone().requires_grad_(True), t(h0[1]).clone().requires_grad_(True))
    else:
        h0t = t(h0).clone().requires_grad_(True)
    mod = torch_module(kind, x.shape[2], dout.shape[2], num_layers, nonlinearity, x.dtype) \
        if (use_module and truncate is None) else None
    if mod is not None:
        with torch.no_grad():
            for k, p in mod.named_parameters():
                p.copy_(P[k])
        out, hn = mod(xt, h0t)
        named = dict(mod.named_parameters())
    else:
        xs = list(xt.unbind(0))
        hns, cns = [], []
        for l in range(num_layers):
            s0 = (h0t[0][l], h0t[1][l]) if lstm else h0t[l]
            outs = run_layer(kind, nonlinearity, P, l, xs, s0, truncate)
            if lstm:
                hns.append(outs[-1][1 * 0])
                cns.append(outs[-1][1])
                xs = [o[0] for o in outs]
            else:
                hns.append(outs[-1])
                xs = outs
        out = torch.stack(xs)
        hn = (torch.stack(hns), torch.stack(cns)) if lstm else torch.stack(hns)
        named = P
    loss = (out * t(dout)).sum()
    if dhn is not None:
        if lstm:
            loss = loss + (hn[0] * t(dhn[0])).sum() + (hn[1] * t(dhn[1])).sum()
        else:
            loss = loss + (hn * t(dhn)).sum()
    loss.backward()
    grads = {k: named[k].grad.numpy() for k in params}
    dh0 = (h0t[0].grad.numpy(), h0t[1].grad.numpy()) if lstm else h0t.grad.numpy()
    hn_np = (hn[0].detach().numpy(), hn[1].detach().numpy()) if lstm else hn.detach().numpy()
    return out.detach().numpy(), hn_np, xt.grad.numpy(), dh0, grads


def assert_lm_matches(loss, grads, z, y, P):
    """The language model's ``loss`` and ``grads`` against torch's cross-entropy of logits ``z`` (T, B, V)
    for targets ``y`` (-1: padding), differentiated with respect to the leaf tensors ``P`` (name: tensor)."""
    V = z.shape[-1]
    ref = torch.nn.functional.cross_entropy(z.reshape(-1, V), t(np.asarray(y).reshape(-1)), ignore_index=-1)
    ref.backward()
    assert abs(loss - ref.item()) <= 1e-12 * ref.item()
    for k, p in P.items():
        np.testing.assert_allclose(grads[k], p.grad.numpy(), rtol=1e-9, atol=1e-13, err_msg=k)
