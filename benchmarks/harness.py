"""Timing, thread control and peak memory for the benchmarks.

Every comparison is timed side by side in one process: the implementations of a case are run in
turn, round-robin (the order rotates every round), so slow phases of a shared machine hit all of them
alike; the garbage collector is off while they run. Before each timed sample the implementation runs
``settle`` untimed calls: the thread pools of the library that ran before (OpenBLAS's, torch's OpenMP)
keep spinning on the cores for a while after their last call, and without this the torch LM step timed
right after an rnnlab step took 52-55 ms instead of 30-38 ms, the rnnlab step 24-25 instead of 21-23.
Each implementation is warmed up, then timed ``repeats`` times; the median is reported, with the
spread (interquartile range / median). A sample is one call, or ``number`` calls when one call is too
short to time (calibrated during warm-up so that a sample lasts at least ``min_sample_s``).

Peak memory is measured in a fresh child process (``benchmarks.memchild``) for numpy and torch alike:
the child fixes glibc's mmap threshold so that large buffers are returned to the system when freed,
runs the step twice, resets the kernel's peak-RSS counter, runs the step once more and reports
peak RSS - RSS before the step: the transient memory of one step (params and inputs excluded), plus what
the step keeps for reuse between calls where it says so (a ``kept_bytes()`` attribute of the step:
rnnlab's layer workspace).
"""
from __future__ import annotations

import gc
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Config:
    quick: bool = False        # small sizes and few repeats: a smoke run, numbers not meaningful
    repeats: int = 15          # timed samples per implementation (median reported)
    warmup: int = 3            # untimed calls per implementation before timing
    settle: int = 2            # untimed calls of the same implementation before each timed sample
    min_sample_s: float = 0.02  # a sample repeats the call until it lasts this long
    threads: int = 2           # numpy (BLAS) and torch intra-op threads
    memory: bool = True        # measure peak memory in child processes
    only: tuple = ()           # run only cases whose name contains one of these strings

    def pick(self, full, quick):
        """``full`` for a real run, ``quick`` for a smoke run."""
        return quick if self.quick else full


@dataclass
class Timing:
    """Per-call seconds of one implementation: all samples and their median."""
    samples: list

    @property
    def median(self) -> float:
        return float(np.median(self.samples))

    @property
    def spread(self) -> float:
        """Interquartile range relative to the median."""
        q1, q3 = np.percentile(self.samples, [25, 75])
        return float((q3 - q1) / self.median) if self.median > 0 else 0.0


@dataclass
class Row:
    """One line of the table."""
    case: str                        # what is computed, with sizes
    impl: str                        # who computes it
    timing: Timing
    flops: float | None = None       # floating-point operations of one call (products: 2 m n k)
    items: float | None = None       # work items of one call (words, tokens) for a throughput column
    item_unit: str = ""              # e.g. "words/s"
    peak_mib: float | None = None    # transient memory of one call + what it keeps for reuse
    ratio: float | None = None       # t(ref) / t(this): > 1 means faster than ref
    ref: str = ""                    # the implementation the ratio is against
    note: str = ""

    @property
    def gflops(self) -> float | None:
        return None if self.flops is None else self.flops / self.timing.median / 1e9


@dataclass
class Context:
    """Shared between cases: the configuration and facts measured by earlier cases."""
    config: Config
    peak_gflops: float | None = None   # measured float32 matrix-product rate (numpy)
    rows: list = field(default_factory=list)


# -- threads ----------------------------------------------------------------------------------------

_LIMITS = []  # keeps threadpoolctl's limiter alive for the life of the process


def set_threads(n: int, use_torch: bool = True) -> None:
    """Pin BLAS and OpenMP (through threadpoolctl) and, with ``use_torch``, torch (if installed) to ``n``
    threads."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError as e:
        raise SystemExit("benchmarks need threadpoolctl: pip install -e '.[test]'") from e
    _LIMITS.append(threadpool_limits(limits=n))
    torch = optional_torch() if use_torch else None
    if torch is not None:
        torch.set_num_threads(n)


def optional_torch():
    """torch, or None when it is not installed (its columns are then skipped)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


# -- timing -----------------------------------------------------------------------------------------

def _calibrate(fn, config: Config) -> int:
    t0 = time.perf_counter()
    fn()
    dt = time.perf_counter() - t0
    if config.quick or dt <= 0:
        return 1
    return max(1, math.ceil(config.min_sample_s / dt))


def compare(fns: dict, config: Config) -> dict:
    """Time the callables of ``fns`` (name -> zero-argument callable) side by side.

    Returns name -> Timing (seconds per call)."""
    names = list(fns)
    number = {}
    for name in names:
        for _ in range(config.warmup):
            fns[name]()
        number[name] = _calibrate(fns[name], config)
    samples = {name: [] for name in names}
    gc_was_enabled = gc.isenabled()
    gc.collect()  # once: with torch loaded a collection takes ~0.2 s
    gc.disable()
    try:
        for r in range(config.repeats):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                fn, n = fns[name], number[name]
                for _ in range(config.settle):
                    fn()
                t0 = time.perf_counter()
                for _ in range(n):
                    fn()
                samples[name].append((time.perf_counter() - t0) / n)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {name: Timing(samples[name]) for name in names}


# -- memory -----------------------------------------------------------------------------------------

def peak_memory(config: Config, factory: str, **kwargs) -> float | None:
    """Transient peak memory (MiB) of one call of ``factory(**kwargs)()``, in a child process.

    ``factory`` is "module:function" returning a zero-argument step; None where it cannot be measured."""
    if not config.memory or not sys.platform.startswith("linux"):
        return None
    spec = json.dumps({"factory": factory, "kwargs": kwargs, "threads": config.threads})
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    try:
        res = subprocess.run([sys.executable, "-m", "benchmarks.memchild", spec], capture_output=True,
                             text=True, timeout=600, env=env)
    except subprocess.TimeoutExpired:
        return None
    if res.returncode != 0:
        return None
    try:
        return float(json.loads(res.stdout.strip().splitlines()[-1])["peak_mib"])
    except (ValueError, KeyError, IndexError):
        return None
