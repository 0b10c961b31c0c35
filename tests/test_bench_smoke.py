"""Smoke tests of the benchmark harness: it runs, its rows are well formed. No timing assertions."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.cases import layers, matmul  # noqa: E402
from benchmarks.harness import Config, Context, compare, peak_memory  # noqa: E402
from benchmarks.report import markdown_table, text_table  # noqa: E402


def tiny():
    return Config(quick=True, repeats=2, warmup=0, settle=0, memory=False)


@pytest.fixture
def one_thread():
    """One torch thread while a test runs: tiny ops on a busy shared machine then don't wait on a
    descheduled OpenMP partner thread (seconds instead of milliseconds)."""
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_compare_times_every_callable_and_rotates():
    calls = []
    t = compare({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, tiny())
    assert set(t) == {"a", "b"}
    assert all(len(x.samples) == 2 and x.median >= 0 for x in t.values())
    assert calls[-4:] == ["a", "b", "b", "a"]  # round 0: a, b; round 1 starts with b


def test_settle_calls_precede_each_timed_sample():
    calls = []
    cfg = Config(quick=True, repeats=2, warmup=0, settle=1, memory=False)
    compare({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, cfg)
    assert calls[-8:] == ["a", "a", "b", "b", "b", "b", "a", "a"]


def test_lm_cases_run_and_tabulate(one_thread):
    from benchmarks.cases import lm, train

    ctx = Context(tiny())
    rows = lm.run(ctx) + lm.run_reference(ctx) + lm.run_class(ctx) + train.run(ctx)  # train: skipped when quick
    impls = {r.impl for r in rows}
    assert {"rnnlab", "torch", "rnnlab truncate=4", "tutorial (reference)", "class softmax", "full softmax"} <= impls
    for r in rows:
        assert r.timing.median > 0 and r.items
    assert next(r for r in rows if r.impl == "class softmax").ref == "full"
    assert text_table(rows, None).count("\n") == len(rows) + 1


def test_layer_cases_run_and_tabulate(one_thread):
    ctx = Context(tiny())
    ctx.rows += matmul.run(ctx)
    assert ctx.peak_gflops and ctx.peak_gflops > 0
    ctx.rows += layers.run_layers(ctx) + layers.run_truncate(ctx)
    impls = {r.impl for r in ctx.rows}
    assert {"numpy", "rnnlab", "full BPTT", "truncate=4"} <= impls
    for r in ctx.rows:
        assert r.timing.median > 0 and (r.gflops is None or r.gflops > 0)
        if r.impl == "truncate=4":
            assert r.ratio is not None and r.ref == "full"
    txt, md = text_table(ctx.rows, ctx.peak_gflops), markdown_table(ctx.rows, ctx.peak_gflops)
    assert txt.count("\n") == len(ctx.rows) + 1 and md.count("\n") == len(ctx.rows) + 1


def test_layer_flops_count_truncation_lags():
    full = layers.layer_flops("lstm", 10, 2, 3, 4)
    assert full == 6 * 10 * 2 * 16 * (3 + 4)
    assert layers.layer_flops("lstm", 10, 2, 3, 4, truncate=9) == full
    assert layers.layer_flops("lstm", 10, 2, 3, 4, truncate=1) == full + 2 * 2 * 16 * 4 * 9


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak memory reads /proc")
def test_peak_memory_child_reports_transient_memory():
    cfg = Config(memory=True)
    # hs alone is (T+1) B H float32 = 51 * 64 * 64 * 4 bytes = 0.8 MiB, freed after the step
    mib = peak_memory(cfg, "benchmarks.cases.layers:rnnlab_layer_step", cell="rnn", T=50, B=64, I=64, H=64)
    assert mib is not None and mib > 0.5
