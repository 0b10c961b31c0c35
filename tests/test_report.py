"""The report: language-model adapter, report.json contents, a self-contained report.html, and the page
opened in headless Chromium (every figure loaded, screenshot not blank)."""
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import rnnlab
from rnnlab.diagnostics import diagnose_cache, diagnose_lm, gradient_by_distance, lm_output_grad
from rnnlab.errors import ConfigError, ShapeError
from rnnlab.report import diagnose_models

pytestmark = pytest.mark.xdist_group("report")

PER_DISTANCE = ["grad_norm_by_distance", "grad_share_by_distance", "weight_grad_by_distance",
                "jacobian_norm_by_distance", "hidden_grad_norm_by_distance"]
REQUIRED = ["distance", "grad_norm_by_distance", "weight_grad_by_distance", "jacobian_norm_by_distance",
            "bound_by_distance", "singular_values", "saturation", "truncation"]


def LM(V, H, cell="rnn", **kw):
    return rnnlab.LanguageModel(V, H, cell=cell, dtype=np.float64, **kw)


def tokens(V, T, B, seed=0):
    seq = np.random.default_rng(seed).integers(0, V, size=(T + 1, B))
    return seq[:-1], seq[1:].copy()


def models(V=12, H=10):
    return [("tanh RNN", LM(V, H, "rnn", seed=1)), ("LSTM", LM(V, H, "lstm", seed=2, embedding_size=5)),
            ("GRU", LM(V, H, "gru", seed=3, num_layers=2, output="class"))]


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    x, y = tokens(12, 14, 3)
    y[-2:, 0] = -1                                    # padding
    logs = {"tanh RNN": [1.0, 1.2, 0.9, 1.1, 1.0, 1.05, 30.0, 1.0, float("nan"), 1.0]}
    report = diagnose_models(models(), x, y, str(out), max_distance=9, training_logs=logs)
    return out, report


def strict_json(path):
    def no_nan(c):
        raise AssertionError(f"non-JSON constant {c} in {path}")
    with open(path) as f:
        return json.load(f, parse_constant=no_nan)


def test_lm_output_grad_is_the_per_token_loss_gradient():
    torch = pytest.importorskip("torch")
    lm = LM(7, 5, "rnn", seed=0)
    x, y = tokens(7, 6, 2)
    y[4:, 1] = -1
    out, _, _ = lm.hidden(x)
    loss_sum, dout = lm_output_grad(lm, out, y)
    h = torch.from_numpy(out).clone().requires_grad_(True)
    logits = h @ torch.from_numpy(lm.params["decoder.weight"]).T + torch.from_numpy(lm.params["decoder.bias"])
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, 7), torch.from_numpy(y.reshape(-1)),
                                           ignore_index=-1, reduction="sum")
    ce.backward()
    assert loss_sum == pytest.approx(ce.item(), rel=1e-12)
    np.testing.assert_allclose(dout, h.grad.numpy(), rtol=1e-10, atol=1e-14)
    assert np.all(dout[4:, 1] == 0)


@pytest.mark.parametrize("output", ["softmax", "class"])
def test_lm_output_grad_reproduces_the_lm_gradients(output):
    """Fed to the stack's backward (over the number of targets), dL_t/dh_t gives LanguageModel's own
    gradients of every recurrent parameter: the adapter sees the loss the model trains on."""
    lm = LM(11, 6, "gru", seed=4, output=output, embedding_size=4)
    x, y = tokens(11, 7, 3, seed=1)
    y[5:, 0] = -1
    loss, grads = lm.loss_and_grads(x, y)
    out, _, cache = lm.hidden(x)
    loss_sum, dout = lm_output_grad(lm, out, y)
    n = int(np.sum(y >= 0))
    assert loss_sum / n == pytest.approx(loss, rel=1e-12)
    _, _, g = lm.layer.backward(cache, dout / n)
    for k in g:
        np.testing.assert_allclose(g[k], grads[f"rnn.{k}"], rtol=1e-10, atol=1e-15)


def test_diagnose_lm_is_diagnose_cache_on_the_lm_gradients():
    lm = LM(9, 6, "lstm", seed=0)
    x, y = tokens(9, 10, 2)
    y[7:, 1] = -1                                            # padding: left out of the means
    r = diagnose_lm(lm, x, y, max_distance=6)
    out, _, cache = lm.hidden(x)
    _, dout = lm_output_grad(lm, out, y)
    prof = gradient_by_distance(lm.layer, cache, dout, 6, mask=y >= 0)[-1]
    np.testing.assert_allclose(r["grad_norm_by_distance"], prof.grad_norm, rtol=1e-12)
    unmasked = gradient_by_distance(lm.layer, cache, dout, 6)[-1]
    assert r["grad_norm_by_distance"][0] > unmasked.grad_norm[0]
    assert r["tokens"] == 17 and r["loss"] > 0
    r2 = diagnose_cache(lm.layer, cache, dout, max_distance=6, mask=y >= 0)
    assert r2["weight_grad_by_distance"] == r["weight_grad_by_distance"]
    assert r2["jacobian_norm_by_distance"] == r["jacobian_norm_by_distance"]


