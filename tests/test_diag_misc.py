"""Recurrent spectrum, saturation, truncation bias, explosion events: exact constructed cases."""
import numpy as np
import pytest

import rnnlab
from rnnlab.diagnostics import default_ks, explosion_events, recurrent_spectrum, saturation, truncation_bias
from rnnlab.errors import ConfigError
from rnnlab.init import orthogonal


def test_spectrum_per_gate():
    H = 4
    layer = rnnlab.LSTM(3, H, dtype=np.float64, seed=0)
    rng = np.random.default_rng(0)
    scales = [0.5, 1.0, 2.0, 3.0]
    layer.params["weight_hh_l0"][:] = np.concatenate([s * orthogonal(rng, H, H) for s in scales])
    sp = recurrent_spectrum(layer)[0]
    assert list(sp) == ["i", "f", "g", "o"]
    for v, s in zip(sp.values(), scales):
        np.testing.assert_allclose(v["singular_values"], [s] * H, rtol=1e-12)
        assert v["spectral_radius"] == pytest.approx(s, rel=1e-12) and v["norm"] == pytest.approx(s, rel=1e-12)
    # a non-normal matrix: radius 0 (nilpotent) but norm 2
    rnn = rnnlab.RNN(2, 2, dtype=np.float64, num_layers=2)
    rnn.params["weight_hh_l1"][:] = [[0.0, 2.0], [0.0, 0.0]]
    sp = recurrent_spectrum(rnn)
    assert len(sp) == 2 and list(sp[1]) == ["h"]
    assert sp[1]["h"]["spectral_radius"] == 0.0 and sp[1]["h"]["singular_values"] == [2.0, 0.0]
    assert list(recurrent_spectrum(rnnlab.GRU(2, 3))[0]) == ["r", "z", "n"]


def test_saturation_fractions():
    H, T, B = 4, 5, 2
    layer = rnnlab.RNN(2, H, dtype=np.float64)
    hs = np.zeros((T + 1, B, H))
    hs[1:, :, 0] = 0.995     # saturated
    hs[1:, :, 1] = -0.999    # saturated
    hs[1:, :, 2] = 0.98      # not
    assert saturation(layer, [{"hs": hs}])[0] == {"tanh_saturated": 0.5}
    relu = rnnlab.RNN(2, H, nonlinearity="relu")
    hr = np.zeros((T + 1, B, H))
    hr[1:] = [0.5, 0.0, 2.0, 0.0]    # units 1 and 3 dead
    assert saturation(relu, [{"hs": hr}])[0] == {"relu_dead": 0.5}
    lstm = rnnlab.LSTM(2, 2)
    gates = np.empty((T, B, 8))
    gates[..., 0:2] = [0.005, 0.5]   # i: one near 0
    gates[..., 2:4] = [0.995, 1.0]   # f: both near 1
    gates[..., 4:6] = [0.999, 0.0]   # g (tanh): one saturated
    gates[..., 6:8] = [0.3, 0.4]     # o: none
    s = saturation(lstm, [{"gates": gates, "tanh_c": np.full((T, B, 2), 0.5)}])[0]
    assert s["gates"]["i"] == {"near_0": 0.5, "near_1": 0.0, "saturated": 0.5, "mean": pytest.approx(0.2525)}
    assert s["gates"]["f"]["near_1"] == 1.0 and s["mean_forget_gate"] == pytest.approx(0.9975)
    assert s["gates"]["g"]["saturated"] == 0.5 and s["gates"]["o"]["saturated"] == 0.0
    assert s["tanh_saturated"] == 0.0
    gru = rnnlab.GRU(2, 2)
    g3 = np.full((T, B, 6), 0.5)
    g3[..., 2] = 0.999       # z near 1 for unit 0
    s = saturation(gru, [{"gates": g3}])[0]
    assert s["gates"]["z"]["near_1"] == 0.5 and s["mean_update_gate"] == pytest.approx((0.999 + 0.5) / 2)


def test_saturation_reads_a_real_cache():
    layer = rnnlab.RNN(3, 6, dtype=np.float64, seed=0)
    layer.params["weight_ih_l0"] *= 50.0
    _, _, cache = layer.forward(np.random.default_rng(0).standard_normal((10, 4, 3)))
    frac = saturation(layer, cache)[0]["tanh_saturated"]
    assert frac == np.mean(np.abs(cache[0]["hs"][1:]) > 0.99) and frac > 0.5


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_truncation_bias(kind):
    rng = np.random.default_rng(0)
    layer = rnnlab.make_layer(kind, 3, 4, num_layers=2, dtype=np.float64, seed=1)
    T = 9
    x = rng.standard_normal((T, 2, 3))
    dout = rng.standard_normal((T, 2, 4))
    _, _, cache = layer.forward(x)
    r = truncation_bias(layer, cache, dout, ks=[0, 3, T - 1, T + 4])
    _, _, full = layer.backward(cache, dout)
    g = np.concatenate([full[k].ravel() for k in layer.params])
    for k, cos, rel, ratio in zip(r["k"], r["cosine_to_full"], r["relative_error"], r["norm_ratio"]):
        _, _, gk = layer.backward(cache, dout, truncate=k)
        v = np.concatenate([gk[n].ravel() for n in layer.params])
        assert cos == pytest.approx(v @ g / np.linalg.norm(v) / np.linalg.norm(g), rel=1e-12)
        assert rel == pytest.approx(np.linalg.norm(v - g) / np.linalg.norm(g), rel=1e-12, abs=1e-15)
        assert ratio == pytest.approx(np.linalg.norm(v) / np.linalg.norm(g), rel=1e-12)
    assert r["cosine_to_full"][0] < 0.999 and r["relative_error"][0] > 1e-3
    assert r["cosine_to_full"][2] == pytest.approx(1.0, abs=1e-14) and r["relative_error"][3] < 1e-14
    assert default_ks(10) == [0, 1, 2, 4, 8] and default_ks(10, 3) == [0, 1, 2] and default_ks(1) == []


def test_explosion_events():
    rng = np.random.default_rng(0)
    g = list(1.0 + 0.1 * rng.standard_normal(100))
    g[30] = 50.0                  # spike
    g[31] = 1.0
    g[60] = float("nan")
    g[61] = float("inf")
    g[62] = None                  # a JSON log's NaN
    g[80] = 9.0                   # below factor 10: not a spike
    g[2] = 100.0                  # too little history: not judged
    ev = explosion_events(g, window=20, factor=10.0, min_history=5)
    assert ev["steps"] == 100 and ev["spikes"] == [30] and ev["non_finite"] == [60, 61, 62]
    assert ev["spike_ratio"][0] == pytest.approx(50.0 / np.median(g[10:30]))
    assert ev["max"] == 100.0 and ev["median"] == pytest.approx(np.median([v for v in g if v is not None
                                                                           and np.isfinite(v)]))
    # two spikes in a row: the median ignores the first, so the second is flagged too
    h = [1.0] * 30 + [40.0, 45.0] + [1.0] * 5
    assert explosion_events(h)["spikes"] == [30, 31]
    assert explosion_events([]) == {"steps": 0, "non_finite": [], "spikes": [], "spike_ratio": [],
                                    "median": None, "max": None}
    with pytest.raises(ConfigError):
        explosion_events([1.0], factor=1.0)
