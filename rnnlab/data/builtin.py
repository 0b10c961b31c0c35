"""Built-in corpora, named wherever a corpus path is accepted: `builtin:NAME[:SPLIT][?KEY=VALUE&...]`.

    builtin:agreement                    the training split (20000 sentences)
    builtin:agreement:valid              2000 other sentences (test: 2000 more)
    builtin:agreement?n=5000&max_distance=8&seed=3

Only `agreement` exists (see data.agreement). Keys: n (sentences; default per split), seed (default
0), max_distance (default 12), min_distance (default 0). Each split draws from its own seeded stream
("agreement:<split>:<seed>"), so the splits are disjoint draws and the same spec always gives the same
sentences.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from ..errors import ConfigError

PREFIX = "builtin:"
NAMES = ("agreement",)
SPLITS = {"train": 20000, "valid": 2000, "test": 2000}
_KEYS = ("n", "seed", "max_distance", "min_distance")


@dataclass(frozen=True)
class CorpusSpec:
    """A resolved corpus argument: a file (`path`) or a built-in corpus (`name`, `split`, `params`)."""
    spec: str
    path: str | None = None
    name: str | None = None
    split: str | None = None
    params: dict = field(default_factory=dict)

    @property
    def is_builtin(self) -> bool:
        return self.name is not None


def is_builtin(spec) -> bool:
    """True if ``spec`` is a string naming a built-in corpus (it starts with ``builtin:``)."""
    return isinstance(spec, str) and spec.startswith(PREFIX)


def resolve_corpus(spec) -> CorpusSpec:
    """Parse a corpus argument. Raises ConfigError for an unknown built-in, split or key.

    A file path is returned as is (its problems surface when it is read)."""
    if not is_builtin(spec):
        return CorpusSpec(spec=os.fspath(spec), path=os.fspath(spec))
    body, _, query = spec[len(PREFIX):].partition("?")
    name, _, split = body.partition(":")
    split = split or "train"
    if name not in NAMES:
        raise ConfigError(f"unknown built-in corpus {name!r} in {spec!r}; available: "
                          + ", ".join(PREFIX + n for n in NAMES))
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r} in {spec!r}; use one of {', '.join(SPLITS)}")
    params = {"n": SPLITS[split], "seed": 0, "max_distance": 12, "min_distance": 0}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ConfigError(f"cannot parse the options of {spec!r}; write KEY=VALUE&KEY=VALUE") from None
    for k, v in pairs:
        if k not in _KEYS:
            raise ConfigError(f"unknown option {k!r} in {spec!r}; options: {', '.join(_KEYS)}")
        try:
            params[k] = int(v)
        except ValueError:
            raise ConfigError(f"option {k} in {spec!r} must be an integer, not {v!r}") from None
    return CorpusSpec(spec=spec, name=name, split=split, params=params)


def builtin_split(spec: str, split: str) -> str:
    """The spec of another split of the same built-in corpus, with the same options (`n` excepted)."""
    c = resolve_corpus(spec)
    if not c.is_builtin:
        raise ConfigError(f"{spec!r} is not a built-in corpus")
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    body = spec[len(PREFIX):].partition("?")[0].partition(":")[0]
    _, _, query = spec.partition("?")
    kept = "&".join(f"{k}={v}" for k, v in parse_qsl(query) if k != "n")
    return f"{PREFIX}{body}:{split}" + (f"?{kept}" if kept else "")


def builtin_sentences(spec: str) -> list[list[str]]:
    """The sentences of a built-in corpus spec (word tokens)."""
    from .agreement import generate_sentences
    c = resolve_corpus(spec)
    p = c.params
    return generate_sentences(p["n"], seed=f"{c.name}:{c.split}:{p['seed']}",
                              max_distance=p["max_distance"], min_distance=p["min_distance"])
