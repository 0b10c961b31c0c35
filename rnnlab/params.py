"""Named parameters with one owner.

A model keeps every parameter in one flat dict under torch's names (``rnn.weight_hh_l0``,
``decoder.weight``, ...). A submodule that reads its weights by its own names (a recurrent layer reads
``weight_hh_l0``) gets a ``ParamView`` of that dict: a window that holds no arrays, so that replacing
``model.params[name]`` (Hogwild moves parameters into shared memory that way) or stepping it in place
is seen by the submodule at once, with nothing to keep in sync.
"""
from __future__ import annotations

from collections.abc import MutableMapping


class ParamView(MutableMapping):
    """The entries of ``params`` whose names start with ``prefix``, by the rest of their names."""

    __slots__ = ("_params", "_prefix")

    def __init__(self, params: dict, prefix: str):
        self._params, self._prefix = params, prefix

    def __getitem__(self, name):
        return self._params[self._prefix + name]

    def __setitem__(self, name, value):
        self._params[self._prefix + name] = value

    def __delitem__(self, name):
        del self._params[self._prefix + name]

    def __iter__(self):
        n = len(self._prefix)
        return (k[n:] for k in self._params if k.startswith(self._prefix))

    def __len__(self):
        return sum(1 for k in self._params if k.startswith(self._prefix))

    def __repr__(self):
        return f"ParamView({self._prefix!r}, {list(self)})"


def adopt(params: dict, module, prefix: str) -> None:
    """Move ``module.params`` (a dict the module built) into ``params`` under ``prefix`` and give the
    module a ``ParamView`` of them instead: from then on ``params`` is the one owner."""
    for k, v in module.params.items():
        params[prefix + k] = v
    module.params = ParamView(params, prefix)
