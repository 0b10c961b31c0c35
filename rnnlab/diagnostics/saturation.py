"""Saturation: units whose derivative is (nearly) zero, which is where gradients die.

    tanh unit saturated:  |tanh| > 0.99   (derivative 1 - tanh^2 < 0.02)
    sigmoid gate saturated: within 0.01 of 0 or 1   (derivative < 0.0099)
    relu unit dead: exactly 0

Read off the forward cache (no re-run). Per layer, a dict:
    RNN:  "tanh_saturated" (tanh), "sigmoid_saturated" (sigmoid), "relu_dead" (relu);
    LSTM: "tanh_saturated" (tanh(c_t)), "gates": {i, f, o: near_0/near_1/saturated/mean; g: saturated/mean},
          "mean_forget_gate";
    GRU:  "gates": {r, z: ...; n: tanh saturated/mean}, "mean_update_gate" (z: 1 keeps the old state).
"""
from __future__ import annotations

import numpy as np

TANH_LIMIT = 0.99
GATE_MARGIN = 0.01


def _frac(mask) -> float:
    return float(np.mean(mask)) if mask.size else 0.0


def _sigmoid_stats(a) -> dict:
    n0, n1 = _frac(a < GATE_MARGIN), _frac(a > 1.0 - GATE_MARGIN)
    return {"near_0": n0, "near_1": n1, "saturated": n0 + n1, "mean": float(np.mean(a))}


def _tanh_stats(a) -> dict:
    return {"saturated": _frac(np.abs(a) > TANH_LIMIT), "mean_abs": float(np.mean(np.abs(a)))}


def saturation(layer, cache) -> list[dict]:
    """Saturation statistics of every layer of a stack, over all steps and batch columns."""
    out = []
    H = layer.hidden_size
    for c in cache:
        if layer.cell.gates == 1:
            h = c["hs"][1:]
            nl = layer.cell.nonlinearity
            if nl == "tanh":
                out.append({"tanh_saturated": _frac(np.abs(h) > TANH_LIMIT)})
            elif nl == "sigmoid":
                out.append({"sigmoid_saturated": _sigmoid_stats(h)["saturated"]})
            elif nl == "relu":
                out.append({"relu_dead": _frac(h == 0)})
            else:
                out.append({})
        elif layer.cell.has_cell_state:
            a = c["gates"]
            gates = {k: _sigmoid_stats(a[..., j * H:(j + 1) * H]) for j, k in ((0, "i"), (1, "f"), (3, "o"))}
            gates["g"] = _tanh_stats(a[..., 2 * H:3 * H])
            out.append({"tanh_saturated": _frac(np.abs(c["tanh_c"]) > TANH_LIMIT), "gates": gates,
                        "mean_forget_gate": gates["f"]["mean"]})
        else:
            a = c["gates"]
            gates = {"r": _sigmoid_stats(a[..., :H]), "z": _sigmoid_stats(a[..., H:2 * H]),
                     "n": _tanh_stats(a[..., 2 * H:])}
            out.append({"tanh_saturated": gates["n"]["saturated"], "gates": gates,
                        "mean_update_gate": gates["z"]["mean"]})
    return out