def test_report_json(report_dir):
    out, report = report_dir
    data = strict_json(out / "report.json")
    assert data == json.loads(json.dumps(report))
    for key in REQUIRED:
        assert key in data, key
    assert data["model_names"] == ["tanh RNN", "LSTM", "GRU"]
    assert data["distance"] == list(range(10))
    for m in data["models"]:
        for key in REQUIRED:
            assert key in m, (m["name"], key)
        for key in PER_DISTANCE:
            assert len(m[key]) == 10, (m["name"], key)
        assert set(m["truncation"]) >= {"k", "cosine_to_full", "relative_error"}
        assert len(m["truncation"]["k"]) == len(m["truncation"]["cosine_to_full"]) > 0
        assert m["grad_norm_by_distance"][0] > m["grad_norm_by_distance"][9] > 0
        assert m["jacobian_norm_by_distance"][0] == 1.0
        assert len(m["layers"]) == m["num_layers"]
    rnn, lstm, gru = data["models"]
    assert len(rnn["bound_by_distance"]) == 10 and lstm["bound_by_distance"] is None
    assert list(lstm["singular_values"]) == ["i", "f", "g", "o"] and len(lstm["singular_values"]["f"]) == 10
    assert "mean_forget_gate" in lstm["saturation"] and "mean_update_gate" in gru["saturation"]
    assert lstm["cell_grad_norm_by_distance"][0] == 0.0 and rnn["cell_grad_norm_by_distance"] is None
    for key in REQUIRED:
        assert data[key] == rnn[key]                                   # top level = the first model
    assert data["explosion"]["tanh RNN"]["spikes"] == [6] and data["explosion"]["tanh RNN"]["non_finite"] == [8]
    assert [f["file"] for f in data["figures"]][-1] == "explosion.png"


def test_report_html_is_self_contained(report_dir):
    out, report = report_dir
    page = (out / "report.html").read_text()
    imgs = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(imgs) == len(report["figures"]) == 7
    assert page.count("<figcaption>") == 7
    for f in report["figures"]:
        assert (out / f["file"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f["caption"].endswith(".") and f["caption"].count(". ") == 0   # one sentence
    assert not re.search(r"(src|href)=\"(https?:)?//", page) and "<script" not in page
    for name in report["model_names"]:
        assert name in page


def test_report_errors(tmp_path):
    x, y = tokens(12, 5, 2)
    with pytest.raises(ConfigError):
        diagnose_models([("a", LM(12, 4)), ("a", LM(12, 4))], x, y, str(tmp_path))
    with pytest.raises(ShapeError):
        diagnose_models([("a", LM(12, 4))], x, y[:-1], str(tmp_path))


def test_import_rnnlab_stays_light():
    code = ("import sys, rnnlab, rnnlab.diagnostics, rnnlab.report, rnnlab.cli; "
            "bad = [m for m in ('matplotlib', 'torch') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": os.getcwd()})


# -- the page in a real browser -------------------------------------------------------------------------

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]
CHECK_SCRIPT = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0 && i.naturalHeight > 0; });
  document.body.setAttribute('data-figures', ok.length + '/' + imgs.length);
});
</script>"""


def chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        msg = "chromium not installed (Debian: apt-get install -y chromium)"
        if os.environ.get("RNNLAB_REQUIRE_BROWSER"):
            pytest.fail(msg + " but RNNLAB_REQUIRE_BROWSER is set")
        pytest.skip(msg)
    return exe


def run_chromium(exe, tmp_path, *args):
    cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_report_opens_in_headless_chromium(report_dir, tmp_path):
    exe = chromium()
    out, report = report_dir
    # every figure decoded: a copy of the page with a checking script, its DOM dumped after load
    page = (out / "report.html").read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", CHECK_SCRIPT + "</body>"))
    dom = run_chromium(exe, tmp_path, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    n = len(report["figures"])
    m = re.search(r'data-figures="(\d+)/(\d+)"', dom.stdout)
    assert m, f"page script did not run; chromium said: {dom.stderr[-2000:]}"
    assert (int(m.group(1)), int(m.group(2))) == (n, n)
    # the screenshot of the real page is not blank
    shot = tmp_path / "shot.png"
    res = run_chromium(exe, tmp_path, "--window-size=1200,2400", f"--screenshot={shot}",
                       (out / "report.html").as_uri())
    assert shot.exists(), res.stderr[-2000:]
    import matplotlib.image

    img = matplotlib.image.imread(str(shot))[..., :3]                   # (H, W, 3) floats in [0, 1]
    assert img.shape[:2] == (2400, 1200)
    ink = np.mean(np.any(img < 0.9, axis=-1))
    colour = np.mean(np.ptp(img, axis=-1) > 0.2)                       # plotted lines are coloured
    assert ink > 0.02 and colour > 0.001 and img.std() > 0.05, (ink, colour, img.std())
