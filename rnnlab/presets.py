"""Recipes a user does not assemble: ``rnnlab train --preset NAME`` sets these flags; any flag given on the
command line overrides its preset value. The numbers are measured on the fortunes corpus (~0.5M words,
vocabulary 8000) on two cores by ``scripts/race.py``; see docs/PERFORMANCE.md.
"""
from __future__ import annotations

from .errors import ConfigError

PRESETS = {
    # the README recipe's class output, SparseAdam and batch 128, with a GRU 100, direct connections of order
    # 4 and two Hogwild workers, two epochs (the rate halved for the second): test 83.9-84.1 in 24.7-25.9 s,
    # where faster-rnnlm -direct 100 -direct-order 4 took 33.5-36.7 s for 85.3-85.8 (a third epoch: 79.6-79.8
    # in 37-41 s; a tanh RNN instead of the GRU: 83.6-94.0 over three runs of three epochs)
    "fast": {"cell": "gru", "hidden": 100, "output": "class", "optimizer": "sparseadam", "lr": 0.008,
             "batch_size": 128, "epochs": 2, "lr_decay_after": 1, "direct": 10.0, "direct_order": 4,
             "workers": 2},
    # a GRU 200, a larger table, three epochs: test 76.7 in 66 s (validation 98.5, 77.6, 76.1 after epochs
    # 1-3; two more epochs only overfit: 76.5, 76.8)
    "best": {"cell": "gru", "hidden": 200, "output": "class", "optimizer": "sparseadam", "lr": 0.006,
             "batch_size": 128, "epochs": 3, "lr_decay_after": 2, "direct": 20.0, "direct_order": 4,
             "workers": 2},
}

MEASURED = {  # fortunes (0.5M words, vocabulary 8000), two cores, scripts/race.py (docs/PERFORMANCE.md)
    "fast": "test PPL 83.9-84.1 in 25-26 s, where faster-rnnlm -direct 100 -direct-order 4 took 34-37 s for "
            "85.3-85.8",
    "best": "test PPL 76.7 in 66 s",
}

def describe(name: str) -> str:
    """``--flag value ...`` of a preset, for --help and the log."""
    flags = []
    for k, v in PRESETS[name].items():
        flags.append(f"--{k.replace('_', '-')} {v:g}" if isinstance(v, float) else f"--{k.replace('_', '-')} {v}")
    return " ".join(flags)


def apply_preset(args, name: str | None, given=None) -> list[str]:
    """Set the preset's values on ``args`` (an argparse Namespace with ``get_default``) for every flag the
    command line did not give: those not in ``given`` (the names of the flags given), or, with ``given``
    None, those left at their default value. Returns the flags the preset set. Raises ConfigError for an
    unknown preset."""
    if name is None:
        return []
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    set_ = []
    for k, v in PRESETS[name].items():
        if k not in given if given is not None else getattr(args, k) == args.get_default(k):
            setattr(args, k, v)
            set_.append(k)
    return set_
