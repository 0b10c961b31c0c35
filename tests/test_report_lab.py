"""The report's interactive view ("the lab"): its data against independent NumPy computations (full BPTT
one loss at a time, truncated backward passes, explicit Jacobian products), the training snapshots, and the
page in headless Chromium (no network; the hash chooses the view; DOM values equal NumPy's recomputed from
report.json; real arrow-key presses move t)."""
import json
import math
import re

import numpy as np
import pytest
from cdp import Page, dom_attrs
from test_report import CHROMIUM_FLAGS, chromium, run_chromium

import rnnlab
from rnnlab.bptt import bptt
from rnnlab.diagnostics.diagnose import lm_output_grad
from rnnlab.diagnostics.lab import lab_data, probe_segments
from rnnlab.diagnostics.snapshots import Snapshots, load_snapshots, schedule
from rnnlab.report import diagnose_models

pytestmark = pytest.mark.xdist_group("report")
V = 12


def LM(H, cell, seed, **kw):
    return rnnlab.LanguageModel(V, H, cell=cell, dtype=np.float64, seed=seed, **kw)


def segments(lengths=(7, 9), seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, V, n), rng.integers(0, V, n)) for n in lengths]


def oracle_rows(lm, x, y):
    """||dL_t/dh_s|| for every s <= t of one segment, one loss L_t at a time through full BPTT
    (``rnnlab.bptt``, the training path): dL_t/dh_s = dgh_{s+1} W_hh for s < t (RNN, LSTM)."""
    out, _, cache = lm.hidden(x[:, None])
    _, dout = lm_output_grad(lm, out, y[:, None])
    W = lm.layer.params["weight_hh_l0"]
    T = len(x)
    g = np.full((T, T), np.nan)
    for t in range(T):
        d = np.zeros_like(dout)
        d[t] = dout[t]
        _, dgh, _ = bptt(lm.layer.cell, cache[0], W, d)
        g[t, t] = np.linalg.norm(dout[t])
        for s in range(t):
            g[t, s] = np.linalg.norm(dgh[s + 1, 0] @ W)
    return g, cache, dout


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_lab_gradient_rows_equal_one_loss_at_a_time_bptt(cell):
    lm = LM(5, cell, seed=3)
    segs = segments()
    lab = lab_data(lm, segs)
    assert lab["segments"] == [0, 7] and lab["steps"] == 16
    rows = lab["log10_grad"]["h"]
    assert [len(r) for r in rows] == [t + 1 for t in range(7)] + [t + 1 for t in range(9)]
    mass = np.zeros(16)                   # by lag d, over the whole probe (d < 9 here)
    for (x, y), a in zip(segs, lab["segments"]):
        g, _, _ = oracle_rows(lm, x, y)
        for t in range(len(x)):
            np.testing.assert_allclose(rows[a + t], np.log10(g[t, : t + 1]), atol=0.005 + 1e-12)
        if cell == "rnn":                 # the state is h alone: the mass is the sum of these norms
            for d in range(len(x)):
                mass[d] += np.trace(np.nan_to_num(g), offset=-d)
    if cell == "rnn":
        np.testing.assert_allclose(lab["mass_by_lag"], mass, rtol=5e-6)     # kept to 6 significant digits
    else:
        assert lab["parts"] == ["h", "c"] and [len(r) for r in lab["log10_grad"]["c"]] == [len(r) for r in rows]
        assert all(r[-1] is None for r in lab["log10_grad"]["c"])       # dL_t/dc_t = 0: h_t is the output


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_lab_truncation_cosine_equals_truncated_backward(cell):
    """cosine_by_k[k] is the cosine of the truncate=k gradient of W_hh (summed over the segments, each
    run from a zero state) to the full one, for every k."""
    lm = LM(4, cell, seed=5)
    segs = segments((6, 8), seed=2)
    lab = lab_data(lm, segs)
    runs = []
    for x, y in segs:
        out, _, cache = lm.hidden(x[:, None])
        runs.append((cache, lm_output_grad(lm, out, y[:, None])[1]))

    def grad(k):
        return sum(lm.layer.backward(c, d, truncate=k)[2]["weight_hh_l0"] for c, d in runs).ravel()

    full = grad(None)
    for k in range(lab["steps"]):
        g = grad(k)
        want = g @ full / (np.linalg.norm(g) * np.linalg.norm(full))
        assert lab["cosine_by_k"][k] == pytest.approx(want, abs=2e-6), k
    assert lab["cosine_by_k"][-1] == pytest.approx(1.0)


