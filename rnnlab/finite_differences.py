"""Finite-difference gradient checking, independent of torch.

For a scalar loss L(theta) and an analytic gradient g, each checked entry i gets the central difference

    n_i = (8 [L(theta + eps e_i) - L(theta - eps e_i)] - [L(theta + 2 eps e_i) - L(theta - 2 eps e_i)]) / (12 eps)

(the five-point stencil: its error is O(eps^4), so a larger step keeps round-off, ~ 1e-16 |L| / eps, small
too; plain central differences leave errors ~1e-11 that dominate the gradient entries of 1e-7 a language
model has)

computed on float64 copies of the parameters, and the relative error |g_i - n_i| / max(|g_i|, |n_i|, floor),
where floor = 1e-7 * max|g| stops entries that are zero up to rounding from dominating. The result is the
largest such error per parameter.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class GradcheckResult:
    """What ``gradcheck`` found: per parameter the largest relative error and the number of entries checked;
    ``passed`` when the worst error is at most ``tol``."""

    max_rel_error: dict[str, float]   # parameter name -> largest relative error over checked entries
    checked: dict[str, int]           # parameter name -> number of entries checked
    tol: float

    @property
    def worst(self) -> float:
        """The largest relative error over all parameters (0 when nothing was checked)."""
        return max(self.max_rel_error.values(), default=0.0)

    @property
    def passed(self) -> bool:
        """``worst <= tol``."""
        return self.worst <= self.tol


def gradcheck(loss_fn, params: dict, grads: dict, eps: float = 1e-3, max_entries: int | None = 200,
              seed: int = 0, tol: float = 1e-5) -> GradcheckResult:
    """Compare ``grads`` with central differences of ``loss_fn``.

    Args:
        loss_fn: callable taking a params dict (float64 arrays, same keys) and returning the scalar loss.
        params: dict name -> array at which the gradient was computed (not modified).
        grads: dict name -> analytic gradient (any subset of ``params``' keys is checked).
        eps: finite-difference step.
        max_entries: check at most this many randomly chosen entries per parameter (None: all).
        tol: the pass/fail threshold reported by ``GradcheckResult.passed``.
    Returns:
        a ``GradcheckResult``: the largest relative error and the number of entries checked, per parameter.
    """
    rng = np.random.default_rng(seed)
    work = {k: np.array(v, dtype=np.float64, order="C", copy=True) for k, v in params.items()}
    errors, counts = {}, {}
    for name, g in grads.items():
        g = np.asarray(g, dtype=np.float64)
        p = work[name]
        flat = p.reshape(-1)
        idx = np.arange(flat.size)
        if max_entries is not None and flat.size > max_entries:
            idx = rng.choice(flat.size, size=max_entries, replace=False)
        floor = 1e-7 * max(float(np.max(np.abs(g))), 1e-12)
        worst = 0.0
        gflat = g.reshape(-1)
        for i in idx:
            old = flat[i]
            f = []
            for step in (eps, -eps, 2 * eps, -2 * eps):
                flat[i] = old + step
                f.append(float(loss_fn(work)))
            flat[i] = old
            num = (8 * (f[0] - f[1]) - (f[2] - f[3])) / (12 * eps)
            err = abs(gflat[i] - num) / max(abs(gflat[i]), abs(num), floor)
            worst = max(worst, err)
        errors[name] = worst
        counts[name] = int(len(idx))
    return GradcheckResult(errors, counts, tol)


def layer_gradcheck(kind: str, nonlinearity: str = "tanh", num_layers: int = 1, truncate=None,
                    T: int = 5, B: int = 2, input_size: int = 3, hidden_size: int = 4, seed: int = 0,
                    dropout_recurrent: float = 0.0, **kw) -> GradcheckResult:
    """Gradcheck a layer on a random problem with loss L = sum(dout * out) + sum(dhn * hn).

    With ``truncate=k`` the truncated gradient is, by definition, not the gradient of L; it is checked
    against finite differences of the equivalent windowed loss sum_t dout_t . out_t(window t-k..t), whose
    exact gradient it is.

    ``dropout_recurrent`` > 0 draws one fixed recurrent dropout mask per layer (``rnnlab.dropout``), used by
    the analytic gradient and by every perturbed loss alike."""
    from .dropout import draw_masks
    from .layers import make_layer

    rng = np.random.default_rng(seed)
    layer = make_layer(kind, input_size, hidden_size, nonlinearity=nonlinearity, num_layers=num_layers,
                       dtype=np.float64, seed=seed)
    x = rng.standard_normal((T, B, input_size))
    dout = rng.standard_normal((T, B, hidden_size))
    lstm = kind == "lstm"
    st = lambda: rng.standard_normal((num_layers, B, hidden_size))
    h0, dhn = ((st(), st()), (st(), st())) if lstm else (st(), st())
    m_hh = None
    if dropout_recurrent > 0:
        m_hh = draw_masks(0.0, seed, B, None, hidden_size, num_layers, np.float64, dropout_recurrent).recurrent
    _, _, cache = layer.forward(x, h0, masks_hh=m_hh)
    _, _, grads = layer.backward(cache, dout, dhn, truncate=truncate)
    layer._frozen_states = _true_states(layer, x, h0, m_hh)

    def windowed_loss(p):
        saved = layer.params
        layer.params = p
        try:
            return _windowed_loss(layer, x, h0, dout, dhn, truncate, m_hh)
        finally:
            layer.params = saved

    return gradcheck(windowed_loss, layer.params, grads, **kw)


def _windowed_loss(layer, x, h0, dout, dhn, k, m_hh=None):
    """sum_t dout_t . out_t + dhn . hn. For ``k`` not None every layer's output t is recomputed over the
    window t-k..t from the state entering step t-k *frozen at the unperturbed parameters* (or from h0
    when the window reaches step 0), its inputs being the lower layer's windowed outputs: exactly the
    function whose gradient truncated BPTT computes, layer by layer. ``m_hh``: per layer a recurrent
    dropout mask, or None."""
    lstm = layer.cell.has_cell_state
    T = x.shape[0]
    L = layer.num_layers
    if k is None:
        out, hn, _ = layer.forward(x, h0, masks_hh=m_hh)
    else:
        frozen = layer._frozen_states  # per layer: list of states at the unperturbed parameters
        memo = {}

        def layer_state(l, t):  # (out_t, state_t) of layer l, windowed
            if (l, t) in memo:
                return memo[(l, t)]
            p = layer._layer_params(l)
            start = t - k
            if start <= 0:
                start, s0 = 0, ((h0[0][l], h0[1][l]) if lstm else h0[l])
            else:
                s0 = frozen[l][start - 1]
            inp = np.stack([x[s] if l == 0 else layer_state(l - 1, s)[0] for s in range(start, t + 1)])
            gi = inp @ p["W_ih"].T + layer.cell.input_bias(p["b_ih"], p["b_hh"])
            m = None if m_hh is None else m_hh[l]
            out, s_n, _ = layer.cell.forward(gi, s0, p["W_hh"], p["b_hh"], mask=m)
            memo[(l, t)] = (out[-1], s_n)
            return memo[(l, t)]

        out = np.stack([layer_state(L - 1, t)[0] for t in range(T)])
        finals = [layer_state(l, T - 1)[1] for l in range(L)]
        hn = (np.stack([f[0] for f in finals]), np.stack([f[1] for f in finals])) if lstm else np.stack(finals)
    loss = float(np.sum(out * dout))
    if lstm:
        return loss + float(np.sum(hn[0] * dhn[0]) + np.sum(hn[1] * dhn[1]))
    return loss + float(np.sum(hn * dhn))


def _true_states(layer, x, h0, m_hh=None):
    """Per layer, the list of states (h or (h, c)) after each step, at the current parameters."""
    _, _, caches = layer.forward(x, h0, masks_hh=m_hh)
    lstm = layer.cell.has_cell_state
    states = []
    for c in caches:
        if lstm:
            states.append([(c["hs"][t + 1].copy(), c["cs"][t + 1].copy()) for t in range(x.shape[0])])
        else:
            states.append([c["hs"][t + 1].copy() for t in range(x.shape[0])])
    return states


def lm_gradcheck(lm, x, y, grads, **kw) -> GradcheckResult:
    """``gradcheck`` of a language model's mean cross-entropy on tokens (x, y) (float64 model), for the
    parameters in ``grads`` (dense arrays, e.g. from ``lm.loss_and_grads``); ``kw`` as ``gradcheck``."""

    def loss(p):
        saved = {k: v.copy() for k, v in lm.params.items()}
        lm.load_params(p)
        try:
            return lm.loss(x, y)[0]
        finally:
            lm.load_params(saved)

    return gradcheck(loss, lm.params, grads, **kw)
