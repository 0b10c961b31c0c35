"""Checkpoints: round trip, checksum, corruption, truncation, atomic replacement, refusal of NaN."""
import numpy as np
import pytest

from rnnlab import checkpoint
from rnnlab.errors import CheckpointError
from rnnlab.lm import LanguageModel


def test_round_trip_and_model_loading(tmp_path):
    lm = LanguageModel(30, 6, cell="lstm", embedding_size=4, output="class", n_classes=5, dtype=np.float64)
    meta = {"model": lm.config.to_dict(), "vocab": {"tokens": ["a"]}}
    checkpoint.save(tmp_path / "best.npz", lm.params, meta, {"extra/class_of_word": lm.output.class_of_word})
    lm2, meta2 = checkpoint.load_model(tmp_path)
    assert meta2["vocab"] == {"tokens": ["a"]}
    for k in lm.params:
        np.testing.assert_array_equal(lm.params[k], lm2.params[k])
    np.testing.assert_array_equal(lm2.output.class_of_word, lm.output.class_of_word)


def test_corrupt_truncated_and_foreign_files_raise(tmp_path):
    lm = LanguageModel(10, 3)
    path = tmp_path / "last.npz"
    checkpoint.save(path, lm.params, {"model": lm.config.to_dict()})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        checkpoint.load(path)
    # flip one byte inside an array: the zip CRC or our checksum catches it
    checkpoint.save(path, lm.params, {"model": lm.config.to_dict()})
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
        checkpoint.load_model(tmp_path / "empty")
    with pytest.raises(CheckpointError, match="does not exist"):
        checkpoint.load_model(tmp_path / "nowhere")


def test_checksum_detects_changed_array(tmp_path):
    import zipfile
    lm = LanguageModel(10, 3)
    path = tmp_path / "m.npz"
    checkpoint.save(path, lm.params, {"model": lm.config.to_dict()})
    # rewrite the archive with one parameter changed but the old metadata (valid zip, wrong checksum)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["param/decoder.bias"] = arrays["param/decoder.bias"] + 1
    np.savez(path, **arrays)
    assert zipfile.is_zipfile(path)
    with pytest.raises(CheckpointError, match="checksum"):
        checkpoint.load(path)


def test_refuses_nan_and_leaves_old_checkpoint(tmp_path):
    lm = LanguageModel(10, 3)
    path = tmp_path / "last.npz"
    checkpoint.save(path, lm.params, {"model": lm.config.to_dict(), "n": 1})
    bad = dict(lm.params)
    bad["decoder.bias"] = bad["decoder.bias"].copy()
    bad["decoder.bias"][0] = np.nan
    with pytest.raises(CheckpointError, match="non-finite"):
        checkpoint.save(path, bad, {"model": lm.config.to_dict(), "n": 2})
    _, meta, _ = checkpoint.load(path)
    assert meta["n"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.npz"]  # no temporary file left behind


def test_config_mismatch_is_a_checkpoint_error(tmp_path):
    lm = LanguageModel(10, 3)
    meta = {"model": dict(lm.config.to_dict(), hidden_size=4)}
    checkpoint.save(tmp_path / "best.npz", lm.params, meta)
    with pytest.raises(CheckpointError, match="does not match"):
        checkpoint.load_model(tmp_path)
    meta = {"model": dict(lm.config.to_dict(), flux_capacitor=1)}
    checkpoint.save(tmp_path / "best.npz", lm.params, meta)
    with pytest.raises(CheckpointError):
        checkpoint.load_model(tmp_path)
