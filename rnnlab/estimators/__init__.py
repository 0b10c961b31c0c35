"""Gradient algorithms for one recurrent layer, behind one interface, measured against exact BPTT.

    from rnnlab.estimators import make_estimator
    est = make_estimator("snap-1", layer)             # one-layer RNN, LSTM or GRU
    grads = est.sequence_gradient(x, dout)            # or reset / step / learn / gradient, online

Names (``ESTIMATORS``): bptt, tbptt-K (any K >= 0), checkpointed, rtrl, uoro, kf-rtrl, snap-1, snap-2,
rflo, eprop, eprop-exact. Where an algorithm does not apply to a cell, ``make_estimator`` raises a
ConfigError saying why (kf-rtrl and rflo: the plain RNN only). The equations, mapped to this code, are
in docs/estimators.md; ``measure`` compares them on frozen weights and ``online`` trains with them.
"""
from __future__ import annotations

from ..errors import ConfigError
from .backprop import BPTT, Checkpointed
from .base import Estimator
from .eprop import RFLO, EProp, EPropExact
from .kfrtrl import KFRTRL
from .rtrl import RTRL
from .snap import SnAp1, SnAp2
from .uoro import UORO

ESTIMATORS = {"bptt": BPTT, "checkpointed": Checkpointed, "rtrl": RTRL, "uoro": UORO, "kf-rtrl": KFRTRL,
              "snap-1": SnAp1, "snap-2": SnAp2, "rflo": RFLO, "eprop": EProp, "eprop-exact": EPropExact}
NAMES = ("bptt", "tbptt-K", "checkpointed", "rtrl", "uoro", "kf-rtrl", "snap-1", "snap-2", "rflo", "eprop",
         "eprop-exact")

__all__ = ["Estimator", "ESTIMATORS", "NAMES", "make_estimator", "parse_name", "BPTT", "Checkpointed", "RTRL",
           "UORO", "KFRTRL", "SnAp1", "SnAp2", "RFLO", "EProp", "EPropExact"]


def parse_name(name: str):
    """``name`` -> (class, extra keyword arguments); ``tbptt-K`` is BPTT with truncate=K."""
    if isinstance(name, str) and name.startswith("tbptt-"):
        k = name[len("tbptt-"):]
        if not k.isdigit():
            raise ConfigError(f"truncated BPTT is tbptt-K with an integer K >= 0, got {name!r}")
        return BPTT, {"truncate": int(k)}
    if name not in ESTIMATORS:
        raise ConfigError(f"unknown estimator {name!r}; choose one of {', '.join(NAMES)}")
    return ESTIMATORS[name], {}


def make_estimator(name: str, layer, **kw) -> Estimator:
    """The estimator ``name`` over ``layer`` (a one-layer rnnlab RNN, LSTM or GRU); ``kw``: ``leak``,
    ``draws``, ``seed`` and the algorithm's own options (``segment`` for checkpointed)."""
    cls, extra = parse_name(name)
    return cls(layer, **extra, **kw)
