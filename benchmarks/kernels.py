"""The two BLAS kernels a benchmark run measures: the one this environment pins (what CI sees) and the
CPU's own (what a user's machine runs).

This environment sets ``OPENBLAS_CORETYPE=Haswell`` and ``OPENBLAS_L2_SIZE=512`` (older OpenBLAS builds
fail on its processors); a current NumPy then runs an older kernel than the CPU's. OpenBLAS reads both
variables once, when it is loaded, so each kernel needs its own process: ``python -m benchmarks``
re-runs itself once per kernel with the variables set or removed for that child only. Tests and CI never
change them.
"""
from __future__ import annotations

import os

PINNED = {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "512"}  # this environment's settings
KERNELS = ("own", "pinned")


def environment(kernel: str, base: dict | None = None) -> dict:
    """A copy of ``base`` (default: this process's environment) for ``kernel``: "own" without the two
    variables, "pinned" with them (their values from ``base`` where it sets them, else this environment's)."""
    env = dict(os.environ if base is None else base)
    if kernel == "own":
        for k in PINNED:
            env.pop(k, None)
    elif kernel == "pinned":
        for k, v in PINNED.items():
            env.setdefault(k, v)
    else:
        raise ValueError(f"unknown kernel {kernel!r}; choose {' or '.join(KERNELS)}")
    return env


def matches(kernel: str, env: dict | None = None) -> bool:
    """Whether ``env`` (default: this process's) already selects ``kernel``."""
    env = dict(os.environ if env is None else env)
    if kernel == "own":
        return not any(k in env for k in PINNED)
    return all(k in env for k in PINNED)


def describe(kernel: str) -> str:
    """One header line: which setting this process runs and what the variables are."""
    if kernel == "own":
        return "BLAS kernel setting: the CPU's own (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset)"
    vals = ", ".join(f"{k}={os.environ.get(k, '(unset)')}" for k in PINNED)
    return f"BLAS kernel setting: pinned, as in this environment and CI ({vals})"
