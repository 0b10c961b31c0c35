"""rnnlab: recurrent networks with backpropagation through time written out in NumPy.

    import numpy as np, rnnlab
    layer = rnnlab.LSTM(8, 16, num_layers=1, dtype=np.float64)   # torch.nn.LSTM's arguments
    out, hn, cache = layer.forward(x)                # x: (T, B, 8)
    dx, dh0, grads = layer.backward(cache, dout)     # grads: same keys as layer.params

Every public submodule is an attribute (``rnnlab.optim``, ``rnnlab.data``, ``rnnlab.interop``, ...),
imported on first use: ``import rnnlab`` itself loads NumPy and the layers only, never torch or matplotlib.
"""
import functools
import importlib
import pkgutil

from ._version import __version__
from .finite_differences import gradcheck
from .layers import GRU, LSTM, RNN, make_layer

__all__ = ["__version__", "RNN", "LSTM", "GRU", "LanguageModel", "make_layer", "gradcheck"]


@functools.cache
def _submodules():
    """The public submodules and subpackages of rnnlab (names without a leading underscore)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def __getattr__(name):
    # PEP 562: a submodule is imported when first read as an attribute, so `import rnnlab` stays light
    if name == "LanguageModel":
        from .lm import LanguageModel
        return LanguageModel
    if name in _submodules():
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'rnnlab' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__) | set(_submodules()))
