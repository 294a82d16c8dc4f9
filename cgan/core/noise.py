"""Noise for the generator, and one-hot labels."""

from __future__ import annotations

import math

from nn.backend import Backend

__all__ = ["NOISES", "sample_noise", "noise_sampler", "one_hot", "uniform_labels"]

NOISES = ("uniform01", "uniform_pm1", "uniform_unit_variance", "gaussian")
_SQRT3 = math.sqrt(3.0)


def sample_noise(backend: Backend, kind: str, n: int, dim: int):
    """n noise vectors of ``dim`` in the backend's dtype:

    * ``uniform01``: U[0, 1]^dim (the conditional paper's "unit hypercube");
    * ``uniform_pm1``: U[-1, 1]^dim;
    * ``uniform_unit_variance``: U[-sqrt 3, sqrt 3]^dim, mean 0 and variance 1 (what the
      original GAN code's ``uniform`` noise drew);
    * ``gaussian``: N(0, I).
    """
    if kind == "uniform01":
        return backend.uniform((n, dim))
    if kind == "uniform_pm1":
        return backend.uniform((n, dim), -1.0, 1.0)
    if kind == "uniform_unit_variance":
        return backend.uniform((n, dim), -_SQRT3, _SQRT3)
    if kind == "gaussian":
        return backend.normal((n, dim))
    raise ValueError(f"noise must be one of {', '.join(NOISES)}, got {kind!r}")


def noise_sampler(backend: Backend, kind: str, dim: int):
    """``n -> sample_noise(backend, kind, n, dim)``."""
    if kind not in NOISES:
        raise ValueError(f"noise must be one of {', '.join(NOISES)}, got {kind!r}")
    return lambda n: sample_noise(backend, kind, n, dim)


def one_hot(backend: Backend, labels, classes: int):
    """(n,) integer labels -> (n, classes) one-hot rows in the backend's dtype."""
    return backend.xp.eye(classes, dtype=backend.dtype)[labels]


def uniform_labels(backend: Backend, n: int, classes: int):
    """n labels drawn uniformly from 0..classes-1 (int64)."""
    return backend.xp.floor(backend.uniform((n,)) * classes).astype("int64")