def test_lab_reach_equals_the_jacobian_products():
    """||ds_t/ds_{t-d}||_2 from explicit products of step Jacobians diag(1 - h^2) W_hh (tanh RNN), and
    the bound's base ||W_hh||_2."""
    lm = LM(4, "rnn", seed=7)
    segs = segments((10,), seed=4)
    lab = lab_data(lm, segs)
    x, _ = segs[0]
    _, _, cache = lm.hidden(x[:, None])
    hs = cache[0]["hs"][:, 0]                                          # (T+1, H), hs[0] = h0
    W = lm.layer.params["weight_hh_l0"]
    assert [r["t"] for r in lab["reach"]] == list(range(10))         # a short probe: every t
    for r in lab["reach"]:
        t = r["t"]
        P = np.eye(4)
        want = [1.0]
        for d in range(1, t + 2):
            P = P @ (np.diag(1 - hs[t - d + 2] ** 2) @ W)
            want.append(np.linalg.norm(P, 2))
        assert r["d"] == list(range(t + 2))
        np.testing.assert_allclose(r["norm"], want, rtol=5e-6)              # kept to 6 significant digits
    assert lab["bound_base"] == pytest.approx(np.linalg.norm(W, 2))


def test_probe_segments_read_as_in_training(tmp_path):
    from rnnlab.data import Vocab, encode_file, stream_batches

    lines = [" ".join([f"w{i % 7}"] * (3 + i % 5)) for i in range(30)]
    vocab = Vocab.from_sentences([s.split() for s in lines], 20)
    path = tmp_path / "t.txt"
    path.write_text("\n".join(lines) + "\n")
    corpus = encode_file(str(path), vocab, cache_dir=None, format="lines")
    segs = probe_segments(corpus, stream=False, n_sentences=3)
    lengths = np.diff(np.asarray(corpus.offsets))
    longest = sorted(np.argsort(-lengths, kind="stable")[:3])
    o = np.asarray(corpus.offsets)
    for (x, y), j in zip(segs, longest):
        words = corpus.tokens[o[j]:o[j + 1]]
        assert x[0] == vocab.bos and list(x[1:]) == list(words) and list(y) == list(words) + [vocab.eos]
    (x, y), = probe_segments(corpus, stream=True, max_steps=20)
    xs, ys = next(iter(stream_batches(corpus, 1, chunk=20)))
    assert list(x) == list(xs[:, 0]) and list(y) == list(ys[:, 0])


def test_snapshot_schedule_and_files(tmp_path):
    assert schedule(2500, 6) == [0, 78, 156, 312, 625, 1250]
    assert schedule(3, 6) == [0, 1] and schedule(0) == []
    segs = segments((5,))
    snaps = Snapshots(tmp_path, segs, total_steps=8, max_snapshots=3)
    lm = LM(3, "rnn", seed=0)
    assert [snaps.maybe(s, lm, epoch=0) for s in range(8)] == [True, False, True, False, True, False, False, False]
    saved = load_snapshots(tmp_path)
    assert [s["step"] for s in saved] == [0, 2, 4]
    assert saved[0]["log10_grad"] == lab_data(lm, segs)["log10_grad"]
    again = Snapshots(tmp_path, segs, total_steps=8, max_snapshots=3)   # a resumed run keeps them
    again.maybe(2, lm)                                                  # ... and drops those after its step
    assert [s["step"] for s in load_snapshots(tmp_path)] == [0, 2]


