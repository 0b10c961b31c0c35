"""Small learning checks, one per task: a gated network learns each task at a short length within seconds.
(The long-length comparisons live in docs/REPRODUCTION.md; these only show training works end to end.)"""
import numpy as np

from rnnlab import tasks
from rnnlab.optim import Adam, clip_grad_norm
from rnnlab.regularizers import omega


def test_lstm_solves_the_adding_problem_at_T20():
    r = tasks.train(tasks.make_task("adding", 20), "lstm", seed=0,
                    config=tasks.TrainConfig(hidden_size=32, lr=1e-2, max_steps=1000, eval_every=50))
    assert r["success"], r
    assert r["solved_step"] is not None and r["steps"] < 1000
    assert r["metric"] < 0.05 * r["baseline"] and r["fraction_wrong"] < 0.01 and r["eval_sequences"] == 10_000


def test_gru_solves_temporal_order_at_T20():
    r = tasks.train(tasks.make_task("temporal-order", 20), "gru", seed=0,
                    config=tasks.TrainConfig(hidden_size=32, lr=1e-2, max_steps=500, eval_every=50))
    assert r["success"], r
    assert r["metric"] < 0.2 * r["baseline"]


def test_gru_learns_to_recall_on_the_copy_task():
    # Copying 10 symbols is slow to learn at any delay; check clear progress past the memoryless baseline.
    task = tasks.make_task("copy", 2)
    net = tasks.TaskModel(task, "gru", hidden_size=64, seed=0)
    opt = Adam(1e-2)
    stream = task.batches(50, seed=0)
    for _ in range(400):
        _, g, _ = net.loss_and_grads(next(stream))
        clip_grad_norm(g, 1.0)
        opt.step(net.params, g)
    test = task.sample(500, np.random.default_rng(9))
    o = net.predict(test.x)
    recall = (o[-10:].argmax(-1) == test.y[-10:]).mean()
    assert net.loss(o, test)[0] < 0.9 * task.baseline()
    assert recall > 0.25, recall                   # chance: 1/8


def test_training_with_omega_lowers_omega():
    task = tasks.make_task("adding", 20)
    batch = task.sample(100, np.random.default_rng(5))
    values = {}
    for alpha in (0.0, 1.0):
        net = tasks.TaskModel(task, "rnn-tanh", hidden_size=16, seed=0)
        opt = Adam(3e-3)
        stream = task.batches(20, seed=1)
        for _ in range(150):
            _, g, info = net.loss_and_grads(next(stream), omega=alpha)
            assert (alpha > 0) == ("omega" in info)
            opt.step(net.params, g)
        h, _, cache = net.layer.forward(batch.x)
        o = h[-1] @ net.params["readout.weight"].T + net.params["readout.bias"]
        _, do = net.loss(o, batch)
        dout = np.zeros_like(h)
        dout[-1] = do @ net.params["readout.weight"]
        values[alpha] = omega(net.layer, cache, dout).value
    assert values[1.0] < 0.5 * values[0.0], values


def test_divergence_is_recorded_not_raised():
    cfg = tasks.TrainConfig(hidden_size=8, optimizer="sgd", lr=1e6, clip=None, max_steps=50, eval_sequences=100)
    r = tasks.train(tasks.make_task("adding", 30), "irnn", seed=0, config=cfg)
    assert r["diverged"] and not r["success"] and r["steps"] < 50


def test_task_runs_train_like_the_plain_loop():
    """tasks.train drives the language model's step and inner loop (rnnlab.training); the weights it ends
    with are those of the plain online loop written out here: a fresh batch, the exact gradient, clipping by
    value then norm, one optimiser step."""
    from rnnlab.optim import clip_grads, make_optimizer
    from rnnlab.tasks.model import TaskModel

    task = tasks.make_task("adding", 12)
    cfg = tasks.TrainConfig(hidden_size=6, batch_size=5, optimizer="momentum", lr=0.05, clip=0.5, clip_value=0.02,
                            max_steps=25, eval_sequences=64, stop_when_solved=False)
    rec = tasks.train(task, "gru", seed=3, config=cfg)
    net = TaskModel(task, "gru", hidden_size=6, seed=3)
    opt, stream = make_optimizer("momentum", 0.05), task.batches(5, seed=[3, 1])
    for _ in range(25):
        _, g, _ = net.loss_and_grads(next(stream))
        clip_grads(g, clip_norm=0.5, clip_value=0.02)
        opt.step(net.params, g)
    ref = net.evaluate(64, [3, 3])
    assert rec["steps"] == 25 and not rec["diverged"]
    assert rec["metric"] == ref["loss"]                 # the same operations in the same order
