"""nn.blas: each function computes its expression, in place where it says so, on every
layout it takes and on the fallbacks (CuPy arrays, strided views, other dtypes)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
from nn import blas

LAYOUTS = ("c", "f")  # an operand stored row-major, or column-major (a transposed array)
# a product (m, k) @ (k, n) with each operand in either layout, in float32 or float64
PRODUCTS = dict(m=st.integers(1, 40), k=st.integers(1, 40), n=st.integers(1, 40),
                layout_a=st.sampled_from(LAYOUTS), layout_b=st.sampled_from(LAYOUTS),
                dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))


def _array(rng, shape, layout, dtype):
    a = rng.standard_normal(shape).astype(dtype)
    return a if layout == "c" else np.asfortranarray(a)


def _tolerance(dtype, k):
    # a product of k terms summed in another order: a few ulps of its magnitude (~sqrt(k))
    return (1e-5 if dtype == np.float32 else 1e-13) * max(1.0, k ** 0.5)


@given(**PRODUCTS)
def test_matmul_is_the_product(m, k, n, layout_a, layout_b, dtype, seed):
    rng = np.random.default_rng(seed)
    a, b = _array(rng, (m, k), layout_a, dtype), _array(rng, (k, n), layout_b, dtype)
    got = blas.matmul(a, b)
    expected = a.astype(np.float64) @ b.astype(np.float64)
    assert got.dtype == dtype and got.shape == (m, n) and got.flags.c_contiguous
    np.testing.assert_allclose(got, expected, rtol=0, atol=_tolerance(dtype, k) * 4)


@given(**PRODUCTS)
def test_add_matmul_adds_into_out_in_place(m, k, n, layout_a, layout_b, dtype, seed):
    rng = np.random.default_rng(seed)
    a, b = _array(rng, (m, k), layout_a, dtype), _array(rng, (k, n), layout_b, dtype)
    out = rng.standard_normal((m, n)).astype(dtype)
    before = out.copy()
    address = out.__array_interface__["data"][0]
    blas.add_matmul(out, a, b)
    assert out.__array_interface__["data"][0] == address
    expected = before.astype(np.float64) + a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(out, expected, rtol=0, atol=_tolerance(dtype, k) * 4)


def test_weight_gradient_layout_matches_the_expression_to_rounding():
    """The layer's use, dW += x^T dz, against the NumPy expression, float32."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((100, 784)).astype(np.float32)
    dz = rng.standard_normal((100, 240)).astype(np.float32)
    dW = rng.standard_normal((784, 240)).astype(np.float32)
    expected = dW + x.T @ dz
    blas.add_matmul(dW, x.T, dz)
    np.testing.assert_allclose(dW, expected, rtol=1e-5, atol=1e-4)


