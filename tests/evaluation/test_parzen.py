"""The Parzen-window estimator against a float64 brute force with explicit differences."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import logsumexp

import nn
from cgan.evaluation import parzen
from cgan.evaluation.parzen import (
    DEFAULT_SIGMAS,
    ParzenResult,
    parzen_evaluate,
    parzen_log_likelihoods,
    select_sigma,
)


def squared_distances(centres, points) -> np.ndarray:
    """(n_points, n_centres) squared distances in float64, by explicit differences."""
    c = np.asarray(centres, np.float64)
    p = np.asarray(points, np.float64)
    out = np.empty((len(p), len(c)))
    for start in range(0, len(p), 16):  # chunks keep the (16, N, d) differences small
        diff = p[start:start + 16, None, :] - c[None, :, :]
        out[start:start + 16] = (diff * diff).sum(axis=2)
    return out


def brute_force(centres, points, sigma, d2=None):
    """float64: logsumexp_i(-|x - mu_i|^2 / 2 sigma^2) - log N - d/2 log(2 pi sigma^2)."""
    c = np.asarray(centres)
    d2 = squared_distances(centres, points) if d2 is None else d2
    return (logsumexp(-d2 / (2 * sigma**2), axis=1) - math.log(len(c))
            - 0.5 * c.shape[1] * math.log(2 * math.pi * sigma**2))


def digit_like(n, d, rng):
    """Sparse, bright-on-dark vectors in [0, 1] like MNIST: what float32 cancellation hurts most."""
    x = rng.random((n, d)) ** 4
    x[:, : d // 6] = 0.0  # an empty border, as MNIST has
    return x


def dataset(kind: str, n_centres: int = 300, n_points: int = 200, d: int = 784, seed: int = 0):
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        return rng.random((n_centres, d)), rng.random((n_points, d))
    if kind == "digit_like":
        return digit_like(n_centres, d, rng), digit_like(n_points, d, rng)
    if kind == "constant_columns":  # columns constant over the points, not only zero ones
        c, p = rng.random((n_centres, d)), rng.random((n_points, d))
        p[:, :100] = 0.0
        p[:, 100:150] = 0.3
        p[:, 150:160] = 1.0
        return c, p
    if kind == "near_duplicates":  # points almost on centres: tiny distances, large norms
        c = rng.random((n_centres, d))
        return c, c[:n_points] + rng.normal(0.0, 0.01, (n_points, d))
    if kind == "far":  # every point far from every centre
        return rng.random((n_centres, d)), rng.random((n_points, d)) + 3.0
    raise ValueError(kind)


@pytest.fixture(scope="module")
def references():
    """kind, dtype -> (centres, points, reference LL (len(DEFAULT_SIGMAS), n)) on the host.

    The data are float32 numbers, so both backends hold exactly the same values and one
    reference serves both.
    """
    cache = {}

    def get(kind, dtype):
        if kind not in cache:
            c, p = (a.astype(np.float32).astype(np.float64) for a in dataset(kind))
            d2 = squared_distances(c, p)
            cache[kind] = (c, p, np.stack([brute_force(c, p, s, d2) for s in DEFAULT_SIGMAS]))
        c, p, ref = cache[kind]
        return c.astype(dtype), p.astype(dtype), ref

    return get


# -- the grid -------------------------------------------------------------------------
def test_the_grid_is_the_originals():
    assert isinstance(DEFAULT_SIGMAS, tuple) and len(DEFAULT_SIGMAS) == 10
    assert all(type(s) is float for s in DEFAULT_SIGMAS)
    assert DEFAULT_SIGMAS == tuple(np.logspace(-1, 0, 10).tolist())


# -- agreement with the brute force ---------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["uniform", "digit_like"])
def test_agrees_with_float64_brute_force_to_1e_3_nats(backend_name, dtype, kind, references):
    c, p, ref = references(kind, dtype)
    b = nn.get_backend(backend_name, dtype=dtype)
    out = parzen_log_likelihoods(b.asarray(c), b.asarray(p), DEFAULT_SIGMAS, b)
    assert isinstance(out, b.array_type) and out.dtype == np.float64
    ll = b.to_numpy(out)
    assert ll.shape == (10, 200)
    tol = 1e-3 if dtype == "float32" else 1e-8
    for k, sigma in enumerate(DEFAULT_SIGMAS):
        assert np.abs(ll[k] - ref[k]).max() < tol, sigma
        assert abs(ll[k].mean() - ref[k].mean()) < tol, sigma


@pytest.mark.parametrize("path", ["dense", "gathered", "gpu"])
@pytest.mark.parametrize("kind", ["constant_columns", "near_duplicates", "far"])
def test_every_evaluation_path_agrees_on_awkward_data(path, kind, references, monkeypatch):
    """exp over the whole block, or over the gathered non-negligible terms only, or the
    CuPy backend's code path (dense, one thread) run with NumPy as its array module."""
    monkeypatch.setattr(parzen, "_DENSE_FRACTION", 0.0 if path == "dense" else 1.0)
    c, p, ref = references(kind, "float32")
    if path == "gpu":
        b = nn.Backend("cupy", np, "float32", seed=0)
    else:
        b = nn.get_backend("numpy", dtype="float32")
    ll = parzen_log_likelihoods(b.asarray(c), b.asarray(p), DEFAULT_SIGMAS, b, chunk_size=64)
    err = np.abs(np.asarray(ll) - ref)
    assert err.max() < 1e-3, err.max(axis=1)


