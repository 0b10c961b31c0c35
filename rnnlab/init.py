"""Initialisation schemes for recurrent layers.

The default is PyTorch's: every weight and bias uniform in [-1/sqrt(H), 1/sqrt(H)], which is also the
tutorial's choice for U, V and W (uniform in +-1/sqrt(n)). The others are the remedies the literature
proposes for vanishing and exploding gradients:

- ``xavier``: Glorot & Bengio (2010), uniform with variance 2 / (fan_in + fan_out), per gate block.
- ``orthogonal``: Saxe et al. (2013), each gate's recurrent block an orthogonal matrix.
- ``identity``: Le et al. (2015) IRNN, recurrent matrix = identity, biases zero (meant for ReLU).
- ``spectral_radius=rho`` (any scheme): each gate's recurrent block rescaled to spectral radius rho.
- ``forget_bias=b`` (LSTM): the forget-gate part of ``bias_ih`` set to b and of ``bias_hh`` to 0, so the
  gate starts near sigmoid(b) (Jozefowicz et al. 2015 recommend b = 1).
"""
from __future__ import annotations

import numpy as np

from .errors import ConfigError

SCHEMES = ("uniform", "xavier", "orthogonal", "identity")


def orthogonal(rng: np.random.Generator, n: int, m: int) -> np.ndarray:
    """A (n, m) matrix with orthonormal rows or columns (QR of a Gaussian, signs fixed)."""
    a = rng.standard_normal((max(n, m), min(n, m)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    return q if n >= m else q.T


def spectral_radius(w: np.ndarray) -> float:
    """Largest absolute eigenvalue of a square matrix."""
    return float(np.max(np.abs(np.linalg.eigvals(w.astype(np.float64)))))


def init_layer_params(params: dict, hidden_size: int, gates: int, rng: np.random.Generator,
                      scheme: str = "uniform", spectral: float | None = None,
                      forget_bias: float | None = None) -> None:
    """Fill ``params`` (torch names, any number of stacked layers) in place.

    ``gates`` is the number of H-sized blocks per weight: 1 (RNN), 4 (LSTM, i f g o), 3 (GRU, r z n).
    """
    if scheme not in SCHEMES:
        raise ConfigError(f"unknown init scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    H = hidden_size
    bound = 1.0 / np.sqrt(H)
    # Draw in the order torch registers parameters so that the same seed gives a stable layout.
    for name in params:
        p = params[name]
        if scheme == "uniform" or name.startswith("bias"):
            vals = rng.uniform(-bound, bound, size=p.shape)
            if scheme == "identity" and name.startswith("bias"):
                vals[:] = 0.0
        elif scheme == "xavier":
            fan_in = p.shape[1]
            b = np.sqrt(6.0 / (fan_in + H))
            vals = rng.uniform(-b, b, size=p.shape)
        elif scheme == "orthogonal":
            vals = np.concatenate([orthogonal(rng, H, p.shape[1]) for _ in range(gates)], axis=0)
        else:  # identity: recurrent blocks identity, input weights small Gaussian (Le et al. use 0.001)
            if name.startswith("weight_hh"):
                vals = np.concatenate([np.eye(H) for _ in range(gates)], axis=0)
            else:
                vals = rng.normal(0.0, 0.001, size=p.shape)
        if spectral is not None and name.startswith("weight_hh"):
            for gi in range(gates):
                blk = vals[gi * H:(gi + 1) * H]
                rho = spectral_radius(blk)
                if rho > 0:
                    blk *= spectral / rho
        p[...] = vals
    if forget_bias is not None:
        if gates != 4:
            raise ConfigError("forget_bias applies to LSTM layers only")
        for name, p in params.items():
            if name.startswith("bias_ih"):
                p[H:2 * H] = forget_bias
            elif name.startswith("bias_hh"):
                p[H:2 * H] = 0.0