def test_add_matmul_into_a_reshaped_view_updates_the_array():
    """The convolutions add into grads["W"].reshape(out_ch, -1), a view."""
    rng = np.random.default_rng(1)
    grad = np.zeros((4, 3, 2, 2), np.float32)
    a = rng.standard_normal((4, 7)).astype(np.float32)
    b = rng.standard_normal((7, 12)).astype(np.float32)
    blas.add_matmul(grad.reshape(4, -1), a, b)
    np.testing.assert_allclose(grad.reshape(4, -1), a @ b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_axpy_and_scale_update_in_place(dtype):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((30, 7)).astype(dtype)
    y = rng.standard_normal((30, 7)).astype(dtype)
    y0 = y.copy()
    address = y.__array_interface__["data"][0]
    blas.axpy(-0.3, x, y)
    assert y.__array_interface__["data"][0] == address
    # one rounding of magnitude ~1 terms: an absolute tolerance (y0 - 0.3 x may cancel)
    tol = 1e-6 if dtype == np.float32 else 1e-15
    np.testing.assert_allclose(y, y0 - dtype(0.3) * x, rtol=0, atol=tol)
    blas.scale(0.5, y)
    assert y.__array_interface__["data"][0] == address
    np.testing.assert_allclose(y, 0.5 * (y0 - dtype(0.3) * x), rtol=0, atol=tol)


def test_scale_is_exactly_numpys():
    """One multiplication, one rounding: bit-identical to x *= alpha."""
    x = np.random.default_rng(3).standard_normal(1000).astype(np.float32)
    expected = x.copy()
    expected *= 0.7
    blas.scale(0.7, x)
    assert np.array_equal(x, expected)


def test_fallbacks_compute_the_expression():
    rng = np.random.default_rng(4)
    # a strided view (every other column) cannot be handed to BLAS
    base = rng.standard_normal((6, 10)).astype(np.float32)
    strided = base[:, ::2]
    b = rng.standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(blas.matmul(strided, b), strided @ b, rtol=1e-6)
    out = np.zeros((6, 3), np.float32)
    blas.add_matmul(out, strided, b)
    np.testing.assert_allclose(out, strided @ b, rtol=1e-6)
    # an updated array that is itself a strided view: the expression writes through it
    y = np.zeros((6, 10), np.float32)
    blas.axpy(2.0, strided, y[:, ::2])
    np.testing.assert_allclose(y[:, ::2], 2 * strided, rtol=1e-6)
    blas.scale(3.0, y[:, ::2])
    np.testing.assert_allclose(y[:, ::2], 6 * strided, rtol=1e-6)
    assert not y[:, 1::2].any()
    # integer arrays and 1-d operands: NumPy's own operators
    i = np.arange(6).reshape(2, 3)
    assert np.array_equal(blas.matmul(i, i.T), i @ i.T)
    v = np.arange(3.0, dtype=np.float32)
    assert blas.matmul(v, np.eye(3, dtype=np.float32)).shape == (3,)


def test_mixed_dtypes_are_not_silently_handed_to_blas():
    """A float64 operand with a float32 out is the expression's business (NumPy's casting
    rules), never a BLAS call on a silently converted copy that leaves out unchanged."""
    rng = np.random.default_rng(5)
    out = np.zeros((3, 4), np.float32)
    a = rng.standard_normal((3, 2))
    b = rng.standard_normal((2, 4)).astype(np.float32)
    blas.add_matmul(out, a, b)
    np.testing.assert_allclose(out, (a @ b).astype(np.float32), rtol=1e-6)
    y = np.zeros(5, np.float32)
    blas.axpy(1.0, np.ones(5), y)
    assert np.array_equal(y, np.ones(5, np.float32))


def test_empty_operands():
    a = np.zeros((3, 0), np.float32)
    b = np.zeros((0, 4), np.float32)
    assert np.array_equal(blas.matmul(a, b), np.zeros((3, 4), np.float32))
    out = np.ones((3, 4), np.float32)
    blas.add_matmul(out, a, b)
    assert np.array_equal(out, np.ones((3, 4), np.float32))


def test_backend_arrays(backend_name):
    """On every backend the functions give the expression (CuPy: the expression itself)."""
    b = nn.get_backend(backend_name, seed=0)
    x, w = b.uniform((5, 4)), b.uniform((4, 3))
    np.testing.assert_allclose(b.to_numpy(nn.matmul(x, w)), b.to_numpy(x @ w), rtol=1e-6)
    out, dz = b.uniform((4, 3)), b.uniform((5, 3))
    expected_out = b.to_numpy(out) + b.to_numpy(x).T @ b.to_numpy(dz)
    nn.add_matmul(out, x.T, dz)
    np.testing.assert_allclose(b.to_numpy(out), expected_out, rtol=1e-5)
    v, g = b.uniform((4, 3)), b.uniform((4, 3))
    expected = b.to_numpy(v) * 0.5 - 0.1 * b.to_numpy(g)
    nn.scale(0.5, v)
    nn.axpy(-0.1, g, v)
    np.testing.assert_allclose(b.to_numpy(v), expected, rtol=1e-5, atol=1e-6)


def test_expressions_only_switches_every_function_to_numpy(monkeypatch):
    """Inside the switch nothing reaches SciPy's BLAS; outside, the products do."""
    calls = []

    def spy(name):
        real = blas._GEMM[np.dtype(np.float32)] if name == "gemm" else blas._AXPY[np.dtype(np.float32)]

        def wrapped(*args, **kw):
            calls.append(name)
            return real(*args, **kw)
        return wrapped

    monkeypatch.setitem(blas._GEMM, np.dtype(np.float32), spy("gemm"))
    monkeypatch.setitem(blas._AXPY, np.dtype(np.float32), spy("axpy"))
    a = np.ones((3, 4), np.float32)
    y = np.zeros((3, 4), np.float32)
    with blas.expressions_only():
        assert np.array_equal(blas.matmul(a, a.T), a @ a.T)
        blas.axpy(2.0, a, y)
    assert calls == [] and np.array_equal(y, 2 * a)
    blas.matmul(a, a.T)
    blas.axpy(2.0, a, y)
    assert calls == ["gemm", "axpy"]


def test_an_updated_array_overlapping_an_operand_gets_the_expression():
    """BLAS must not read what it writes: out += out @ b and y += alpha * (a view of y)
    give what NumPy's expressions give."""
    rng = np.random.default_rng(6)
    # large enough that BLAS works through ``out`` in blocks (at 300 x 300 it happens to
    # read everything first; at 700 x 700 in place it is wrong by 15x the largest entry)
    out = rng.standard_normal((700, 700)).astype(np.float32)
    b = rng.standard_normal((700, 700)).astype(np.float32)
    expected = out.astype(np.float64) + out.astype(np.float64) @ b
    blas.add_matmul(out, out, b)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-3)
    base = rng.standard_normal(12).astype(np.float32)
    y, x = base[4:], base[:8]  # overlapping views, both contiguous; y[i] is x[i + 4]
    expected = base[4:].copy()
    expected += 0.5 * base[:8]
    blas.axpy(0.5, x, y)
    np.testing.assert_allclose(y, expected, rtol=1e-6)
