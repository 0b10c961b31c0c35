"""The vanishing-gradient regulariser Omega of Pascanu, Mikolov & Bengio (2013), eq. 9-10.

Omega asks each step's Jacobian to preserve the norm of the error signal *in the direction the error
actually takes*. With delta_t = dE/dh_t the total gradient of the task loss E at state h_t (what BPTT
carries back) and J_t = dh_t/dh_{t-1} = diag(f'(z_t)) W_hh the step's Jacobian (tutorial: W = W_hh),

    u_t = delta_t J_t = (delta_t * f'(z_t)) W_hh                 (row vector times matrix; (B, H) per step)
    Omega_t = ( ||u_t|| / ||delta_t|| - 1 )^2                    (eq. 9; ``squared=True``: (||u||^2/||delta||^2 - 1)^2)
    Omega = mean of Omega_t over the (step, sequence) terms with ||delta_t||^2 >= ``bound``

and the trainer adds alpha * dOmega/dtheta to the loss gradient (before clipping).

Choices, read off the paper and the authors' released code (github.com/pascanur/trainingRNNs, RNN.py):

- *What is held constant.* Eq. 10 differentiates Omega with the immediate partial derivative d+ and
  treats delta_t = dE/dh_t as constant with respect to W_hh (differentiating delta_t would need second
  derivatives of E through the whole unrolled graph). Their code builds Omega from delta and the states
  as free symbols and takes the gradient w.r.t. W_hh only, so f'(z_t) is constant too. That is
  ``hold_states=True`` (default): the gradient touches ``weight_hh_l0`` only,

      dOmega/dW_hh = sum_{t,b} a_t^T g_t,     a_t = delta_t * f'(z_t),   g_t = dOmega/du_t.

  ``hold_states=False`` keeps only delta_t constant and differentiates through the states as well:
  f'(z_t) is a function of h_t (tanh: 1 - h^2, sigmoid: h(1 - h), relu/linear: locally constant), so
  dOmega/dh_t = (g_t W_hh^T) * delta_t * d f'/dh (h_t) is fed to the layer's own BPTT, giving gradients
  for every parameter (W_ih, both biases, W_hh) and h0. That is the exact gradient of Omega(theta) with
  the error vectors frozen; the gradient with the error vectors differentiated too is not implemented.
- *States or pre-activations.* The paper writes the model as x_t = W_rec sigma(x_{t-1}) + W_in u_t + b
  (x a pre-activation); the code, like rnnlab, uses h_t = f(W_hh h_{t-1} + W_ih x_t + b) and measures
  the ratio on the states h_t, as above.
- *Norms and normalisation.* Eq. 9 uses plain norms and a sum over steps; the code uses squared norms
  and averages over the (step, sequence) terms whose ||delta||^2 passes a tiny bound (1e-20). Here:
  plain norms by default (``squared=True`` for the code's), averaged like the code, so that alpha does
  not scale with T. Terms with u_t = 0 contribute (0 - 1)^2 with zero gradient (the norm's kink).

Only single-layer Elman RNNs (``rnnlab.RNN``), as in the paper.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bptt import bptt, mm
from .errors import ConfigError, ShapeError


@dataclass
class OmegaResult:
    """The regulariser Omega, its gradient with the keys and shapes of ``layer.params``, the number of
    (step, sequence) terms averaged, and dOmega/dh0 when the states are not held fixed."""

    value: float                 # Omega
    grads: dict                  # dOmega/dparam, keys and shapes of layer.params (zeros where independent)
    n_terms: int                 # (step, sequence) terms that entered the mean
    dh0: np.ndarray | None = None  # dOmega/dh0 (only with hold_states=False)


def _check_layer(layer):
    cell = layer.cell
    if getattr(cell, "gates", None) != 1 or not hasattr(cell, "nonlinearity"):
        raise ConfigError("the Omega regulariser is defined for Elman RNN layers (rnnlab.RNN), "
                          f"not {type(layer).__name__}")
    if layer.num_layers != 1:
        raise ConfigError(f"the Omega regulariser needs a single-layer RNN, got num_layers={layer.num_layers}")


def state_gradients(layer, cache, dout, dhn=None):
    """Full-BPTT error signals of a single-layer RNN.

    Returns (delta, a, u), each (T, B, H): delta_t = dE/dh_t (total, through all later steps),
    a_t = delta_t * f'(z_t) = dE/dz_t, and u_t = a_t @ W_hh = delta_t dh_t/dh_{t-1}."""
    _check_layer(layer)
    c = cache[0]
    T, B, H = c["hs"].shape[0] - 1, c["hs"].shape[1], c["hs"].shape[2]
    dout = np.asarray(dout)
    if dout.shape != (T, B, H):
        raise ShapeError(f"dout must have shape {(T, B, H)}, got {dout.shape}")
    W = layer.params["weight_hh_l0"]
    if dhn is not None:
        dhn = np.asarray(dhn)
        dhn = dhn[0] if dhn.ndim == 3 else dhn
        if dhn.shape != (B, H):
            raise ShapeError(f"dhn must have shape {(1, B, H)}, got {dhn.shape}")
    a, _, _ = bptt(layer.cell, c, W, dout, dhn, None)
    u = mm(a, W)                                  # (T, B, H)
    delta = dout.copy()
    delta[:-1] += u[1:]                           # dE/dh_t = dout_t + delta_{t+1} J_{t+1}
    if dhn is not None:
        delta[-1] += dhn
    return delta, a, u


