"""Checkpoints: one ``.npz`` file each, written atomically, verified on load; no pickle.

This module stores and verifies bytes; it does not build models. A checkpoint file holds named arrays
and a JSON metadata record (``__meta__``, UTF-8 bytes) with a SHA-256 checksum of every array. What the
names mean is the writer's business: the model's ``state_dict`` goes in under ``model/<name>``
(``rnnlab.lm.checkpoint_arrays``; rnnlab 0.2 wrote ``param/<name>`` and ``extra/class_of_word``), the
trainer adds ``opt/<slot>`` (optimiser state), ``carry/<i>`` (a stream's carried state) and
``good/...`` (the last good state a rollback returns to), and the metadata the full configuration, the
vocabulary and the training state. Writing goes to a temporary file in the same directory, which is
flushed, fsync'ed and renamed over the old one, so a crash or ``kill -9`` at any moment leaves either
the old or the new checkpoint, never a torn one.

A model directory (``rnnlab train --out DIR``) holds ``best.npz`` (lowest validation perplexity so far),
``last.npz`` (the latest state, for ``--resume``), ``log.jsonl`` and the report.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ._version import __version__
from .errors import CheckpointError

FORMAT = "rnnlab-checkpoint"
FORMAT_VERSION = 2            # 2: the model under model/<name> (1, rnnlab 0.2: param/<name>, extra/class_of_word)
PARAMETERS = ("model/", "param/", "good/model/")   # floating arrays under these must be finite to be saved


def _checksum(arrays: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(k.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save(path, arrays: dict, meta: dict) -> None:
    """Atomically write ``arrays`` ({name: array}) and the JSON-able ``meta`` as one checkpoint.

    Raises:
        CheckpointError: a floating array under a parameter key (``PARAMETERS``) with a non-finite value
            (a NaN is never saved; the old file stays).
    """
    path = Path(path)
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    for k, v in arrays.items():
        if k.startswith(PARAMETERS) and v.dtype.kind == "f" and not np.all(np.isfinite(v)):
            raise CheckpointError(f"refusing to save a checkpoint with non-finite values in {k.split('/', 1)[1]}")
    record = dict(meta, format=FORMAT, format_version=FORMAT_VERSION, rnnlab_version=__version__,
                  checksum=_checksum(arrays))
    arrays["__meta__"] = np.frombuffer(json.dumps(record).encode(), dtype=np.uint8)
    atomic_write(path, lambda f: np.savez(f, **arrays))


def atomic_write(path, write) -> None:
    """Write a file so that a crash at any moment leaves the old file or the new one, never a torn one:
    ``write(f)`` fills a temporary file in the same directory, which is flushed, fsync'ed and renamed over
    ``path``; the directory is fsync'ed so that the rename itself survives a power cut."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def _open(path):
    """np.load of a checkpoint file, with one-line errors for what is not one."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory, not a checkpoint file; give a model directory with --model")
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as e:
        raise CheckpointError(f"cannot read {path} ({e.strerror}); check its permissions") from None
    if not head:
        raise CheckpointError(f"{path} is empty: it is not a checkpoint (was it cut short?); use another "
                              f"checkpoint or retrain")
    if head[:2] != b"PK":
        raise CheckpointError(f"{path} is not an rnnlab checkpoint (not an .npz archive); give a model directory "
                              f"or a .npz written by rnnlab")
    try:
        return np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        raise CheckpointError(f"{path} is corrupt or truncated ({type(e).__name__}); "
                              f"use another checkpoint or retrain") from None


def _meta_record(path, raw):
    try:
        meta = json.loads(raw.tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(f"{path} has unreadable metadata; it is corrupt") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an rnnlab checkpoint")
    version = meta.get("format_version", 0)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f"{path} was written by a newer rnnlab ({meta.get('rnnlab_version')}, checkpoint "
                              f"format {version}); upgrade rnnlab to read it")
    return meta


def read_meta(path) -> dict:
    """The metadata record of a checkpoint, without reading (or verifying) its arrays."""
    with _open(path) as z:
        if "__meta__" not in z.files:
            raise CheckpointError(f"{path} is not an rnnlab checkpoint (no metadata)")
        try:
            raw = z["__meta__"]
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
            raise CheckpointError(f"{path} is corrupt or truncated ({type(e).__name__}); "
                                  f"use another checkpoint or retrain") from None
    return _meta_record(path, raw)


def load(path):
    """Read and verify a checkpoint: returns (arrays, meta), the arrays keyed as saved.

    Raises:
        CheckpointError: no such file, not a checkpoint, corrupt or truncated, a failed checksum, or
            written by a newer rnnlab.
    """
    path = Path(path)
    with _open(path) as z:
        try:
            arrays = {k: z[k] for k in z.files}
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
            raise CheckpointError(f"{path} is corrupt or truncated ({type(e).__name__}); "
                                  f"use another checkpoint or retrain") from None
    if "__meta__" not in arrays:
        raise CheckpointError(f"{path} is not an rnnlab checkpoint (no metadata)")
    meta = _meta_record(path, arrays.pop("__meta__"))
    if _checksum(arrays) != meta.get("checksum"):
        raise CheckpointError(f"{path} failed its checksum: it is corrupt; use another checkpoint or retrain")
    return arrays, meta


def trim_log(path, step: int, epochs_done: int | None = None) -> int:
    """Make a run's ``log.jsonl`` end where the checkpoint of global step ``step`` ends, before a resume.

    A run killed after its last checkpoint has logged steps that the resumed run will take (and log) again.
    Every record the trainer writes carries the global step at which it was written, so dropped are: the
    records whose ``"step"`` is greater than ``step``; with ``epochs_done`` (the checkpoint's count of
    complete epochs), the records of an epoch completed beyond it (``"event": "epoch"``, ``"complete"``
    true, ``"epoch"`` > ``epochs_done``), which a checkpoint taken at an epoch's last step precedes at
    the same step; and lines that are not JSON (a record cut short by the kill). Records without a step
    (an older rnnlab's) are kept. The file is rewritten with ``atomic_write``, and only when something is
    dropped; a missing file is left missing. Returns the number of lines dropped.
    """
    path = Path(path)
    try:
        lines = path.read_bytes().split(b"\n")
    except FileNotFoundError:
        return 0

    def later(r):
        if not isinstance(r, dict):
            return False
        s = r.get("step")
        if isinstance(s, (int, float)) and not isinstance(s, bool) and s > step:
            return True
        return (epochs_done is not None and r.get("event") == "epoch" and r.get("complete") is True
                and isinstance(r.get("epoch"), int) and r["epoch"] > epochs_done)

    kept = []
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:  # a torn record (JSONDecodeError), or bytes that are not UTF-8
            continue
        if not later(record):
            kept.append(line)
    dropped = sum(1 for line in lines if line.strip()) - len(kept)
    if dropped:
        atomic_write(path, lambda f: f.write(b"".join(line + b"\n" for line in kept)))
    return dropped


def remove_temporaries(directory) -> list[Path]:
    """Delete the temporary files that a save cut short by a crash (``kill -9``) left in ``directory``."""
    removed = []
    for p in Path(directory).glob(".*.npz.*.tmp"):
        try:
            p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed


def find_model_file(model_dir) -> Path:
    """The checkpoint a model directory stands for: best.npz, else last.npz; or the file itself."""
    p = Path(model_dir)
    if p.is_file():
        return p
    if not p.exists():
        raise CheckpointError(f"model directory {p} does not exist")
    for name in ("best.npz", "last.npz"):
        if (p / name).exists():
            return p / name
    raise CheckpointError(f"{p} is not an rnnlab model directory (no best.npz or last.npz); "
                          f"train one with 'rnnlab train --out {p}'")
