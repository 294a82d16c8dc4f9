"""Configuration dataclasses: strict ``from_dict``, and sharing fields by name.

A run's configuration is one flat dataclass (its ``config.json``); the parts that the
core and the models read (the optimiser settings, the networks' options) are dataclasses
of their own whose fields have the same names, taken from it with :func:`pick`, never
copied by hand.
"""

from __future__ import annotations

from dataclasses import fields

__all__ = ["ConfigFromDict", "pick"]


class ConfigFromDict:
    """``from_dict`` for configuration dataclasses: unknown keys are an error, not ignored.

    ``RETIRED`` maps keys that configurations of earlier versions wrote and that no longer
    mean anything to the only value they could hold; such a key is accepted with that
    value and dropped (any other value is an error), so old ``config.json`` files load.
    """

    RETIRED: dict = {}

    @classmethod
    def from_dict(cls, values: dict):
        values = dict(values)
        for key, only in cls.RETIRED.items():
            if key in values:
                value = values.pop(key)
                if value != only:
                    raise ValueError(f"configuration key {key!r} is retired; it can only be {only!r}, "
                                     f"got {value!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown configuration keys {unknown}")
        return cls(**values)


def pick(cls, source, **overrides):
    """An instance of dataclass ``cls`` with every field that ``source`` has by the same
    name taken from it (the rest keep their defaults), then ``overrides``."""
    values = {f.name: getattr(source, f.name) for f in fields(cls) if hasattr(source, f.name)}
    values.update(overrides)
    return cls(**values)
