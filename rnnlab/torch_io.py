"""Model files for PyTorch: an rnnlab model as a ``.pt`` file that torch trains on, and back.

A ``.pt`` file written here is a plain dict that ``torch.load(path, weights_only=True)`` reads (tensors,
strings and ints only; no pickled classes):

    {"format": "rnnlab-torch", "format_version": 1, "rnnlab_version": "0.x",
     "state_dict": {"encoder.weight": Tensor, "rnn.weight_ih_l0": Tensor, ..., "decoder.bias": Tensor},
     "config": '{"model": {...ModelConfig...}, "vocab": {...Vocab JSON...}, "data": {...DataConfig...},
                 "class_of_word": [0, 0, 1, ...] or null, "train": {...} or null, "history": [...]}'}

The state_dict keys are ``LanguageModel.params``' keys (torch's own names), so the file loads into
``TorchLanguageModel`` (``load_pt``) or any module built the same way. ``history`` lists what happened to
the model outside rnnlab (e.g. the distributed runs of ``examples/distributed_train.py``).

    export_model("runs/lm", "lm.pt")          # rnnlab export --model runs/lm --torch lm.pt
    module, meta = load_pt("lm.pt")           # TorchLanguageModel, {"model", "vocab", "data", ...}
    save_pt("lm2.pt", module, meta)           # after training it in torch
    import_model("lm2.pt", "runs/lm2")        # rnnlab import --torch lm2.pt --out runs/lm2
"""
from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

from . import checkpoint
from ._version import __version__
from .errors import CheckpointError, ConfigError
from .lm import checkpoint_arrays, load_model

FORMAT = "rnnlab-torch"
FORMAT_VERSION = 1
CONFIG_KEYS = ("model", "vocab", "data", "class_of_word", "train", "history")


def _torch():
    from .interop import _torch as get
    return get()


# -- writing -------------------------------------------------------------------------------------------


def _module_config(module, meta: dict) -> dict:
    """The JSON configuration of a TorchLanguageModel (dtype read off its parameters)."""
    torch = _torch()
    dt = module.decoder.weight.dtype
    if dt not in (torch.float32, torch.float64):
        raise ConfigError(f"rnnlab models are float32 or float64, this module is {dt}; call .float() first")
    model = dict(module.config, dtype="float64" if dt == torch.float64 else "float32")
    cw = module.class_of_word.cpu().tolist() if hasattr(module, "class_of_word") else None
    cfg = {"model": model, "vocab": meta.get("vocab"), "data": meta.get("data"), "class_of_word": cw,
           "train": meta.get("train"), "history": list(meta.get("history") or [])}
    json.dumps(cfg)  # fail here, not in a half-written file, if meta holds something JSON cannot
    return cfg


def save_pt(path, model, meta: dict | None = None) -> None:
    """Write ``model`` (an rnnlab LanguageModel, a TorchLanguageModel, or one wrapped in DDP) to ``path``.

    ``meta`` supplies "vocab" (Vocab JSON), "data" (DataConfig dict), "train" and "history"; the model
    configuration and classes come from the model. Written atomically (temporary file, then rename).
    """
    torch = _torch()
    from .interop import lm_to_torch, unwrap

    if hasattr(model, "params") and hasattr(model, "config"):  # an rnnlab LanguageModel
        module = lm_to_torch(model)
    else:
        module = unwrap(model)
        if not hasattr(module, "to_rnnlab"):
            raise ConfigError(f"cannot save a {type(module).__name__}: expected an rnnlab LanguageModel or "
                              f"a TorchLanguageModel")
    cfg = _module_config(module, meta or {})
    sd = {k: v.detach().cpu().clone().contiguous() for k, v in module.state_dict().items()}
    bad = [k for k, v in sd.items() if not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(f"refusing to save a model with non-finite values in {', '.join(bad)}")
    obj = {"format": FORMAT, "format_version": FORMAT_VERSION, "rnnlab_version": __version__,
           "state_dict": sd, "config": json.dumps(cfg)}
    checkpoint.atomic_write(path, lambda f: torch.save(obj, f))


# -- reading -------------------------------------------------------------------------------------------


def read_pt(path):
    """(state_dict, config) of a file written by ``save_pt``, checked; CheckpointError otherwise."""
    torch = _torch()
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no torch model file at {path}" + (" (it is a directory)" if path.is_dir() else ""))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError,
            KeyError, IndexError, AttributeError, TypeError) as e:
        first = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path} is not a readable torch file of rnnlab's ({first}); "
                              f"write one with 'rnnlab export'") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an rnnlab torch model (no format '{FORMAT}'); "
                              f"write one with 'rnnlab export' or rnnlab.torch_io.save_pt")
    if not isinstance(obj.get("format_version"), int) or obj["format_version"] > FORMAT_VERSION:
        raise CheckpointError(f"{path} was written by a newer rnnlab ({obj.get('rnnlab_version')}); "
                              f"upgrade rnnlab to read it")
    sd = obj.get("state_dict")
    if not isinstance(sd, dict) or not sd or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                     for k, v in sd.items()):
        raise CheckpointError(f"{path} has no state_dict of named tensors")
    try:
        cfg = json.loads(obj.get("config"))
    except (TypeError, json.JSONDecodeError):
        raise CheckpointError(f"{path} has no readable configuration JSON") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("model"), dict):
        raise CheckpointError(f"{path}: the configuration has no 'model' record")
    return sd, cfg


