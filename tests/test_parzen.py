"""The Parzen-window estimator against a float64 brute force with explicit differences."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import logsumexp

import nn
from cgan.parzen import DEFAULT_SIGMAS, parzen_evaluate, parzen_log_likelihoods, select_sigma


def brute_force(centres, points, sigma):
    """log p(x) = logsumexp_i(-|x - mu_i|^2 / 2 sigma^2) - log N - d/2 log(2 pi sigma^2), float64."""
    c, p = np.asarray(centres, np.float64), np.asarray(points, np.float64)
    d2 = ((p[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)
    return (logsumexp(-d2 / (2 * sigma**2), axis=1) - math.log(len(c))
            - 0.5 * c.shape[1] * math.log(2 * math.pi * sigma**2))


def digit_like(n, d, rng):
    """Sparse, bright-on-dark vectors in [0, 1] like MNIST: what float32 cancellation hurts most."""
    x = rng.random((n, d)) ** 4
    x[:, : d // 6] = 0.0  # an empty border, as MNIST has
    return x


def test_the_grid_is_the_originals():
    np.testing.assert_allclose(DEFAULT_SIGMAS, np.logspace(-1, 0, 10), rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_agrees_with_float64_brute_force_to_1e_3_nats(backend_name, dtype):
    rng = np.random.default_rng(0)
    centres, points = digit_like(300, 784, rng), digit_like(200, 784, rng)
    b = nn.get_backend(backend_name, dtype=dtype)
    ll = b.to_numpy(parzen_log_likelihoods(b.asarray(centres), b.asarray(points), DEFAULT_SIGMAS, b))
    assert ll.shape == (10, 200)
    for k, sigma in enumerate(DEFAULT_SIGMAS):
        ref = brute_force(b.to_numpy(b.asarray(centres)), b.to_numpy(b.asarray(points)), sigma)
        assert np.abs(ll[k] - ref).max() < 1e-3, sigma
        assert abs(ll[k].mean() - ref.mean()) < 1e-3, sigma


def test_chunking_changes_nothing(backend_name):
    rng = np.random.default_rng(1)
    b = nn.get_backend(backend_name, dtype="float64")
    c, p = b.asarray(digit_like(50, 30, rng)), b.asarray(digit_like(40, 30, rng))
    whole = b.to_numpy(parzen_log_likelihoods(c, p, (0.2, 0.5), b))
    chunked = b.to_numpy(parzen_log_likelihoods(c, p, (0.2, 0.5), b, chunk_size=7))
    np.testing.assert_allclose(chunked, whole, rtol=1e-12, atol=1e-9)


def test_select_sigma_picks_the_best_mean_and_evaluate_reports_test_stats(backend_name):
    rng = np.random.default_rng(2)
    b = nn.get_backend(backend_name, dtype="float64")
    c, v, t = (b.asarray(digit_like(n, 40, rng)) for n in (100, 60, 70))
    best, validation = select_sigma(c, v, b)
    assert set(validation) == set(DEFAULT_SIGMAS)
    assert validation[best] == max(validation.values())
    result = parzen_evaluate(c, v, t, b)
    ref = brute_force(b.to_numpy(c), b.to_numpy(t), result.sigma)
    assert result.sigma == best and result.n_points == 70
    assert result.mean == pytest.approx(ref.mean(), abs=1e-9)
    assert result.std_error == pytest.approx(ref.std() / math.sqrt(70), rel=1e-9)


def test_a_point_on_a_lone_centre_gets_the_single_kernel_value(backend_name):
    b = nn.get_backend(backend_name, dtype="float64")
    c = b.asarray(np.array([[0.0, 0.0], [10.0, 10.0]]))
    sigma = 0.05
    ll = float(parzen_log_likelihoods(c, c[:1], (sigma,), b)[0, 0])
    assert ll == pytest.approx(-math.log(2) - math.log(2 * math.pi * sigma**2), abs=1e-9)


def test_bad_inputs_are_clear_errors():
    b = nn.get_backend("numpy", dtype="float64")
    c = b.asarray(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="sigma"):
        parzen_log_likelihoods(c, c, (0.0,), b)
    with pytest.raises(ValueError):
        parzen_log_likelihoods(c, b.asarray(np.zeros((3, 5))), (0.1,), b)
    with pytest.raises(ValueError):
        parzen_log_likelihoods(b.asarray(np.zeros((0, 4))), c, (0.1,), b)
