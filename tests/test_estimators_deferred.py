"""The deferred estimators (SnAp-1, e-prop, RFLO: the trace's steps processed together; UORO: theta~ kept
as a sum of rank-one terms) against the plain per-step recursions they replace, float64: online, with
the weights changed between gradient calls, and with windows short enough to write the state out
several times within a sequence."""
import numpy as np
import pytest

from rnnlab.estimators import make_estimator
from rnnlab.estimators.jacobians import (
    cell_spec,
    direct_diagonal,
    immediate,
    inputs_u,
    jacobian_diagonal,
    local_vjp,
    state_jvp,
    step_forward,
)
from rnnlab.estimators.uoro import SignStream
from rnnlab.layers import make_layer


def problem(kind, H=5, I=3, T=13, B=2, seed=0):
    layer = make_layer(kind, input_size=I, hidden_size=H, dtype=np.float64, seed=seed)
    rng = np.random.default_rng(seed + 10)
    return layer, rng.standard_normal((T, B, I)), rng.standard_normal((T, B, H))


class PlainTrace:
    """The per-step trace recursion: E = Jd_t E + D_t (x) u_t, gradient += dL_t/dh_t . E[h] every step."""

    def __init__(self, layer, network, leak=1.0):
        self.layer, self.network, self.spec = layer, network, cell_spec(layer, leak)

    def reset(self, B):
        G, H, P = self.spec.gates, self.spec.hidden, self.spec.parts
        K = self.layer.input_size + H + 2
        self.s = np.zeros((B, P * H))
        self.E = np.zeros((P, B, G, H, K))
        self.g = np.zeros((G, H, K))

    def step(self, x_t):
        spec, p = self.spec, self.layer.params
        G, H, P, B = spec.gates, spec.hidden, spec.parts, x_t.shape[0]
        self.s, sv = step_forward(spec, p, x_t, self.s)
        Jd = jacobian_diagonal(spec, sv, p["weight_hh_l0"]) if self.network else direct_diagonal(spec, sv)
        self.E = np.einsum("bqpj,pbgjm->qbgjm", Jd, self.E)
        Di, Dh = (D.reshape(B, G, P, H).transpose(2, 0, 1, 3)[..., None] for D in immediate(spec, sv))
        ui, uh = inputs_u(sv)
        Ki = ui.shape[1]
        self.E[..., :Ki] += Di * ui[None, :, None, None, :]
        self.E[..., Ki:] += Dh * uh[None, :, None, None, :]

    def learn(self, dh):
        self.g += np.einsum("bgjm,bj->gjm", self.E[0], dh)

    def gradient(self):
        g, self.g = self.g, np.zeros_like(self.g)
        return g


class PlainUORO:
    """UORO with theta~ written out and updated at every step (the rho's from its norms), drawing its
    signs as the estimator does (the same sign stream, same seed)."""

    def __init__(self, layer, seed, block):
        self.layer, self.spec = layer, cell_spec(layer)
        self.nu = SignStream(np.random.default_rng(seed), block, np.float64)

    def reset(self, B):
        G, H, P = self.spec.gates, self.spec.hidden, self.spec.parts
        self.st = np.zeros((B, P * H))
        self.s = np.zeros((B, P * H))
        self.theta = np.zeros((B, G * H, self.layer.input_size + H + 2))
        self.g = np.zeros((G * H, self.layer.input_size + H + 2))

    def step(self, x_t):
        spec, p = self.spec, self.layer.params
        self.st, sv = step_forward(spec, p, x_t, self.st)
        s_fwd = state_jvp(spec, sv, p["weight_hh_l0"], self.s)
        nu = self.nu.next((1,) + self.s.shape)[0]
        dgi, dgh, _, _ = local_vjp(spec, sv, nu)
        ui, uh = inputs_u(sv)
        nuM = np.concatenate([dgi[:, :, None] * ui[:, None, :], dgh[:, :, None] * uh[:, None, :]], axis=2)

        def ratio(a, b):
            a, b = np.linalg.norm(a.reshape(len(a), -1), axis=1), np.linalg.norm(b.reshape(len(b), -1), axis=1)
            ok = (a > 0) & (b > 0)
            return np.where(ok, np.sqrt(np.where(ok, a, 1.0) / np.where(ok, b, 1.0)), 1.0)
        rho0, rho1 = ratio(self.theta, s_fwd), ratio(nuM, nu)
        self.s = rho0[:, None] * s_fwd + rho1[:, None] * nu
        self.theta = self.theta / rho0[:, None, None] + nuM / rho1[:, None, None]

    def learn(self, dh):
        H = self.spec.hidden
        self.g += np.einsum("b,bpk->pk", np.einsum("bh,bh->b", self.s[:, :H], dh), self.theta)

    def gradient(self):
        g, self.g = self.g, np.zeros_like(self.g)
        return g


