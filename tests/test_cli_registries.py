"""The CLI's choices are the library's registries: an entry added to a registry is a choice of the CLI."""
import pytest

import rnnlab.data
import rnnlab.estimators.online
import rnnlab.experiment
import rnnlab.init
import rnnlab.layers
import rnnlab.optim
import rnnlab.output
import rnnlab.tasks
from rnnlab.cli import build_parser


def choices(command, flag):
    sub = build_parser().commands[command]
    action = next(a for a in sub._actions if flag in a.option_strings or a.dest == flag)
    return list(action.choices or []), action.help


def test_choices_are_the_registries():
    assert choices("train", "--cell")[0] == list(rnnlab.layers.LAYERS)
    assert choices("train", "--nonlinearity")[0] == list(rnnlab.layers.NONLINEARITIES)
    assert choices("train", "--output")[0] == list(rnnlab.output.OUTPUTS)
    assert choices("train", "--optimizer")[0] == list(rnnlab.optim.OPTIMIZERS)
    assert choices("train", "--init")[0] == list(rnnlab.init.SCHEMES)
    assert choices("train", "--format")[0] == list(rnnlab.data.FORMATS)
    assert choices("experiment", "--optimizer")[0] == list(rnnlab.optim.OPTIMIZERS)
    assert choices("experiment", "--init")[0] == list(rnnlab.init.SCHEMES)
    online_only = [t for t in rnnlab.estimators.online.ONLINE_TASKS if t not in rnnlab.experiment.TASK_NAMES]
    assert online_only == ["add"]
    assert choices("experiment", "task")[0] == list(rnnlab.experiment.TASK_NAMES) + online_only
    assert build_parser().commands["train"].get_default("forget_bias") == rnnlab.layers.DEFAULT_FORGET_BIAS


def test_a_new_registry_entry_becomes_a_choice(monkeypatch):
    monkeypatch.setitem(rnnlab.layers.LAYERS, "newcell", rnnlab.layers.GRU)
    monkeypatch.setitem(rnnlab.output.OUTPUTS, "newout", rnnlab.output.Softmax)
    monkeypatch.setitem(rnnlab.optim.OPTIMIZERS, "newopt", rnnlab.optim.SGD)
    monkeypatch.setitem(rnnlab.optim.DEFAULT_LR, "newopt", 0.25)
    monkeypatch.setitem(rnnlab.tasks.MODELS, "newmodel", {"cell": "gru", "init": "uniform"})
    monkeypatch.setattr(rnnlab.init, "SCHEMES", rnnlab.init.SCHEMES + ("newinit",))
    monkeypatch.setattr(rnnlab.layers, "NONLINEARITIES", rnnlab.layers.NONLINEARITIES + ("newnl",))
    monkeypatch.setattr(rnnlab.experiment, "TASK_NAMES", rnnlab.experiment.TASK_NAMES + ("newtask",))
    assert "newcell" in choices("train", "--cell")[0]
    assert "newnl" in choices("train", "--nonlinearity")[0]
    assert "newout" in choices("train", "--output")[0]
    opts, lr_help = choices("train", "--optimizer")[0], choices("train", "--lr")[1]
    assert "newopt" in opts and "newopt 0.25" in " ".join(lr_help.split())
    assert "newinit" in choices("train", "--init")[0] and "newinit" in choices("experiment", "--init")[0]
    assert "newopt" in choices("experiment", "--optimizer")[0]
    assert "newtask" in choices("experiment", "task")[0]
    models_help = next(a.help for a in build_parser().commands["experiment"]._actions if a.dest == "models")
    assert "newmodel" in models_help


@pytest.mark.parametrize("case", [("rnn", nl) for nl in rnnlab.layers.NONLINEARITIES] + [("lstm", None), ("gru", None)])
def test_gradcheck_covers_every_cell_and_nonlinearity(capsys, monkeypatch, case):
    import rnnlab.finite_differences as fd
    from rnnlab.cli import main

    seen = []

    class Passed:
        passed, worst = True, 0.0

    monkeypatch.setattr(fd, "layer_gradcheck", lambda kind, nl, **kw: seen.append((kind, nl)) or Passed())
    assert main(["gradcheck"]) == 0
    kind, nl = case
    assert any(k == kind and (nl is None or n == nl) for k, n in seen)
