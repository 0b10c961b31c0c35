"""`.pt` model files: export/import round trips, what the file may hold (weights_only), bad input, and
that rnnlab still imports and works where torch cannot be imported."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnlab import checkpoint
from rnnlab.cli import main
from rnnlab.errors import CheckpointError, ConfigError
from rnnlab.lm import LanguageModel, checkpoint_arrays, load_model
from rnnlab.torch_io import export_model, import_model, load_pt, read_pt, save_pt

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

WORDS = ["<unk>", "<s>", "</s>", "the", "cat", "dog", "sat", "ran", "on", "mat", "a", "big"]
V = len(WORDS)


def vocab_json():
    return {"format": "rnnlab.vocab", "version": 1, "level": "word", "tokens": WORDS,
            "counts": [0, 0, 9] + list(range(20, 20 - (V - 3), -1))}


def make_model_dir(path, **kw):
    """A model directory as `rnnlab train` leaves it (best.npz with model, vocab, data, train)."""
    lm = LanguageModel(V, 6, seed=3, **kw)
    meta = {"model": lm.config.to_dict(), "vocab": vocab_json(), "data": {"train": "corpus.txt", "format": "lines"},
            "train": {"optimizer": "adam", "epochs": 2}}
    checkpoint.save(Path(path) / "best.npz", checkpoint_arrays(lm), meta)
    return lm, meta


def only_plain_types(obj):
    if isinstance(obj, dict):
        return all(isinstance(k, str) and only_plain_types(v) for k, v in obj.items())
    if isinstance(obj, list):
        return all(only_plain_types(v) for v in obj)
    return isinstance(obj, (torch.Tensor, str, int))


@pytest.mark.parametrize("kw", [dict(cell="lstm", embedding_size=4, output="class", num_classes=3,
                                     dtype=np.float64),
                                dict(cell="rnn", nonlinearity="relu", num_layers=2),
                                dict(cell="gru", embedding_size=5)])
def test_export_import_round_trip_is_bitwise(tmp_path, kw):
    lm, meta = make_model_dir(tmp_path / "m", **kw)
    if kw.get("output") == "class":  # a scattered class assignment, which must travel in the file
        lm.output.set_classes(np.random.default_rng(1).permutation(np.arange(V) % 3))
        checkpoint.save(tmp_path / "m" / "best.npz", checkpoint_arrays(lm), meta)
    pt = tmp_path / "m.pt"
    assert main(["export", "--model", str(tmp_path / "m"), "--torch", str(pt)]) == 0
    obj = torch.load(pt, weights_only=True)
    assert only_plain_types(obj) and obj["format"] == "rnnlab-torch"
    assert list(obj["state_dict"]) == list(lm.params)
    cfg = json.loads(obj["config"])
    assert cfg["vocab"] == meta["vocab"] and cfg["data"] == meta["data"] and cfg["train"] == meta["train"]
    assert cfg["model"] == lm.config.to_dict()
    if kw.get("output") == "class":
        assert cfg["class_of_word"] == lm.output.class_of_word.tolist()

    module, m2 = load_pt(pt)
    x = np.random.default_rng(0).integers(0, V, (5, 2))
    with torch.no_grad():
        z, _ = module(torch.from_numpy(x))
    tol = 1e-10 if lm.dtype == np.float64 else 1e-5
    ours = lm.log_probs(x)[0] if lm.config.output == "class" else lm.logits(x)[0]   # what the module returns
    np.testing.assert_allclose(z.numpy(), ours, rtol=tol, atol=tol)

    assert main(["import", "--torch", str(pt), "--out", str(tmp_path / "back")]) == 0
    back = load_model(tmp_path / "back")
    meta2 = checkpoint.read_meta(checkpoint.find_model_file(tmp_path / "back"))
    assert back.config == lm.config
    for k, v in lm.params.items():
        assert back.params[k].dtype == v.dtype
        np.testing.assert_array_equal(back.params[k], v)
    if kw.get("output") == "class":
        np.testing.assert_array_equal(back.output.class_of_word, lm.output.class_of_word)
    for k in ("vocab", "data", "train"):
        assert meta2[k] == meta[k]
    assert meta2["imported_from"] == str(pt.resolve()) and meta2["history"] == []


def test_a_module_trained_in_torch_is_saved_with_its_history_and_imported(tmp_path):
    lm, meta = make_model_dir(tmp_path / "m", cell="lstm", embedding_size=4)
    export_model(tmp_path / "m", tmp_path / "a.pt")
    module, m = load_pt(tmp_path / "a.pt")
    opt = torch.optim.SGD(module.parameters(), lr=0.5)
    x = torch.from_numpy(np.random.default_rng(0).integers(0, V, (6, 3)))
    for _ in range(3):
        opt.zero_grad()
        module.loss(x[:-1], x[1:]).backward()
        opt.step()
    m["history"].append({"tool": "test", "steps": 3})
    save_pt(tmp_path / "b.pt", module, m)
    out = import_model(tmp_path / "b.pt", tmp_path / "back")
    back = load_model(out.parent)
    meta2 = checkpoint.read_meta(checkpoint.find_model_file(out.parent))
    sd = module.state_dict()
    for k, v in back.params.items():
        np.testing.assert_array_equal(v, sd[k].numpy())
    assert not np.array_equal(back.params["decoder.weight"], lm.params["decoder.weight"])
    assert meta2["history"] == [{"tool": "test", "steps": 3}] and meta2["vocab"] == meta["vocab"]


def test_import_refuses_to_overwrite_a_model_unless_forced(tmp_path):
    make_model_dir(tmp_path / "m")
    export_model(tmp_path / "m", tmp_path / "a.pt")
    with pytest.raises(CheckpointError, match="already holds a model"):
        import_model(tmp_path / "a.pt", tmp_path / "m")
    (tmp_path / "m" / "last.npz").write_bytes(b"stale")
    import_model(tmp_path / "a.pt", tmp_path / "m", force=True)
    assert not (tmp_path / "m" / "last.npz").exists()
    load_model(tmp_path / "m")


def corrupt(tmp_path, edit):
    """Write a.pt, let `edit` change the loaded dict, save it again with torch.save."""
    make_model_dir(tmp_path / "m", embedding_size=3)
    export_model(tmp_path / "m", tmp_path / "a.pt")
    obj = torch.load(tmp_path / "a.pt", weights_only=True)
    edit(obj)
    torch.save(obj, tmp_path / "bad.pt")
    return tmp_path / "bad.pt"


def _cfg_edit(f):
    def edit(obj):
        cfg = json.loads(obj["config"])
        f(cfg)
        obj["config"] = json.dumps(cfg)
    return edit


BAD = {
    "missing key": (lambda o: o["state_dict"].pop("decoder.bias"), "missing \\['decoder.bias'\\]"),
    "extra key": (lambda o: o["state_dict"].__setitem__("rnn.weight_ih_l1", torch.zeros(3)), "unexpected"),
    "renamed key": (lambda o: o["state_dict"].__setitem__("decoder.b", o["state_dict"].pop("decoder.bias")),
                    "missing"),
    "shape": (lambda o: o["state_dict"].__setitem__("decoder.bias", torch.zeros(V + 1)), "has shape"),
    "dtype": (lambda o: o["state_dict"].__setitem__("decoder.bias", torch.zeros(V, dtype=torch.float64)),
              "configuration says float32"),
    "nan": (lambda o: o["state_dict"]["decoder.weight"].__setitem__((0, 0), float("nan")), "non-finite"),
    "format": (lambda o: o.__setitem__("format", "something"), "not an rnnlab torch model"),
    "newer": (lambda o: o.__setitem__("format_version", 99), "newer rnnlab"),
    "config json": (lambda o: o.__setitem__("config", "{not json"), "configuration JSON"),
    "no model": (_cfg_edit(lambda c: c.pop("model")), "no 'model' record"),
    "bad model": (_cfg_edit(lambda c: c["model"].__setitem__("cell", "tcn")), "unknown cell"),
    "classes": (_cfg_edit(lambda c: c["model"].__setitem__("output", "class")), "class_of_word"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_files_raise_checkpoint_errors_with_one_line(tmp_path, case, capsys):
    edit, match = BAD[case]
    bad = corrupt(tmp_path, edit)
    with pytest.raises(CheckpointError, match=match):
        load_pt(bad)
    assert main(["import", "--torch", str(bad), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rnnlab import: error:")
    assert not (tmp_path / "x" / "best.npz").exists()


def test_files_that_are_not_ours_raise(tmp_path, capsys):
    with pytest.raises(CheckpointError, match="no torch model file"):
        read_pt(tmp_path / "missing.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable torch file"):
        read_pt(tmp_path / "text.pt")
    torch.save(torch.nn.Linear(2, 2).state_dict(), tmp_path / "plain.pt")  # a bare state_dict
    with pytest.raises(CheckpointError, match="not an rnnlab torch model"):
        read_pt(tmp_path / "plain.pt")
    torch.save(torch.nn.Linear(2, 2), tmp_path / "pickled.pt")  # a pickled module: weights_only refuses it
    with pytest.raises(CheckpointError, match="not a readable torch file"):
        read_pt(tmp_path / "pickled.pt")
    assert main(["import", "--torch", str(tmp_path / "pickled.pt"), "--out", str(tmp_path / "o")]) == 2
    assert main(["export", "--model", str(tmp_path / "nowhere"), "--torch", str(tmp_path / "o.pt")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "does not exist" in err[1]


def test_export_refuses_what_torch_cannot_hold(tmp_path):
    make_model_dir(tmp_path / "m", nonlinearity="sigmoid")
    with pytest.raises(ConfigError, match="sigmoid"):
        export_model(tmp_path / "m", tmp_path / "a.pt")
    assert not (tmp_path / "a.pt").exists()
    module, _ = load_pt(_exported(tmp_path))
    with pytest.raises(ConfigError, match="float16"):
        save_pt(tmp_path / "h.pt", module.half(), {})


def _exported(tmp_path):
    make_model_dir(tmp_path / "ok")
    export_model(tmp_path / "ok", tmp_path / "ok.pt")
    return tmp_path / "ok.pt"


BLOCK_TORCH = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked for this test")
sys.meta_path.insert(0, Block())
"""


def test_rnnlab_works_without_torch(tmp_path):
    """torch is optional: with it blocked, rnnlab imports, trains a step, saves and loads a checkpoint, and
    export says in one line that torch is needed."""
    code = BLOCK_TORCH + f"""
import numpy as np, rnnlab
from rnnlab import checkpoint, torch_io
from rnnlab.cli import main
from rnnlab.optim import make_optimizer
lm = rnnlab.LanguageModel(12, 5, cell="lstm", embedding_size=3)
x = np.random.default_rng(0).integers(0, 12, (6, 2))
loss, grads = lm.loss_and_grads(x[:-1], x[1:])
make_optimizer("adam", 0.01).step(lm.params, grads)
checkpoint.save({str(tmp_path / 'm' / 'best.npz')!r}, rnnlab.lm.checkpoint_arrays(lm), {{"model": lm.config.to_dict()}})
rnnlab.lm.load_model({str(tmp_path / 'm')!r})
assert "torch" not in sys.modules
rc = main(["export", "--model", {str(tmp_path / 'm')!r}, "--torch", {str(tmp_path / 'a.pt')!r}])
assert rc == 2, rc
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().count("\n") == 0 and "PyTorch is not installed" in r.stderr
