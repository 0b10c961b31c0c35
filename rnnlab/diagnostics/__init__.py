"""Gradient-flow diagnostics: see the gradient vanish (or explode), step by step.

The tutorial's claim, measured: in a plain RNN the gradient from the loss at step t reaches back only a
few steps, because dh_t/dh_{t-d} is a product of d step Jacobians diag(f'(z)) W_hh whose norm is bounded
by (max f' ||W_hh||)^d. rnnlab's BPTT is explicit, so every per-step quantity is in the forward cache and
nothing is re-run. "State" s_t means h_t for RNN/GRU and (h_t, c_t) for LSTM throughout.

Measures (each a function here; ``diagnose_layer`` / ``diagnose_lm`` run them all and return a JSON-ready
dict, the per-model part of ``report.json``):

- ``gradient_by_distance``: mean over t of ||dL_t/ds_{t-d}|| and its share, and the d-steps-back term of
  dL/dW_hh, for d = 0..D, per layer (``distance.py``);
- ``jacobian_norms``: ||ds_t/ds_{t-d}||_2 averaged over positions, exact or by power iteration
  (``jacobian.py``);
- ``recurrent_spectrum`` and ``jacobian_bound``: singular values and spectral radius of each gate's
  recurrent block, and the tutorial's bound ||W||^d, (||W||/4)^d for the sigmoid (``weights.py``);
- ``saturation``: saturated tanh units and gates, mean forget gate (``saturation.py``);
- ``truncation_bias``: cosine and relative error of the truncate=k gradient vs full BPTT (``truncation.py``);
- ``explosion_events``: spikes and non-finite values in a log of gradient norms (``explosion.py``).

    from rnnlab.diagnostics import diagnose_layer
    r = diagnose_layer(layer, x, dout, max_distance=30)
    r["grad_norm_by_distance"], r["jacobian_norm_by_distance"], r["bound_by_distance"]
"""
from .diagnose import (
    diagnose_cache,
    diagnose_layer,
    diagnose_lm,
    lm_output_grad,
    quick_summary,
    summarize,
    summary_line,
)
from .distance import DistanceProfile, decay_distance, gradient_by_distance, lag_sweep, layer_output_grads
from .explosion import explosion_events
from .jacobian import EXACT_MAX_STATE, JacobianProfile, jacobian_norms, power_distances
from .saturation import saturation
from .steps import state_jvp, state_size, state_vjp
from .truncation import default_ks, truncation_bias
from .weights import jacobian_bound, recurrent_spectrum

__all__ = [
    "diagnose_cache", "diagnose_layer", "diagnose_lm", "lm_output_grad", "quick_summary", "summarize",
    "summary_line", "DistanceProfile", "decay_distance", "gradient_by_distance", "lag_sweep",
    "layer_output_grads", "explosion_events", "EXACT_MAX_STATE", "JacobianProfile", "jacobian_norms",
    "power_distances", "saturation", "state_jvp", "state_size", "state_vjp", "default_ks", "truncation_bias",
    "jacobian_bound", "recurrent_spectrum",
]
