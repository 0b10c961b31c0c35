"""Checkpoints: round trip, checksum, corruption, truncation, atomic replacement, refusal of NaN."""
import numpy as np
import pytest

from rnnlab import checkpoint
from rnnlab.data import Vocab
from rnnlab.errors import CheckpointError
from rnnlab.lm import LanguageModel, checkpoint_arrays, load_model


def small_vocab(n):
    return Vocab.from_counts({f"w{i}": n - i for i in range(n - 3)}, max_size=n)


def test_round_trip_and_model_loading(tmp_path):
    vocab = small_vocab(30)
    lm = LanguageModel(30, 6, cell="lstm", embedding_size=4, output="class", num_classes=5, dtype=np.float64)
    classes = lm.output.class_of_word[::-1].copy()        # not the default classes: they must travel
    lm.load_state_dict({**lm.state_dict(), "output.class_of_word": classes})
    checkpoint.save(tmp_path / "best.npz", checkpoint_arrays(lm), {"model": lm.config.to_dict(),
                                                                   "vocab": vocab.to_json()})
    lm2 = load_model(tmp_path)
    assert lm2.vocab.tokens == vocab.tokens and lm2.config == lm.config and lm2.config.num_classes == 5
    assert set(lm2.state_dict()) == set(lm.params) | {"output.class_of_word"}
    for k, v in lm.state_dict().items():
        np.testing.assert_array_equal(v, lm2.state_dict()[k])
    np.testing.assert_array_equal(lm2.output.class_of_word, classes)


def test_reads_a_checkpoint_written_by_rnnlab_0_2(tmp_path, monkeypatch):
    """rnnlab 0.2 wrote param/<name>, extra/class_of_word, format 1 and the model's n_classes."""
    lm = LanguageModel(30, 6, cell="gru", output="class", num_classes=4, seed=2)
    arrays = {f"param/{k}": v for k, v in lm.params.items()}
    arrays["extra/class_of_word"] = lm.output.class_of_word
    cfg = lm.config.to_dict()
    cfg["n_classes"] = cfg.pop("num_classes")
    monkeypatch.setattr(checkpoint, "FORMAT_VERSION", 1)
    checkpoint.save(tmp_path / "best.npz", arrays, {"model": cfg})
    monkeypatch.undo()
    back = load_model(tmp_path / "best.npz")
    assert back.vocab is None and back.config == lm.config
    x = np.random.default_rng(0).integers(0, 30, (5, 2))
    np.testing.assert_array_equal(back.log_probs(x)[0], lm.log_probs(x)[0])


def test_internal_errors_keep_their_traceback(tmp_path, monkeypatch):
    """Defect 7: a bug while building the model (here a KeyError) is not reported as a corrupt checkpoint."""
    lm = LanguageModel(10, 3)
    checkpoint.save(tmp_path / "best.npz", checkpoint_arrays(lm), {"model": lm.config.to_dict()})

    def broken(self, state):
        raise KeyError("a bug")

    monkeypatch.setattr(LanguageModel, "load_state_dict", broken)
    with pytest.raises(KeyError, match="a bug"):
        load_model(tmp_path)


def test_corrupt_truncated_and_foreign_files_raise(tmp_path):
    lm = LanguageModel(10, 3)
    path = tmp_path / "last.npz"
    checkpoint.save(path, checkpoint_arrays(lm), {"model": lm.config.to_dict()})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        checkpoint.load(path)
    # flip one byte inside an array: the zip CRC or our checksum catches it
    checkpoint.save(path, checkpoint_arrays(lm), {"model": lm.config.to_dict()})
    data = bytearray(path.read_bytes())
    data[200] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError):
        checkpoint.load(path)
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(CheckpointError, match="not an rnnlab checkpoint"):
        checkpoint.load(tmp_path / "other.npz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="not an rnnlab model directory"):
        load_model(tmp_path / "empty")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "nowhere")


def test_checksum_detects_changed_array(tmp_path):
    import zipfile
    lm = LanguageModel(10, 3)
    path = tmp_path / "m.npz"
    checkpoint.save(path, checkpoint_arrays(lm), {"model": lm.config.to_dict()})
    # rewrite the archive with one parameter changed but the old metadata (valid zip, wrong checksum)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["model/decoder.bias"] = arrays["model/decoder.bias"] + 1
    np.savez(path, **arrays)
    assert zipfile.is_zipfile(path)
    with pytest.raises(CheckpointError, match="checksum"):
        checkpoint.load(path)


def test_refuses_nan_and_leaves_old_checkpoint(tmp_path):
    lm = LanguageModel(10, 3)
    path = tmp_path / "last.npz"
    checkpoint.save(path, checkpoint_arrays(lm), {"model": lm.config.to_dict(), "n": 1})
    bad = checkpoint_arrays(lm)
    bad["model/decoder.bias"] = bad["model/decoder.bias"].copy()
    bad["model/decoder.bias"][0] = np.nan
    with pytest.raises(CheckpointError, match="non-finite"):
        checkpoint.save(path, bad, {"model": lm.config.to_dict(), "n": 2})
    _, meta = checkpoint.load(path)
    assert meta["n"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.npz"]  # no temporary file left behind


def test_config_mismatch_is_a_checkpoint_error(tmp_path):
    lm = LanguageModel(10, 3)
    meta = {"model": dict(lm.config.to_dict(), hidden_size=4)}
    checkpoint.save(tmp_path / "best.npz", checkpoint_arrays(lm), meta)
    with pytest.raises(CheckpointError, match="does not match"):
        load_model(tmp_path)
    meta = {"model": dict(lm.config.to_dict(), flux_capacitor=1)}
    checkpoint.save(tmp_path / "best.npz", checkpoint_arrays(lm), meta)
    with pytest.raises(CheckpointError):
        load_model(tmp_path)
