"""The theory on a grid and the toy data (cgan.experiments.toy.theory), with the frozen
generator of known density (cgan.models.toy.MixtureGenerator)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nn
from cgan.experiments.toy import theory
from cgan.models.toy import MixtureGenerator


def test_mixture_sampling_and_the_frozen_generator_follow_the_density():
    b = nn.get_backend("numpy", "float64", seed=3)
    mix = theory.Mixture1D((0.3, 0.7), (-2.0, 1.0), (0.5, 0.2))
    mean = 0.3 * -2.0 + 0.7 * 1.0
    var = 0.3 * (0.25 + 4.0) + 0.7 * (0.04 + 1.0) - mean ** 2
    for draws in (mix.sample(b, 200_000),
                  MixtureGenerator(mix, b).forward(MixtureGenerator.noise(b, 200_000))[0]):
        assert draws.shape == (200_000, 1)
        assert float(draws.mean()) == pytest.approx(mean, abs=0.01)
        assert float(draws.var()) == pytest.approx(var, rel=0.01)
    x = np.linspace(-10, 10, 20001)
    assert float(theory.integrate(x, mix.pdf(x))) == pytest.approx(1.0, abs=1e-9)


def test_jensen_shannon_limits_and_the_identity():
    x = np.linspace(-20, 20, 40001)
    p = theory.normal_pdf(x, 0.0, 1.0)
    assert abs(float(theory.jensen_shannon(x, p, p))) < 1e-12
    assert float(theory.virtual_training_criterion(x, p, p)) == pytest.approx(-math.log(4), abs=1e-9)
    far = theory.normal_pdf(x, 15.0, 1.0)  # (almost) disjoint supports: JSD = log 2, C(G) = 0
    assert float(theory.jensen_shannon(x, p, far)) == pytest.approx(math.log(2), abs=1e-6)
    assert float(theory.virtual_training_criterion(x, p, far)) == pytest.approx(0.0, abs=1e-6)
    q = theory.normal_pdf(x, 1.0, 2.0)
    assert float(theory.virtual_training_criterion(x, p, q)) == pytest.approx(
        -math.log(4) + 2 * float(theory.jensen_shannon(x, p, q)), abs=1e-9)
    # any other D scores below D*
    assert float(theory.value_function(x, p, q, np.full_like(x, 0.5))) < float(
        theory.virtual_training_criterion(x, p, q))


def test_count_modes():
    b = nn.get_backend("numpy", seed=0)
    centres = theory.ring_centres(b.xp)
    assert centres.shape == (8, 2)
    np.testing.assert_allclose(np.linalg.norm(centres, axis=1), 2.0, rtol=1e-6)
    all_modes = theory.sample_ring(b, 4000, std=0.05)
    count = theory.count_modes(all_modes, centres, 0.05)
    assert count.covered == 8 and count.high_quality > 0.98
    one_mode = centres[3] + b.normal((1000, 2), std=0.05)
    assert theory.count_modes(one_mode, centres, 0.05).covered == 1
    nowhere = b.normal((1000, 2), std=0.1)  # the ring's centre: no mode
    count = theory.count_modes(nowhere, centres, 0.05)
    assert count.covered == 0 and count.high_quality == 0.0
