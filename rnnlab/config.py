"""Configuration as data: dataclasses saved in every checkpoint and read back strictly."""
from __future__ import annotations

from dataclasses import MISSING, asdict, fields

from .errors import ConfigError


class ConfigMixin:
    """``to_dict`` / ``from_dict`` for a configuration dataclass; unknown keys fail loudly."""

    _what = "configuration"

    def to_dict(self) -> dict:
        """The fields as a JSON-able dict (saved in checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        """The configuration ``to_dict`` wrote. Raises ConfigError for keys it does not know or lacks."""
        if not isinstance(d, dict):
            raise ConfigError(f"the {cls._what} must be a dict of settings, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown {cls._what} keys: {', '.join(sorted(unknown))}")
        missing = [f.name for f in fields(cls)
                   if f.default is MISSING and f.default_factory is MISSING and f.name not in d]
        if missing:
            raise ConfigError(f"the {cls._what} lacks {', '.join(missing)}")
        return cls(**d)
