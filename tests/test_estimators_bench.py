"""Smoke test of the estimators benchmark case (benchmarks/cases/estimators.py): it runs and tabulates, and
its exponent fit reads a power law back. No timing assertions."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.cases import CASES, estimators  # noqa: E402
from benchmarks.harness import Config, Context  # noqa: E402
from benchmarks.report import text_table  # noqa: E402


def test_fitted_exponent_reads_a_power_law():
    ns = np.array([16, 32, 64, 128])
    assert abs(estimators.fitted_exponent(ns, 3e-9 * ns ** 4.0) - 4.0) < 1e-12
    assert abs(estimators.fitted_exponent(ns, 1e-6 * ns ** 2.0) - 2.0) < 1e-12


def test_estimators_case_runs_quick():
    assert CASES["estimators"] is estimators.run
    ctx = Context(Config(quick=True, repeats=1, warmup=0, settle=0, memory=False))
    rows = estimators.run(ctx)
    impls = {r.impl for r in rows}
    assert {"bptt", "uoro", "snap-1", "kf-rtrl", "rtrl", "checkpointed"} <= impls
    assert all(r.timing.median > 0 for r in rows)
    assert any("n^" in r.note for r in rows if r.impl == "rtrl")
    assert text_table(rows, None).count("\n") == len(rows) + 1