def flat(spec, g):
    """An estimator's gradient dict -> (G H, K) in the plain recursions' layout."""
    return np.concatenate([g["weight_ih_l0"], g["bias_ih_l0"][:, None], g["weight_hh_l0"], g["bias_hh_l0"][:, None]],
                          axis=1)


def run_both(est, ref, layer, x, dout, every, lr=0.05):
    """Online: both see the same steps and signals; every ``every`` steps both hand out their gradients
    and the weights take an SGD step with the estimator's (so later steps run under new weights)."""
    est.reset(x.shape[1])
    ref.reset(x.shape[1])
    pairs = []
    for t in range(x.shape[0]):
        est.step(x[t])
        ref.step(x[t])
        est.learn(dout[t])
        ref.learn(dout[t])
        if (t + 1) % every == 0 or t == x.shape[0] - 1:
            g = est.gradient()
            ours = flat(est.spec, g).reshape(-1)
            pairs.append((ours, ref.gradient().reshape(-1).copy()))
            for k, v in g.items():
                layer.params[k] -= lr * v
    return pairs


def assert_pairs_close(pairs, rtol=1e-12):
    for ours, theirs in pairs:
        assert np.linalg.norm(ours - theirs) <= rtol * np.linalg.norm(theirs), (ours, theirs)


@pytest.mark.parametrize("window", [2, 5, 32])
@pytest.mark.parametrize("every", [1, 4, 13])
@pytest.mark.parametrize("name,kind", [("snap-1", "rnn"), ("snap-1", "lstm"), ("snap-1", "gru"),
                                       ("eprop", "lstm"), ("eprop", "gru"), ("rflo", "rnn")])
def test_deferred_trace_equals_the_per_step_recursion(name, kind, every, window):
    leak = 0.4 if name == "rflo" else 1.0
    layer, x, dout = problem(kind)
    est = make_estimator(name, layer, leak=leak)
    est.window = window
    ref = PlainTrace(layer, network=(name == "snap-1"), leak=leak)
    pairs = run_both(est, ref, layer, x, dout, every)
    assert_pairs_close(pairs)


def test_a_learning_signal_given_twice_or_skipped():
    """learn may be called twice at a step, or not at all: the deferred sums follow the per-step ones."""
    layer, x, dout = problem("lstm")
    est = make_estimator("snap-1", layer)
    est.window = 4
    ref = PlainTrace(layer, network=True)
    est.reset(2)
    ref.reset(2)
    for t in range(x.shape[0]):
        est.step(x[t])
        ref.step(x[t])
        for _ in range(t % 3):          # 0, 1 or 2 signals
            est.learn(dout[t])
            ref.learn(dout[t])
    assert_pairs_close([(flat(est.spec, est.gradient()).reshape(-1), ref.gradient().reshape(-1))])


