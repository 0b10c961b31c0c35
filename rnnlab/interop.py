"""Hand models to PyTorch and take them back. torch is imported only inside these functions.

``to_torch(layer)`` returns ``torch.nn.RNN`` / ``LSTM`` / ``GRU`` with the same weights (same names, same
gate order, so no transposes); ``from_torch(module)`` builds the rnnlab layer. Round trips are exact.
"""
from __future__ import annotations

import numpy as np

from .errors import ConfigError


def _torch():
    try:
        import torch
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ConfigError("PyTorch is not installed: pip install 'rnnlab[torch]' (torch==2.13.0)") from e
    return torch


def to_torch(model):
    """The equivalent torch module (float32 or float64 as the model), same parameters."""
    from .layers import GRU, LSTM, RNN

    if isinstance(model, (RNN, LSTM, GRU)):
        torch = _torch()
        tdt = torch.float64 if model.dtype == np.float64 else torch.float32
        if isinstance(model, RNN):
            if model.nonlinearity not in ("tanh", "relu"):
                raise ConfigError(f"torch.nn.RNN has no {model.nonlinearity!r} nonlinearity; use tanh or relu")
            mod = torch.nn.RNN(model.input_size, model.hidden_size, model.num_layers,
                               nonlinearity=model.nonlinearity, dtype=tdt)
        else:
            cls = torch.nn.LSTM if isinstance(model, LSTM) else torch.nn.GRU
            mod = cls(model.input_size, model.hidden_size, model.num_layers, dtype=tdt)
        mod.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.params.items()})
        return mod
    to_torch_lm = getattr(model, "to_torch", None)
    if to_torch_lm is not None:
        return to_torch_lm()
    raise ConfigError(f"cannot convert {type(model).__name__} to torch")


def from_torch(module):
    """The rnnlab layer (or language model) equivalent to a torch module, same parameters."""
    torch = _torch()
    from .layers import GRU, LSTM, RNN

    if isinstance(module, (torch.nn.RNN, torch.nn.LSTM, torch.nn.GRU)):
        if module.bidirectional or not module.bias or module.batch_first or getattr(module, "proj_size", 0):
            raise ConfigError("only unidirectional, time-major torch layers with biases and no projection "
                              "can be converted")
        dtype = np.float64 if module.weight_ih_l0.dtype == torch.float64 else np.float32
        args = (module.input_size, module.hidden_size)
        if isinstance(module, torch.nn.LSTM):
            layer = LSTM(*args, num_layers=module.num_layers, dtype=dtype)
        elif isinstance(module, torch.nn.GRU):
            layer = GRU(*args, num_layers=module.num_layers, dtype=dtype)
        else:
            layer = RNN(*args, nonlinearity=module.nonlinearity, num_layers=module.num_layers, dtype=dtype)
        sd = module.state_dict()
        for k in layer.params:
            layer.params[k][...] = sd[k].detach().cpu().numpy()
        return layer
    from_torch_lm = getattr(module, "to_rnnlab", None)
    if from_torch_lm is not None:
        return from_torch_lm()
    raise ConfigError(f"cannot convert {type(module).__name__} from torch")