def test_training_writes_snapshots_and_the_report_steps_through_them(tmp_path):
    from rnnlab.pipeline import DataConfig, train_language_model
    from rnnlab.report.models import diagnose_model_dirs
    from rnnlab.train import TrainConfig

    text = tmp_path / "t.txt"
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(9)]
    text.write_text("\n".join(" ".join(rng.choice(words, rng.integers(3, 9))) for _ in range(60)) + "\n")
    out = tmp_path / "m"
    train_language_model(DataConfig(train=str(text), format="lines"), {"hidden_size": 6, "cell": "lstm"},
                         TrainConfig(optimizer="adam", lr=0.01, epochs=2, batch_size=8), out, log=lambda *a: None,
                         progress=False, report=False)
    snaps = load_snapshots(out)
    n_batches = -(-57 // 8)                                   # 95% of 60 sentences train (the rest validate)
    assert [s["step"] for s in snaps] == schedule(2 * n_batches)
    report = diagnose_model_dirs([out], tmp_path / "r", log=lambda *a: None)
    lab = report["models"][0]["lab"]
    assert [f["step"] for f in lab["frames"]] == [s["step"] for s in snaps] + [2 * n_batches]
    assert lab["valid_loss"] is not None and lab["mode"] == "sentences"
    final = lab["frames"][-1]
    assert final["words"][0] == "<s>" and "sentence" in lab["text"]


# -- the page in headless Chromium ----------------------------------------------------------------------

NO_NETWORK = ["--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-bypass-list=<-loopback>"]
NAMES = ["tanh RNN", "LSTM #2"]


@pytest.fixture(scope="module")
def lab_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("labreport")
    rng = np.random.default_rng(1)
    x = rng.integers(0, V, (12, 2))
    y = rng.integers(0, V, (12, 2))
    models = [(NAMES[0], LM(6, "rnn", seed=1)), (NAMES[1], LM(5, "lstm", seed=2))]
    report = diagnose_models(models, x, y, str(out), max_distance=6, probe=segments((9, 13), seed=3))
    return out, report


def dump(exe, tmp_path, out, fragment):
    url = (out / "report.html").as_uri() + fragment
    res = run_chromium(exe, tmp_path, *NO_NETWORK, "--virtual-time-budget=5000", "--dump-dom", url)
    assert "tok" in res.stdout, res.stderr[-2000:]
    return res.stdout


def expected_rows(report, name):
    lab = next(m["lab"] for m in report["models"] if m["name"] == name)
    return lab["frames"][-1]


def expect_log10g(frame, t, s, part="h"):
    """What data-log10g must hold, recomputed from report.json: '' after t, -inf across segments."""
    if s > t:
        return None
    starts = frame["segments"]
    a = max(b for b in starts if b <= t)
    if s < a:
        return -math.inf
    v = frame["log10_grad"][part][t][s - a]
    return -math.inf if v is None else v


def test_page_is_offline_and_self_contained(lab_report):
    out, _ = lab_report
    page = (out / "report.html").read_text()
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    script = page[page.index("<script>"):]
    for word in ("fetch(", "XMLHttpRequest", "import(", "WebSocket", "http://", "https://"):
        assert word not in script.replace("http://www.w3.org/2000/svg", ""), word


def test_hash_chooses_t_and_dom_equals_numpy(lab_report, tmp_path):
    exe = chromium()
    out, report = lab_report
    data = json.loads((out / "report.json").read_text())
    for t, k in ((4, None), (15, 3), (9, 0)):
        frag = f"#model={NAMES[1].replace(' ', '%20').replace('#', '%23')}&t={t}" + ("" if k is None else f"&k={k}")
        dom = dump(exe, tmp_path, out, frag)
        toks = dom_attrs(dom, "tok")
        assert len(toks) == 2 * 22
        for name in NAMES:
            frame = expected_rows(data, name)
            mine = [a for a in toks if a["data-model"] == name]
            assert [int(a["data-t"]) for a in mine] == list(range(22))
            for a in mine:
                s = int(a["data-t"])
                want = expect_log10g(frame, t, s)
                if want is None:
                    assert a["data-log10g"] == "", (name, t, s)
                else:
                    assert float(a["data-log10g"]) == want, (name, t, s, a["data-log10g"], want)
                assert ("cut" in a["class"].split()) == (k is not None and want is not None and want > -math.inf
                                                         and t - s > k)
            # the truncation numbers: NumPy from the per-lag sums in report.json
            kk = frame["steps"] - 1 if k is None else k
            mass = np.asarray(frame["mass_by_lag"])
            sec = dom[dom.index(f'data-model="{name}"'):]
            dropped = float(re.search(r'class="mass-dropped" data-value="([^"]+)"', sec).group(1))
            assert dropped == pytest.approx(1 - mass[: kk + 1].sum() / mass.sum(), abs=2e-6)
            cos = float(re.search(r'class="cosine" data-value="([^"]+)"', sec).group(1))
            assert cos == pytest.approx(frame["cosine_by_k"][kk], abs=1e-6)
            # the reach panel: the measured position and the memory length (< 1e-3 of d = 0)
            svg = next(a for a in dom_attrs(dom, "reach") if a["data-model"] == name)
            r = next(q for q in frame["reach"] if q["t"] == t)
            assert int(svg["data-t"]) == t
            below = [d for d, v in zip(r["d"], r["norm"]) if v is not None and v < 1e-3 * r["norm"][0]]
            assert svg["data-memory"] == (str(below[0]) if below else "")
        focus = [a for a in dom_attrs(dom, "lab-model") if "focus" in a["class"].split()]
        assert [a["data-model"] for a in focus] == [NAMES[1]]


def test_the_lstm_switch_colours_by_c_and_keeps_data_log10g_h(lab_report, tmp_path):
    exe = chromium()
    out, _ = lab_report
    data = json.loads((out / "report.json").read_text())
    frame = expected_rows(data, NAMES[1])
    dom = dump(exe, tmp_path, out, "#model=tanh%20RNN&t=15&part=c")
    toks = [a for a in dom_attrs(dom, "tok") if a["data-model"] == NAMES[1]]
    for a in toks:
        s = int(a["data-t"])
        for attr, part in (("data-log10g", "h"), ("data-log10g-c", "c")):
            want = expect_log10g(frame, 15, s, part)
            assert (a[attr] == "") if want is None else (float(a[attr]) == want), (attr, s)
    rnn = [a for a in dom_attrs(dom, "tok") if a["data-model"] == NAMES[0]]
    assert all("data-log10g-c" not in a for a in rnn)


def test_lab_refuses_padded_probes():
    from rnnlab.errors import ConfigError, ShapeError

    lm = LM(3, "rnn", seed=0)
    with pytest.raises(ConfigError):
        lab_data(lm, [(np.array([1, 2]), np.array([3, -1]))])
    with pytest.raises(ShapeError):
        lab_data(lm, [(np.array([1, 2]), np.array([3]))])


def test_without_a_hash_no_token_is_chosen(lab_report, tmp_path):
    exe = chromium()
    out, _ = lab_report
    toks = dom_attrs(dump(exe, tmp_path, out, ""), "tok")
    assert toks and all("data-log10g" not in a for a in toks)


def test_arrow_keys_move_t(lab_report, tmp_path):
    exe = chromium()
    out, report = lab_report
    url = (out / "report.html").as_uri() + "#model=tanh%20RNN&t=5"
    page = Page(exe, url, str(tmp_path / "cdp-profile"), [*CHROMIUM_FLAGS, *NO_NETWORK])
    try:
        page.wait_for("document.querySelectorAll('.tok[data-log10g]').length > 0")
        chosen = "document.querySelector('.tok.cur[data-model=\"tanh RNN\"]').getAttribute('data-t')"
        assert page.evaluate(chosen) == "5"
        page.key("ArrowRight")
        page.key("ArrowRight")
        assert page.evaluate(chosen) == "7"
        assert page.evaluate("location.hash") == "#model=tanh%20RNN&t=7"
        page.key("ArrowLeft")
        assert page.evaluate(chosen) == "6"
        frame = expected_rows(report, NAMES[0])
        got = page.evaluate("Array.from(document.querySelectorAll('.tok[data-model=\"tanh RNN\"]'))"
                            ".map(e => e.getAttribute('data-log10g'))")
        assert [None if g == "" else float(g) for g in got] == [expect_log10g(frame, 6, s) for s in range(22)]
        # a click pins another token; a second click on it unpins
        page.evaluate("document.querySelector('.tok[data-model=\"LSTM #2\"][data-t=\"12\"]').click()")
        assert page.evaluate("location.hash") == "#model=LSTM%20%232&t=12"
    finally:
        page.close()


def test_read_events_gives_steps(tmp_path):
    from rnnlab.report.model_lab import read_events

    log = tmp_path / "log.jsonl"
    recs = [{"event": "epoch", "grad_norm": 1.0 + 0.01 * i, "step": 10 * (i + 1)} for i in range(8)]
    recs[5]["grad_norm"] = 50.0                                          # a spike: over 10x the median
    recs.insert(3, {"event": "nonfinite", "grad_norm": "nan", "loss": "nan", "step": 33})
    recs.insert(4, {"event": "rollback", "step": 35, "lr": 0.1})
    log.write_text("\n".join(json.dumps(r) for r in recs) + "\n{cut short")
    assert read_events(log) == [{"step": 33, "kind": "nonfinite"}, {"step": 35, "kind": "rollback"},
                                {"step": 60, "kind": "spike"}]


def test_training_slider_and_event_marks(tmp_path):
    """Frames at steps 0, 10, 20 (a model changed in between) and an event at step 12: the hash step=S
    shows the nearest frame, and a click on the event's mark jumps to the snapshot nearest to it."""
    from rnnlab.report import write_report

    exe = chromium()
    lm = LM(5, "rnn", seed=4)
    segs = segments((8,), seed=6)
    frames = []
    for step in (0, 10, 20):
        frames.append(dict(lab_data(lm, segs), step=step, label=f"after {step} steps"))
        lm.layer.params["weight_hh_l0"] *= 1.5                          # in place: the model changes
    lab = {"cell": "rnn", "text": "a probe", "valid_loss": 2.5, "frames": frames,
           "events": [{"step": 12, "kind": "spike"}]}
    tokens = (np.zeros((4, 1), np.int64), np.ones((4, 1), np.int64))
    from rnnlab.diagnostics import diagnose_lm

    write_report([("m", diagnose_lm(lm, *tokens, max_distance=2))], tmp_path / "r", labs=[("m", lab)])
    out = tmp_path / "r"
    for frag, want in (("#model=m&t=6&step=3", 0), ("#model=m&t=6&step=16", 20), ("#model=m&t=6", 20)):
        toks = [a for a in dom_attrs(dump(exe, tmp_path, out, frag), "tok")]
        assert [float(a["data-log10g"]) for a in toks[:7]] == frames[want // 10]["log10_grad"]["h"][6], frag
    page = Page(exe, (out / "report.html").as_uri() + "#model=m&t=6", str(tmp_path / "cdp"),
                [*CHROMIUM_FLAGS, *NO_NETWORK])
    try:
        page.wait_for("document.querySelectorAll('.tok[data-log10g]').length > 0")
        marks = page.evaluate("Array.from(document.querySelectorAll('#lab-timeline .event'))"
                              ".map(e => e.getAttribute('data-step'))")
        assert marks == ["12"]
        page.evaluate("document.querySelector('#lab-timeline .event').dispatchEvent(new MouseEvent('click'))")
        assert page.evaluate("location.hash") == "#model=m&t=6&step=10"
        got = page.evaluate("Array.from(document.querySelectorAll('.tok')).slice(0, 7)"
                            ".map(e => +e.getAttribute('data-log10g'))")
        assert got == frames[1]["log10_grad"]["h"][6]
        assert "after 10 steps" in page.evaluate("document.querySelector('.lab-info').textContent")
    finally:
        page.close()


def test_a_snapshot_of_a_blown_up_model_is_valid_json(tmp_path):
    from rnnlab.diagnostics.snapshots import save_snapshots, take_snapshot

    lm = LM(4, "rnn", seed=0)
    for k in lm.params:
        lm.params[k] *= 1e307                                           # overflows to inf in the forward pass
    snap = take_snapshot(lm, segments((6,)), step=3)
    assert snap["mass_by_lag"][0] is None and snap["cosine_by_k"][0] is None
    lm.params["decoder.bias"][0] = np.nan                               # and a NaN: the losses are NaN
    nan = take_snapshot(lm, segments((6,)), step=4)
    assert nan["loss"] is None and None in nan["loss_by_t"]
    save_snapshots(tmp_path, [snap, nan])                                # json.dump(allow_nan=False) accepts them
    assert [s["step"] for s in load_snapshots(tmp_path)] == [3, 4]
