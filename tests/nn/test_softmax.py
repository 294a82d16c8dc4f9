"""nn.softmax_cross_entropy: gradient check, stability, a direct formula, dtypes, a planted bug."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
from nn.gradcheck import GradientCheckError, check_loss

from ..helpers import batches, f64, seeds, values

classes = st.integers(2, 16)
logit_scales = st.floats(0.1, 30.0)


def _labels(data, batch, k):
    return np.asarray(
        data.draw(st.lists(st.integers(0, k - 1), min_size=batch, max_size=batch)), dtype=np.int64
    )


@given(data=st.data(), batch=batches, k=classes, seed=seeds, scale=logit_scales)
def test_softmax_cross_entropy_gradient(backend_name, data, batch, k, seed, scale):
    b = f64(backend_name, seed)
    a = b.asarray(data.draw(values((batch, k))) * scale)
    y = b.asarray(_labels(data, batch, k), dtype="int64")
    check_loss(lambda v: nn.softmax_cross_entropy(v, y), a, b, seed=seed)


def _direct(a, y):
    """-log(e^{a_y} / sum_j e^{a_j}), averaged: the textbook formula, in float64."""
    a = np.asarray(a, dtype=np.float64)
    p = np.exp(a) / np.exp(a).sum(axis=1, keepdims=True)
    n = a.shape[0]
    onehot = np.eye(a.shape[1])[y]
    return -np.log(p[np.arange(n), y]).mean(), (p - onehot) / n


@given(data=st.data(), batch=batches, k=classes, scale=st.floats(0.1, 10.0))
def test_agrees_with_the_direct_formula(backend_name, data, batch, k, scale):
    b = nn.get_backend(backend_name, dtype="float64")
    raw = data.draw(values((batch, k))) * scale
    y = _labels(data, batch, k)
    value, grad = nn.softmax_cross_entropy(b.asarray(raw), b.asarray(y, dtype="int64"))
    want_value, want_grad = _direct(raw, y)
    np.testing.assert_allclose(float(value), want_value, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b.to_numpy(grad), want_grad, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_huge_logits_stay_finite(backend_name, dtype):
    b = nn.get_backend(backend_name, dtype=dtype)
    a = b.asarray([[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4], [1e4, 1e4, 0.0]])
    y = b.asarray([1, 0, 0], dtype="int64")
    value, grad = nn.softmax_cross_entropy(a, y)
    assert np.isfinite(float(value))
    assert np.all(np.isfinite(b.to_numpy(grad)))
    # row 0: -log softmax = 1e4 exactly (up to e^-1e4); row 1: log 3; row 2: log 2.
    want = (1e4 + np.log(3) + np.log(2)) / 3
    assert float(value) == pytest.approx(want, rel=1e-6)
    # The gradient of each row sums to zero (softmax sums to one, minus a one-hot).
    np.testing.assert_allclose(b.to_numpy(grad).sum(axis=1), 0, atol=1e-7)


def test_float32_stays_float32(backend_name):
    b = nn.get_backend(backend_name, dtype="float32", seed=3)
    a = b.normal((7, 10), std=5.0)
    y = b.asarray(np.arange(7) % 10, dtype="int64")
    value, grad = nn.softmax_cross_entropy(a, y)
    assert value.dtype == b.xp.float32
    assert grad.dtype == b.xp.float32
    assert grad.shape == (7, 10)
    assert isinstance(grad, b.array_type)


def test_perfect_and_uniform_predictions():
    a = np.array([[50.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    value, _ = nn.softmax_cross_entropy(a, np.array([0, 2]))
    assert float(value) == pytest.approx(np.log(3) / 2)


def test_rejects_bad_labels():
    a = np.zeros((4, 3))
    with pytest.raises(ValueError, match="integer labels"):
        nn.softmax_cross_entropy(a, np.zeros(4))  # float labels
    with pytest.raises(ValueError, match="integer labels"):
        nn.softmax_cross_entropy(a, np.zeros((4, 1), dtype=np.int64))
    with pytest.raises(ValueError, match=r"\(n, k\)"):
        nn.softmax_cross_entropy(np.zeros(4), np.zeros(4, dtype=np.int64))


def _not_divided_by_n(a, y):
    value, grad = nn.softmax_cross_entropy(a, y)
    return value, grad * a.shape[0]


def _forgot_the_onehot(a, y):
    value, grad = nn.softmax_cross_entropy(a, y)
    onehot = np.eye(a.shape[1])[y]
    return value, grad + onehot / a.shape[0]


@pytest.mark.parametrize("bug", [_not_divided_by_n, _forgot_the_onehot])
def test_gradcheck_catches_a_planted_bug(bug):
    b = nn.get_backend("numpy", dtype="float64", seed=1)
    a = b.normal((5, 4), std=2.0)
    y = np.array([0, 3, 1, 1, 2])
    check_loss(lambda v: nn.softmax_cross_entropy(v, y), a, b)  # the real one passes
    with pytest.raises(GradientCheckError):
        check_loss(lambda v: bug(v, y), a, b)
