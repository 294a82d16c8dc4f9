"""Configuration dataclasses: strict ``from_dict``, and sharing fields by name.

A run's configuration is one flat dataclass (its ``config.json``); the parts that the
core and the models read (the optimiser settings, the networks' options) are dataclasses
of their own whose fields have the same names, taken from it with :func:`pick`, never
copied by hand.
"""

from __future__ import annotations

from dataclasses import fields

__all__ = ["ConfigFromDict", "pick", "check_types"]

# What a field's annotation admits, by the annotation's text (the modules use
# ``from __future__ import annotations``): JSON's numbers, strings and booleans.
_KINDS = {
    "int": ((int,), "an integer"),
    "float": ((int, float), "a number"),
    "str": ((str,), "a string"),
    "bool": ((bool,), "true or false"),
}


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
        check_types(cls, values)
        return cls(**values)


def check_types(cls, values: dict) -> None:
    """Refuse a value of the wrong kind for its field (a string for a number, a number
    for a string, null where None is not allowed), naming the key: a hand-edited
    config.json fails here with a message, not later with a TypeError."""
    for f in fields(cls):
        if f.name not in values:
            continue
        value = values[f.name]
        parts = [p.strip() for p in str(f.type).split("|")]
        optional = "None" in parts
        kinds = [p for p in parts if p != "None"]
        if value is None:
            if optional:
                continue
        elif len(kinds) == 1 and kinds[0] in _KINDS:
            types, said = _KINDS[kinds[0]]
            if isinstance(value, types) and (kinds[0] == "bool" or not isinstance(value, bool)):
                continue
        else:
            continue  # an annotation this check does not know: left to validate()
        said = " or ".join(_KINDS[k][1] for k in kinds if k in _KINDS) + (" or null" if optional else "")
        raise ValueError(f"configuration key {f.name!r} must be {said}, got {value!r}")


def pick(cls, source, **overrides):
    """An instance of dataclass ``cls`` with every field that ``source`` has by the same
    name taken from it (the rest keep their defaults), then ``overrides``."""
    values = {f.name: getattr(source, f.name) for f in fields(cls) if hasattr(source, f.name)}
    values.update(overrides)
    return cls(**values)