def omega_terms(u, delta, squared=False, bound=1e-20):
    """Omega and dOmega/du from u_t and delta_t (both (T, B, H)); delta is a constant.

    Returns (value, g, n_terms) with g = dOmega/du (T, B, H)."""
    u64 = u.astype(np.float64)
    n2 = np.einsum("tbh,tbh->tb", u64, u64)
    d2 = np.einsum("tbh,tbh->tb", delta, delta, dtype=np.float64)
    valid = d2 >= bound
    count = int(valid.sum())
    if count == 0:
        return 0.0, np.zeros_like(u), 0
    d2s = np.where(valid, d2, 1.0)
    if squared:
        r = n2 / d2s
        dr_du = (2.0 / d2s)[..., None] * u64                            # d(n^2/d^2)/du
    else:
        n = np.sqrt(n2)
        r = n / np.sqrt(d2s)
        safe = np.where(n > 0, n, 1.0)
        dr_du = (np.where(n > 0, 1.0 / (safe * np.sqrt(d2s)), 0.0))[..., None] * u64  # u / (n d)
    terms = np.where(valid, (r - 1.0) ** 2, 0.0)
    value = float(terms.sum() / count)
    coef = np.where(valid, 2.0 * (r - 1.0) / count, 0.0)
    g = (coef[..., None] * dr_du).astype(u.dtype)
    return value, g, count


def _fprime_dh(nonlinearity, h):
    """d f'(z) / d h with f'(z) written as a function of h = f(z)."""
    if nonlinearity == "tanh":
        return -2.0 * h
    if nonlinearity == "sigmoid":
        return 1.0 - 2.0 * h
    return np.zeros_like(h)  # relu, linear: f' is piecewise constant


def omega(layer, cache, dout, dhn=None, hold_states=True, squared=False, bound=1e-20) -> OmegaResult:
    """Omega (Pascanu et al. 2013, eq. 9) of a forward pass and its gradient (eq. 10, see module docs).

    Args:
        layer: a single-layer ``rnnlab.RNN``.
        cache: ``layer.forward``'s cache for the batch.
        dout: (T, B, H) dE/dh_t of the task loss at the outputs (what ``layer.backward`` receives).
        dhn: optional (1, B, H) dE/dh_T from beyond the sequence.
        hold_states: True: states and errors constant, gradient w.r.t. W_hh only (the paper's d+).
            False: only the errors constant; gradient w.r.t. every parameter through the states.
        squared: use squared norms as the authors' code does.
        bound: terms with ||delta_t||^2 below it are left out.
    """
    delta, a, u = state_gradients(layer, cache, dout, dhn)
    value, g, count = omega_terms(u, delta, squared=squared, bound=bound)
    H = u.shape[-1]
    grads = {k: np.zeros_like(v) for k, v in layer.params.items()}
    grads["weight_hh_l0"] += (a.reshape(-1, H).T @ g.reshape(-1, H)).astype(layer.dtype)
    dh0 = None
    if not hold_states:
        W = layer.params["weight_hh_l0"]
        hs = cache[0]["hs"][1:]
        dh = mm(g, W.T) * delta * _fprime_dh(layer.cell.nonlinearity, hs)     # dOmega/dh_t via f'(z_t)
        _, dh0, g_states = layer.backward(cache, dh.astype(layer.dtype))
        for k in grads:
            grads[k] += g_states[k]
    return OmegaResult(value, grads, count, dh0)
