"""The generator's noise distributions (cgan.core.noise)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nn
from cgan.core.noise import sample_noise


@pytest.mark.parametrize("kind, low, high, mean, var", [
    ("uniform01", 0.0, 1.0, 0.5, 1 / 12),
    ("uniform_pm1", -1.0, 1.0, 0.0, 1 / 3),
    ("uniform_unit_variance", -math.sqrt(3), math.sqrt(3), 0.0, 1.0),
    ("gaussian", -np.inf, np.inf, 0.0, 1.0),
])
def test_noise_moments(backend_name, kind, low, high, mean, var):
    b = nn.get_backend(backend_name, seed=7)
    z = b.to_numpy(sample_noise(b, kind, 2000, 100)).astype(np.float64)
    assert z.dtype == np.float64 and z.shape == (2000, 100)
    assert z.min() >= low and z.max() <= high
    n = z.size  # 200,000 draws: the mean is within 5 standard errors
    assert abs(z.mean() - mean) < 5 * math.sqrt(var / n)
    assert z.var() == pytest.approx(var, rel=0.02)
    if kind == "uniform_unit_variance":  # it fills its interval
        assert z.min() < low + 1e-3 and z.max() > high - 1e-3
