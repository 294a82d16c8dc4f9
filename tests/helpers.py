"""Shared test helpers: hypothesis strategies and the distance to the nearest kink."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nn

# The shapes the property tests cover (README.md, "Tests"): batch 1 to 8, widths 1 to 16,
# maxout pieces 1 to 5.
batches = st.integers(1, 8)
widths = st.integers(1, 16)
pieces = st.integers(1, 5)
seeds = st.integers(0, 2**31 - 1)

# A kink must be farther than this from every ReLU input and maxout top-two gap. The
# gradient check moves each tensor by eps = 1e-6 along a unit direction, which changes any
# pre-activation by far less than this.
KINK_MARGIN = 1e-4


def values(shape):
    """A hypothesis strategy for float64 input arrays with entries in [-2, 2]."""
    return hnp.arrays(np.float64, shape, elements=st.floats(-2, 2, allow_nan=False, width=64))


def to_backend(backend: nn.Backend, array):
    return backend.asarray(np.asarray(array))


def kink_margin(layer: nn.Layer, x, seed: int) -> float:
    """Smallest distance from a kink over one forward pass (same dropout masks as check_layer).

    For ReLU and LeakyReLU the distance is min |input|; for maxout, the smallest gap
    between a unit's largest and second-largest piece.
    """
    layer.backend.reseed(seed)
    return _walk(layer, x)[1]


def _walk(layer, x):
    xp = layer.backend.xp
    if isinstance(layer, nn.Sequential):
        margin = math.inf
        for child in layer.layers:
            x, m = _walk(child, x)
            margin = min(margin, m)
        return x, margin
    if isinstance(layer, nn.Join):
        (y_a, m_a), (y_b, m_b) = (_walk(b, xi) for b, xi in zip(layer.branches, x))
        return xp.concatenate([y_a, y_b], axis=1), min(m_a, m_b)
    if isinstance(layer, nn.Projection):  # the kinks are in its features
        _, margin = _walk(layer.features, x[0])
        return layer.forward(x, True)[0], margin
    y, _ = layer.forward(x, True)
    if isinstance(layer, (nn.ReLU, nn.LeakyReLU)):
        return y, float(xp.abs(x).min())
    if isinstance(layer, nn.Maxout) and layer.pieces > 1:
        z = (x @ layer.params["W"] + layer.params["b"]).reshape(x.shape[0], layer.units, layer.pieces)
        top2 = xp.sort(z, axis=2)[:, :, -2:]
        return y, float((top2[:, :, 1] - top2[:, :, 0]).min())
    return y, math.inf


def f64(backend_name: str, seed: int) -> nn.Backend:
    return nn.get_backend(backend_name, dtype="float64", seed=seed)