def load_pt(path):
    """(TorchLanguageModel, meta) from a ``.pt`` file; meta has the keys of CONFIG_KEYS.

    The file's tensors must be exactly the parameters its configuration describes (names, shapes, dtype).
    """
    torch = _torch()
    from .interop import _torch_lm_class
    from .lm import ModelConfig

    sd, cfg = read_pt(path)
    try:
        mcfg = ModelConfig.from_dict(cfg["model"])
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"{path}: bad model configuration: {e}") from None
    cw = cfg.get("class_of_word")
    if mcfg.output == "class":
        if not isinstance(cw, list) or len(cw) != mcfg.vocab_size or not all(
                isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in cw):
            raise CheckpointError(f"{path}: class output needs 'class_of_word', {mcfg.vocab_size} class ids")
        if sorted(set(cw)) != list(range(max(cw) + 1)):
            raise CheckpointError(f"{path}: 'class_of_word' leaves a class empty")
    try:
        module = _torch_lm_class()(mcfg.to_dict(), cw)
    except ConfigError as e:
        raise CheckpointError(f"{path}: {e}") from None
    want = module.state_dict()
    missing, unexpected = sorted(set(want) - set(sd)), sorted(set(sd) - set(want))
    if missing or unexpected:
        raise CheckpointError(f"{path}: tensors do not match the configured model: missing {missing}, "
                              f"unexpected {unexpected}")
    for k, v in sd.items():
        if tuple(v.shape) != tuple(want[k].shape):
            raise CheckpointError(f"{path}: {k} has shape {tuple(v.shape)}, the configured model "
                                  f"{tuple(want[k].shape)}")
        if v.dtype != want[k].dtype:
            raise CheckpointError(f"{path}: {k} is {v.dtype} but the configuration says {mcfg.dtype}")
        if not bool(torch.isfinite(v).all()):
            raise CheckpointError(f"{path}: {k} holds non-finite values; the model diverged")
    module.load_state_dict(sd)
    meta = {k: cfg.get(k) for k in CONFIG_KEYS}
    meta["model"] = mcfg.to_dict()
    meta["history"] = list(meta["history"] or [])
    return module, meta


# -- model directories <-> .pt files -------------------------------------------------------------------


def export_model(model_dir, pt_path) -> dict:
    """Write the model of an rnnlab model directory (or .npz checkpoint) to ``pt_path``; returns its meta."""
    lm = load_model(model_dir)
    meta = checkpoint.read_meta(checkpoint.find_model_file(model_dir))
    if lm.config.cell == "rnn" and lm.config.nonlinearity not in ("tanh", "relu"):
        raise ConfigError(f"a {lm.config.nonlinearity} RNN has no torch equivalent (torch.nn.RNN has tanh and "
                          f"relu); it cannot be exported")
    save_pt(pt_path, lm, meta)
    return meta


def import_model(pt_path, out_dir, force=False) -> Path:
    """Write a ``.pt`` file's model as an rnnlab model directory (``best.npz``); returns the file written.

    The checkpoint carries the usual metadata ("model", "vocab", "data", and "train" when the model was
    trained by rnnlab) plus "imported_from" and "history", so evaluate, generate and diagnose accept it.
    """
    module, meta = load_pt(pt_path)
    lm = module.to_rnnlab()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise CheckpointError(f"{out} exists and is not a directory; choose another --out")
    existing = [n for n in ("best.npz", "last.npz") if (out / n).exists()]
    if existing and not force:
        raise CheckpointError(f"{out} already holds a model ({', '.join(existing)}); choose another --out or "
                              f"pass --force to replace it")
    record = {k: v for k, v in meta.items() if k != "class_of_word" and v is not None}
    record.update(model=lm.config.to_dict(), imported_from=str(Path(pt_path).resolve()))
    target = out / "best.npz"
    checkpoint.save(target, checkpoint_arrays(lm), record)
    if force and (out / "last.npz").exists():
        (out / "last.npz").unlink()  # a stale training state of another model must not shadow or resume
    return target

