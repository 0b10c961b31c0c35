"""The package surface: `import rnnlab` is light, and every public submodule is an attribute of it."""
import json
import subprocess
import sys

import pytest

import rnnlab

PUBLIC = ["bptt", "checkpoint", "data", "diagnostics", "errors", "experiment", "init", "interop", "layers", "lm",
          "optim", "output", "regularizers", "reference", "sparse", "tasks", "torch_io", "report", "cli"]
HEAVY = ["torch", "matplotlib", "scipy", "pandas"]


def run(code):
    out = subprocess.run([sys.executable, "-c", "import json, sys\n" + code], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)


def test_import_loads_numpy_and_nothing_heavy():
    loaded = run("import rnnlab\n"
                 "top = {m.split('.')[0] for m in sys.modules} - set(sys.stdlib_module_names)\n"
                 "print(json.dumps(sorted(m for m in top if not m.startswith('_'))))")
    assert loaded == ["numpy", "rnnlab"]


def test_every_public_submodule_is_an_attribute_without_importing_torch_or_matplotlib():
    got = run("import importlib, rnnlab\n"
              "names = rnnlab._submodules()\n"
              "same = {n: getattr(rnnlab, n) is importlib.import_module('rnnlab.' + n) for n in names}\n"
              f"print(json.dumps([same, [m for m in {HEAVY!r} if m in sys.modules], dir(rnnlab)]))")
    same, heavy, listed = got
    assert heavy == []
    assert all(same.values()), same
    assert set(PUBLIC) <= set(same) and set(PUBLIC) <= set(listed)
    assert rnnlab.layers.LSTM is rnnlab.LSTM and rnnlab.LanguageModel is rnnlab.lm.LanguageModel


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_module"):
        rnnlab.no_such_module  # noqa: B018
