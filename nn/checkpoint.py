"""Save and load parameters and optimiser state in one ``.npz`` file, written atomically.

A checkpoint holds named groups (``{"generator": G, "g_opt": opt, ...}``); each group is
anything with ``state_dict()`` / ``load_state_dict()`` (layers, SGD) or a plain dict of
arrays and numbers. Keys in the file are ``"<group>/<key>"``; an optional JSON-able
``meta`` dict is stored beside them.

A layer's state is its parameters and its buffers (BatchNorm's running mean and variance,
``"<group>/3.running_mean"`` inside a Sequential): both are saved, and loading restores
both in place, and requires both. A network without buffers has the same keys as in files
written before buffers existed, so those files load unchanged.

Atomic: the file is written under a temporary name in the same directory, flushed to
disk, and renamed over the target, so a crash leaves either the old checkpoint or the
new one, never a torn file. This is plain file I/O, so it uses NumPy directly.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy

from .fileio import atomic_write

__all__ = ["save", "load", "save_arrays", "read_meta", "CheckpointError"]

_META_KEY = "__meta__"
_FORMAT_KEY = "__nn_format__"
# 2: Maxout weights in piece-major column order (nn.layers.Maxout). Files without the key
# are format 1, written when Maxout kept pylearn2's unit-major order: load() reorders their
# Maxout weights, biases and the optimiser state that goes with them.
FORMAT = 2


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, or does not fit the model."""


def _host(value):
    if hasattr(value, "get") and type(value).__module__.startswith("cupy"):
        return value.get()
    return numpy.asarray(value)


def save(path, groups: dict, meta: dict | None = None) -> Path:
    """Write ``groups`` (name -> object with state_dict, or dict) to ``path`` atomically."""
    path = Path(path)
    arrays = {}
    for group, obj in groups.items():
        if "/" in group:
            raise ValueError(f"checkpoint group names may not contain '/': {group!r}")
        state = obj.state_dict() if hasattr(obj, "state_dict") else obj
        for key, value in state.items():
            arrays[f"{group}/{key}"] = _host(value)
    if meta is not None:
        arrays[_META_KEY] = numpy.array(json.dumps(meta))
    arrays[_FORMAT_KEY] = numpy.array(FORMAT)
    with atomic_write(path) as f:
        numpy.savez(f, **arrays)
    return path


def save_arrays(path, arrays: dict) -> Path:
    """Write named arrays (device or host, and numbers) to a plain ``.npz`` atomically, for
    tools outside this project: no groups, no meta."""
    path = Path(path)
    with atomic_write(path) as f:
        numpy.savez(f, **{name: _host(value) for name, value in arrays.items()})
    return path


def load(path, groups: dict | None = None):
    """Read a checkpoint.

    If ``groups`` is given (name -> object with load_state_dict), their state is restored
    in place. Returns ``(state, meta)``: state maps group -> {key: numpy array}, in the
    current format for the given groups (a format-1 file's other arrays are as stored).
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with numpy.load(path, allow_pickle=False) as data:
            raw = {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise CheckpointError(
            f"checkpoint {path} is not a readable .npz file ({exc}); it may be truncated. "
            "Delete it or point to another checkpoint."
        ) from None
    meta = _meta(path, raw.pop(_META_KEY)) if _META_KEY in raw else None
    version = int(raw.pop(_FORMAT_KEY)) if _FORMAT_KEY in raw else 1
    if version > FORMAT:
        raise CheckpointError(f"checkpoint {path} has format {version}, newer than this "
                              f"version of nn reads ({FORMAT}); upgrade cgan-numpy")
    state: dict = {}
    for name, value in raw.items():
        group, _, key = name.partition("/")
        state.setdefault(group, {})[key] = value
    if version == 1 and groups:
        _maxout_to_piece_major(state, groups)
    for group, obj in (groups or {}).items():
        if group not in state:
            raise CheckpointError(
                f"checkpoint {path} has no group {group!r} (it has {sorted(state)})"
            )
        try:
            obj.load_state_dict(state[group])
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"checkpoint {path}, group {group!r}: {exc}") from None
    return state, meta


def _meta(path: Path, value) -> dict:
    try:
        meta = json.loads(str(value))
    except ValueError as exc:
        raise CheckpointError(f"checkpoint {path}: its metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"checkpoint {path}: its metadata is not a JSON object")
    return meta


def read_meta(path) -> dict | None:
    """The ``meta`` of a checkpoint without reading its arrays (None if it has none)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with numpy.load(path, allow_pickle=False) as data:
            if _META_KEY not in data.files:
                return None
            value = data[_META_KEY]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise CheckpointError(
            f"checkpoint {path} is not a readable .npz file ({exc}); it may be truncated. "
            "Delete it or point to another checkpoint."
        ) from None
    return _meta(path, value)


def _maxout_layers(layer, prefix: str = "") -> dict:
    """{parameter key: Maxout layer} for every Maxout weight and bias inside ``layer``."""
    from .layers import Maxout

    if isinstance(layer, Maxout):
        return {f"{prefix}W": layer, f"{prefix}b": layer}
    found = {}
    for name, child in getattr(layer, "children", {}).items():
        found.update(_maxout_layers(child, f"{prefix}{name}."))
    return found


def _maxout_to_piece_major(state: dict, groups: dict) -> None:
    """Reorder a format-1 file's Maxout columns (and their optimiser slots) in ``state``."""
    from .layers import Layer, Maxout

    by_array = {}  # id of a live parameter array -> its Maxout layer
    for group, obj in groups.items():
        if not isinstance(obj, Layer) or group not in state:
            continue
        for key, layer in _maxout_layers(obj).items():
            by_array[id(obj.params[key])] = layer
            if key in state[group]:
                state[group][key] = Maxout.from_unit_major(state[group][key], layer.units, layer.pieces)
    for group, obj in groups.items():
        params, slots = getattr(obj, "params", None), getattr(obj, "_slots", None)
        if isinstance(obj, Layer) or params is None or slots is None or group not in state:
            continue
        for key, p in params.items():
            layer = by_array.get(id(p))
            for slot in slots if layer is not None else ():
                name = f"{slot}.{key}"
                if name in state[group]:
                    state[group][name] = Maxout.from_unit_major(state[group][name], layer.units, layer.pieces)
