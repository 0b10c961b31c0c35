"""The fixed learning-rate decay (--lr-decay-after) and best.npz written as a link to last.npz."""
import json
import sys

import numpy as np
import pytest

from rnnlab import checkpoint, train
from rnnlab.errors import ConfigError
from rnnlab.lm import state_from_arrays
from rnnlab.training import loop

sys.path.insert(0, "tests")
from test_train import make  # noqa: E402


def epochs_of(path):
    return [r for r in map(json.loads, open(path / "log.jsonl")) if r["event"] == "epoch"]


def test_lr_decays_after_the_given_epoch(tmp_path):
    tr = make(tmp_path, "run", halve_lr=False, lr_decay_after=2, lr_decay=0.5)
    assert tr.run() == 0
    assert [r["lr"] for r in epochs_of(tmp_path / "run")] == pytest.approx([0.02, 0.01, 0.005, 0.0025])


def test_best_checkpoint_keeps_the_best_epoch(tmp_path, monkeypatch):
    losses = iter([3.0, 2.0, 2.5, 2.6])  # validation improves, then gets worse
    monkeypatch.setattr(loop, "evaluate", lambda lm, batches: {"cross_entropy": next(losses),
                                                                 "perplexity": 1.0, "tokens": 1})
    tr = make(tmp_path, "run", halve_lr=False)
    snapshots = []
    end = tr._end_of_epoch
    monkeypatch.setattr(tr, "_end_of_epoch", lambda *a: (snapshots.append({k: v.copy() for k, v in
                                                                            tr.lm.params.items()}), end(*a))[1])
    assert tr.run() == 0
    arrays, meta_b = checkpoint.load(tmp_path / "run" / "best.npz")
    best = state_from_arrays(arrays)
    arrays, meta_l = checkpoint.load(tmp_path / "run" / "last.npz")
    last = state_from_arrays(arrays)
    for k in best:
        np.testing.assert_array_equal(best[k], snapshots[1][k])      # epoch 2
        np.testing.assert_array_equal(last[k], snapshots[3][k])      # epoch 4
    assert meta_b["state"]["best_valid"] == 2.0 and meta_l["state"]["done"]
    assert not np.array_equal(best["rnn.weight_hh_l0"], last["rnn.weight_hh_l0"])


def test_bad_decay_settings():
    with pytest.raises(ConfigError):
        train.TrainConfig(lr_decay_after=0)
    with pytest.raises(ConfigError):
        train.TrainConfig(lr_decay=1.5)
