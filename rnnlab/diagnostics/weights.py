"""The recurrent matrix: singular values, spectral radius, and the tutorial's bound on the decay.

For a plain RNN, dh_t/dh_{t-1} = diag(f'(z_t)) W_hh, so

    ||dh_t/dh_{t-d}||_2 <= (max f' * ||W_hh||_2)^d,    max f' = 1 (tanh, relu, linear), 1/4 (sigmoid):

the gradient reaching d steps back shrinks at least geometrically when ||W_hh|| < 1 (or < 4 for the
sigmoid), and may grow when it is larger. Gated cells (LSTM, GRU) have no such bound: their Jacobian
contains the gate values themselves (the LSTM's diag(f) path), which is the point of gating.
"""
from __future__ import annotations

import numpy as np

GATE_NAMES = {1: ("h",), 4: ("i", "f", "g", "o"), 3: ("r", "z", "n")}
DERIVATIVE_MAX = {"tanh": 1.0, "relu": 1.0, "linear": 1.0, "sigmoid": 0.25}


def gate_blocks(layer, l: int) -> dict:
    """The (H, H) recurrent block of each gate of layer l: {"h": W} for RNN, i/f/g/o LSTM, r/z/n GRU."""
    W = np.asarray(layer.params[f"weight_hh_l{l}"], dtype=np.float64)
    H = layer.hidden_size
    names = GATE_NAMES[layer.cell.gates]
    return {name: W[k * H:(k + 1) * H] for k, name in enumerate(names)}


def recurrent_spectrum(layer) -> list[dict]:
    """Per layer, per gate: {"singular_values": descending list, "spectral_radius": max |eigenvalue|,
    "norm": largest singular value}."""
    out = []
    for l in range(layer.num_layers):
        gates = {}
        for name, W in gate_blocks(layer, l).items():
            sv = np.linalg.svd(W, compute_uv=False)
            gates[name] = {"singular_values": sv.tolist(),
                           "spectral_radius": float(np.max(np.abs(np.linalg.eigvals(W)))),
                           "norm": float(sv[0])}
        out.append(gates)
    return out


def jacobian_bound(layer, max_distance: int, l: int = -1):
    """(max f' ||W_hh||)^d for d = 0..max_distance for layer l of a plain RNN; None for LSTM and GRU."""
    nl = getattr(layer.cell, "nonlinearity", None)
    if layer.cell.gates != 1 or nl not in DERIVATIVE_MAX:
        return None
    l = l % layer.num_layers
    norm = np.linalg.norm(np.asarray(layer.params[f"weight_hh_l{l}"], dtype=np.float64), 2)
    return (DERIVATIVE_MAX[nl] * norm) ** np.arange(int(max_distance) + 1, dtype=np.float64)