@pytest.mark.parametrize("kind,leak", [("rnn", 1.0), ("rnn", 0.3), ("lstm", 1.0), ("gru", 1.0)])
def test_step_derivatives_over_stacked_steps_equal_each_steps(kind, leak):
    """immediate, unit_blocks and inputs_u on several steps' saved values stacked (L, B, ·) return each
    step's result stacked: what the deferred trace computes in one call."""
    from rnnlab.estimators.jacobians import self_connections, unit_blocks

    layer, x, _ = problem(kind, T=4)
    spec = cell_spec(layer, leak)
    s, svs = np.zeros((2, spec.parts * spec.hidden)), []
    for t in range(x.shape[0]):
        s, sv = step_forward(spec, layer.params, x[t], s)
        svs.append(sv)
    stacked = {k: np.stack([sv[k] for sv in svs]) for k in svs[0]}
    w = self_connections(spec, layer.params["weight_hh_l0"])
    for ours, each in ((immediate(spec, stacked), [immediate(spec, sv) for sv in svs]),
                       (inputs_u(stacked), [inputs_u(sv) for sv in svs])):
        for part in range(2):
            np.testing.assert_allclose(ours[part], np.stack([e[part] for e in each]), rtol=1e-15, atol=0)
    np.testing.assert_allclose(unit_blocks(spec, stacked, np.broadcast_to(w, (len(svs), 1, w.size))),
                               np.stack([jacobian_diagonal(spec, sv, layer.params["weight_hh_l0"]) for sv in svs]),
                               rtol=1e-15, atol=0)
    np.testing.assert_allclose(unit_blocks(spec, stacked), np.stack([direct_diagonal(spec, sv) for sv in svs]),
                               rtol=1e-15, atol=0)


@pytest.mark.parametrize("window", [2, 5, 32])
@pytest.mark.parametrize("every", [1, 4, 13])
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_deferred_uoro_equals_the_per_step_update(kind, every, window):
    layer, x, dout = problem(kind)
    est = make_estimator("uoro", layer, seed=7)
    est.window = window
    pairs = run_both(est, PlainUORO(layer, seed=7, block=window), layer, x, dout, every)
    assert_pairs_close(pairs, rtol=1e-12)


def test_sign_stream_is_fair_and_continues_across_blocks():
    """Signs are +-1, half each (binomial: within 5 standard deviations), and a stream drawn in blocks
    of 3 steps hands out the blocks' steps in order."""
    s = SignStream(np.random.default_rng(0), 3, np.float32)
    draws = np.stack([s.next((4, 250)) for _ in range(8)])
    assert draws.dtype == np.float32 and set(np.unique(draws)) == {-1.0, 1.0}
    assert abs(draws.sum()) <= 5 * np.sqrt(draws.size)
    assert abs(np.mean(draws[1:] * draws[:-1])) <= 5 / np.sqrt(draws[1:].size)      # steps uncorrelated
    again = SignStream(np.random.default_rng(0), 3, np.float32)
    np.testing.assert_array_equal(np.stack([again.next((4, 250)) for _ in range(8)]), draws)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_deferred_uoro_with_alpha_folded_back_equals_the_per_step_update(kind):
    """alpha (the scale between v = alpha s~ and theta^ = theta~ / alpha) folded back into v and T whenever
    it leaves [1/1.05, 1.05]: the estimate is unchanged. One window for the whole sequence and one gradient
    call at its end, so only a fold writes T out before then (checked: it happened)."""
    layer, x, dout = problem(kind, T=13)
    est = make_estimator("uoro", layer, seed=3)
    est.alpha_bound = 1.05
    ref = PlainUORO(layer, seed=3, block=est.window)
    est.reset(x.shape[1])
    ref.reset(x.shape[1])
    folded = False
    for t in range(x.shape[0]):
        est.step(x[t])
        ref.step(x[t])
        est.learn(dout[t])
        ref.learn(dout[t])
        folded = folded or est.T is not None
    assert folded
    assert_pairs_close([(flat(est.spec, est.gradient()).reshape(-1), ref.gradient().reshape(-1))])
