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
    ctx.rows += layers.run_layers(ctx) + layers.run_truncate(ctx) + layers.run_parts(ctx)
    impls = {r.impl for r in ctx.rows}
    assert {"numpy", "rnnlab", "full BPTT", "truncate=4", "forward recurrence (cell loop)",
            "per-step factors (prepare_backward)", "backward sweep (bptt, full)"} <= impls
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


def test_kernel_environments_set_or_remove_only_the_two_variables():
    from benchmarks import kernels

    base = {"PATH": "/bin", "OPENBLAS_CORETYPE": "Zen", "OPENBLAS_L2_SIZE": "1024"}
    own = kernels.environment("own", base)
    assert own == {"PATH": "/bin"} and kernels.matches("own", own) and not kernels.matches("pinned", own)
    assert kernels.environment("pinned", base) == base  # the environment's own values are kept
    pinned = kernels.environment("pinned", {"PATH": "/bin"})
    assert pinned == {"PATH": "/bin", **kernels.PINNED} and kernels.matches("pinned", pinned)
    assert base["OPENBLAS_CORETYPE"] == "Zen"  # the caller's mapping is not changed
    with pytest.raises(ValueError):
        kernels.environment("haswell", base)


def test_two_kernels_side_by_side_and_targets():
    from benchmarks.report import side_by_side, target_lines

    def row(case, impl, ms, ratio, peak):
        return {"case": case, "impl": impl, "ms": ms, "peak": peak, "ratio": ratio,
                "ref": "torch" if ratio else ""}

    lstm, gru = "LSTM layer fwd+bwd T=100", "GRU layer fwd+bwd T=100"
    own = [row(lstm, "rnnlab", "30.0", 1.25, "72%"), row(lstm, "torch", "37.5", None, "60%"),
           row(gru, "rnnlab", "40.0", 1.4, "60%"), row("truncate", "full BPTT", "10", None, "")]
    pinned = [row(lstm, "rnnlab", "60.0", 0.6, "65%"), row(lstm, "torch", "36.0", None, "80%"),
              row(gru, "rnnlab", "50.0", 0.9, "55%")]
    s = side_by_side(own, pinned)
    assert s["text"].count("\n") == 1 + 3 and "truncate" not in s["text"]  # only rows measured both ways
    assert "1.25x vs torch" in s["markdown"] and "0.60x vs torch" in s["markdown"]
    lines = "\n".join(target_lines(own, pinned))
    assert "LSTM layer fwd+bwd vs torch 1.25x (target >= 1.2x): met" in lines
    assert "GRU layer fwd+bwd vs torch 1.40x (target >= 1.5x): MISSED" in lines
    assert "own kernel: LSTM layer at 72% of the matmul rate (target >= 70%): met" in lines
    assert "pinned kernel: LSTM layer at 65% of the matmul rate (target >= 70%): MISSED" in lines
    assert "MISSED (GRU layer fwd+bwd 0.90x)" in lines  # the LSTM may be slower with the pinned kernel