def test_one_dimensional_mixture_matches_the_normal_density(backend_name):
    b = nn.get_backend(backend_name, dtype="float64")
    mu = np.array([[0.0], [1.0], [3.0]])
    x = np.array([[0.5], [2.0], [-4.0]])
    sigmas = (0.3, 0.7, 2.0)
    ll = b.to_numpy(parzen_log_likelihoods(b.asarray(mu), b.asarray(x), sigmas, b))
    for k, s in enumerate(sigmas):
        pdf = np.exp(-((x - mu.T) ** 2) / (2 * s * s)) / (s * math.sqrt(2 * math.pi))
        expected = np.log(pdf.mean(axis=1))  # the mixture's density, written out
        np.testing.assert_allclose(ll[k], expected, rtol=1e-12, atol=1e-12)


# -- chunking and ordering --------------------------------------------------------------
def test_chunking_changes_nothing(backend_name):
    rng = np.random.default_rng(1)
    b = nn.get_backend(backend_name, dtype="float64")
    c, p = b.asarray(digit_like(50, 30, rng)), b.asarray(digit_like(40, 30, rng))
    whole = b.to_numpy(parzen_log_likelihoods(c, p, (0.2, 0.5), b))
    chunked = b.to_numpy(parzen_log_likelihoods(c, p, (0.2, 0.5), b, chunk_size=7))
    np.testing.assert_allclose(chunked, whole, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("chunk_size", [1, 7, 59, 60, 10_000])
def test_chunking_changes_nothing_in_float32(backend_name, chunk_size, references):
    c, p, ref = references("digit_like", "float32")
    b = nn.get_backend(backend_name, dtype="float32")
    c, p, ref = b.asarray(c), b.asarray(p[:60]), ref[:, :60]
    whole = b.to_numpy(parzen_log_likelihoods(c, p, DEFAULT_SIGMAS, b))
    chunked = b.to_numpy(parzen_log_likelihoods(c, p, DEFAULT_SIGMAS, b, chunk_size=chunk_size))
    # the float32 products may round differently with the block's shape: both stay on the
    # reference, and on each other well inside the tolerance
    assert np.abs(chunked - ref).max() < 1e-3
    assert np.abs(chunked - whole).max() < 5e-4


def test_the_order_of_the_sigmas_does_not_matter(backend_name):
    rng = np.random.default_rng(3)
    b = nn.get_backend(backend_name, dtype="float32")
    c, p = b.asarray(digit_like(80, 100, rng)), b.asarray(digit_like(60, 100, rng))
    forward = b.to_numpy(parzen_log_likelihoods(c, p, DEFAULT_SIGMAS, b))
    backward = b.to_numpy(parzen_log_likelihoods(c, p, DEFAULT_SIGMAS[::-1], b))
    single = b.to_numpy(parzen_log_likelihoods(c, p, DEFAULT_SIGMAS[4:5], b))
    np.testing.assert_allclose(backward[::-1], forward, rtol=0, atol=1e-9)
    np.testing.assert_allclose(single[0], forward[4], rtol=0, atol=1e-9)


# -- sigma search and the protocol ----------------------------------------------------
def test_select_sigma_picks_the_argmax_of_the_validation_means(backend_name):
    rng = np.random.default_rng(4)
    b = nn.get_backend(backend_name, dtype="float32")
    c, v = b.asarray(digit_like(120, 50, rng)), b.asarray(digit_like(90, 50, rng))
    means = b.to_numpy(parzen_log_likelihoods(c, v, DEFAULT_SIGMAS, b)).mean(axis=1)
    best, validation = select_sigma(c, v, b)
    assert best == DEFAULT_SIGMAS[int(np.argmax(means))]
    assert list(validation) == list(DEFAULT_SIGMAS)
    np.testing.assert_allclose(list(validation.values()), means, rtol=1e-12)
    # the grid's ends lose to an interior sigma on this data: a real search, not a default
    assert DEFAULT_SIGMAS[0] < best < DEFAULT_SIGMAS[-1]


def test_select_sigma_takes_any_grid(backend_name):
    rng = np.random.default_rng(5)
    b = nn.get_backend(backend_name, dtype="float64")
    c, v = b.asarray(digit_like(60, 20, rng)), b.asarray(digit_like(30, 20, rng))
    best, validation = select_sigma(c, v, b, sigmas=[0.5, 0.05, 5.0])
    assert list(validation) == [0.5, 0.05, 5.0]
    assert validation[best] == max(validation.values())


def test_select_sigma_picks_the_best_mean_and_evaluate_reports_test_stats(backend_name):
    rng = np.random.default_rng(2)
    b = nn.get_backend(backend_name, dtype="float64")
    c, v, t = (b.asarray(digit_like(n, 40, rng)) for n in (100, 60, 70))
    best, validation = select_sigma(c, v, b)
    assert set(validation) == set(DEFAULT_SIGMAS)
    assert validation[best] == max(validation.values())
    result = parzen_evaluate(c, v, t, b)
    ref = brute_force(b.to_numpy(c), b.to_numpy(t), result.sigma)
    assert isinstance(result, ParzenResult)
    assert result.sigma == best and result.n_points == 70
    assert result.validation == validation
    assert result.mean == pytest.approx(ref.mean(), abs=1e-9)
    # the standard error of the mean: population std (numpy's default, as the original) / sqrt(n)
    assert result.std_error == pytest.approx(ref.std() / math.sqrt(70), rel=1e-9)
    assert isinstance(result.seconds, float) and result.seconds > 0


def test_evaluate_standard_error_is_std_over_root_n_in_float32(backend_name, references):
    c, p, ref = references("uniform", "float32")
    b = nn.get_backend(backend_name, dtype="float32")
    result = parzen_evaluate(b.asarray(c), b.asarray(p[:100]), b.asarray(p[100:]), b)
    k = DEFAULT_SIGMAS.index(result.sigma)
    assert result.n_points == 100
    assert result.mean == pytest.approx(ref[k, 100:].mean(), abs=1e-3)
    assert result.std_error == pytest.approx(ref[k, 100:].std() / 10.0, rel=1e-4)


# -- properties -----------------------------------------------------------------------
def test_a_point_on_a_lone_centre_gets_the_single_kernel_value(backend_name):
    b = nn.get_backend(backend_name, dtype="float64")
    c = b.asarray(np.array([[0.0, 0.0], [10.0, 10.0]]))
    sigma = 0.05
    ll = float(parzen_log_likelihoods(c, c[:1], (sigma,), b)[0, 0])
    assert ll == pytest.approx(-math.log(2) - math.log(2 * math.pi * sigma**2), abs=1e-9)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_centres_as_points_approach_the_single_kernel_value_as_sigma_shrinks(backend_name, dtype):
    """Each point is a centre: as sigma -> 0 only its own kernel counts, exp(0) / N."""
    rng = np.random.default_rng(6)
    b = nn.get_backend(backend_name, dtype=dtype)
    n, d = 64, 784
    c = b.asarray(digit_like(n, d, rng))
    sigmas = (3.0, 1.0, 0.3, 0.1, 0.01, 0.001)
    ll = b.to_numpy(parzen_log_likelihoods(c, c, sigmas, b))
    single = np.array([-math.log(n) - 0.5 * d * math.log(2 * math.pi * s * s) for s in sigmas])
    gap = ll - single[:, None]  # log(1 + the other kernels' mass) >= 0
    assert (gap >= -1e-9).all()
    assert (np.diff(gap.mean(axis=1)) <= 1e-12).all()  # shrinks with sigma
    assert gap[0].mean() > 0.1  # a wide kernel: the others matter
    np.testing.assert_allclose(gap[-2:], 0.0, atol=1e-9)  # the exact nearest distance is 0


# -- input checks ---------------------------------------------------------------------
def test_bad_inputs_are_clear_errors():
    b = nn.get_backend("numpy", dtype="float64")
    c = b.asarray(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="sigma"):
        parzen_log_likelihoods(c, c, (0.0,), b)
    with pytest.raises(ValueError):
        parzen_log_likelihoods(c, b.asarray(np.zeros((3, 5))), (0.1,), b)
    with pytest.raises(ValueError):
        parzen_log_likelihoods(b.asarray(np.zeros((0, 4))), c, (0.1,), b)


@pytest.mark.parametrize("sigmas, message", [
    ((0.0,), "positive"),
    ((0.1, -1.0), "positive"),
    ((float("nan"),), "positive"),
    ((float("inf"),), "positive"),
    ((), "empty"),
    (0.1, "sequence"),
    (("wide",), "sequence"),
])
def test_bad_sigmas(sigmas, message):
    b = nn.get_backend("numpy", dtype="float32")
    c = b.uniform((5, 3))
    for call in (lambda: parzen_log_likelihoods(c, c, sigmas, b),
                 lambda: select_sigma(c, c, b, sigmas=sigmas),
                 lambda: parzen_evaluate(c, c, c, b, sigmas=sigmas)):
        with pytest.raises(ValueError, match=message):
            call()


def test_bad_arrays():
    b = nn.get_backend("numpy", dtype="float32")
    c = b.uniform((5, 3))
    cases = [
        (b.uniform((5,)), c, ValueError, "2-D"),
        (c, b.uniform((2, 3, 1)), ValueError, "2-D"),
        (c, b.uniform((4, 2)), ValueError, "dimension"),
        (b.uniform((0, 3)), c, ValueError, "empty"),
        (c, b.uniform((0, 3)), ValueError, "empty"),
        (b.uniform((5, 0)), b.uniform((4, 0)), ValueError, "empty"),
        (c, np.zeros((4, 3)), TypeError, "float64"),  # float64 data on a float32 backend
        (c.tolist(), c, TypeError, "list"),
    ]
    for centres, points, error, message in cases:
        with pytest.raises(error, match=message):
            parzen_log_likelihoods(centres, points, (0.1,), b)
    bad = b.uniform((4, 3))
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        parzen_log_likelihoods(c, bad, (0.1,), b)
    with pytest.raises(ValueError, match="test_points"):
        parzen_evaluate(c, c, b.uniform((4, 2)), b)
    with pytest.raises(ValueError, match="valid_points"):
        parzen_evaluate(c, b.uniform((4, 2)), c, b)


@pytest.mark.parametrize("chunk_size", [0, -3, 2.5, True, "8"])
def test_bad_chunk_size(chunk_size):
    b = nn.get_backend("numpy", dtype="float32")
    c = b.uniform((5, 3))
    with pytest.raises(ValueError, match="chunk_size"):
        parzen_log_likelihoods(c, c, (0.1,), b, chunk_size=chunk_size)
