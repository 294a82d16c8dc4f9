"""The backend object: names, dtypes, transfers, random streams, and clear errors."""

from __future__ import annotations

import builtins
import sys

import numpy as np
import pytest

import nn
from nn import backend as backend_module


def test_numpy_backend_has_the_stated_interface():
    b = nn.get_backend("numpy", dtype="float32", seed=3)
    assert b.name == "numpy" and b.xp is np and b.dtype == np.float32 and b.seed == 3
    a = b.asarray([[1, 2], [3, 4]])
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    assert isinstance(b.to_numpy(a), np.ndarray)
    assert b.zeros((2, 3)).dtype == np.float32
    assert nn.get_backend("numpy", dtype="float64").dtype == np.float64
    assert "numpy" in nn.available_backends()


def test_backend_arrays_on_each_backend(backend_name):
    b = nn.get_backend(backend_name, seed=1)
    a = b.asarray(np.arange(6.0).reshape(2, 3))
    assert isinstance(a, b.array_type) and a.dtype == b.dtype
    np.testing.assert_array_equal(b.to_numpy(a), np.arange(6.0).reshape(2, 3))
    u = b.to_numpy(b.uniform((1000,), -1.0, 1.0))
    assert u.dtype == np.float32 and u.min() >= -1 and u.max() < 1
    g = b.to_numpy(b.normal((20_000,), std=2.0, mean=1.0))
    assert abs(g.mean() - 1.0) < 0.1 and abs(g.std() - 2.0) < 0.1


def test_reseed_repeats_the_stream(backend_name):
    b = nn.get_backend(backend_name, seed=5)
    first = b.to_numpy(b.uniform((4,)))
    b.reseed(5)
    np.testing.assert_array_equal(first, b.to_numpy(b.uniform((4,))))
    b.reseed(6)
    assert not (first == b.to_numpy(b.uniform((4,)))).all()


def test_numpy_rng_state_round_trip():
    b = nn.get_backend("numpy", seed=5)
    b.uniform((3,))
    state = b.rng_state()
    expected = b.uniform((3,))
    b.reseed(0)
    b.set_rng_state(state)
    np.testing.assert_array_equal(b.uniform((3,)), expected)


def test_unknown_backend_or_dtype():
    with pytest.raises(ValueError, match="unknown backend 'torch'"):
        nn.get_backend("torch")
    with pytest.raises(ValueError, match="unsupported dtype 'float16'"):
        nn.get_backend("numpy", dtype="float16")


@pytest.fixture
def no_cupy(monkeypatch):
    """Make `import cupy` fail, as on a machine without the CUDA extra."""
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "cupy" or name.startswith("cupy."):
            raise ImportError("No module named 'cupy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_cupy_missing_says_what_to_install(no_cupy):
    with pytest.raises(nn.BackendUnavailable, match=r"CuPy, which is not installed.*cgan-numpy\[cuda\]"):
        nn.get_backend("cupy")
    assert nn.available_backends() == ["numpy"]


class _FakeCupy:
    """A stand-in for CuPy installed on a machine without a usable GPU."""

    class cuda:
        class runtime:
            count = 0

            @staticmethod
            def getDeviceCount():
                if _FakeCupy.cuda.runtime.count < 0:
                    raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
                return _FakeCupy.cuda.runtime.count


@pytest.mark.parametrize("count", [0, -1])
def test_cupy_without_gpu_says_so(monkeypatch, count):
    monkeypatch.setitem(sys.modules, "cupy", _FakeCupy)
    monkeypatch.setattr(_FakeCupy.cuda.runtime, "count", count)
    with pytest.raises(nn.BackendUnavailable, match="(no CUDA GPU|no usable CUDA GPU)"):
        backend_module.get_backend("cupy")


def test_array_module_rejects_foreign_objects():
    assert backend_module.array_module(np.zeros(2)) is np
    with pytest.raises(TypeError, match="expected a NumPy or CuPy array"):
        backend_module.array_module([1.0, 2.0])


def test_with_seed_gives_an_independent_stream(backend_name):
    b = nn.get_backend(backend_name, seed=5)
    other = b.with_seed(7)
    assert other.xp is b.xp and other.dtype == b.dtype and other.seed == 7
    assert b.with_seed(7, "float64").dtype == np.float64
    first = b.to_numpy(b.uniform((4,)))
    other.uniform((100,))  # drawing from the sibling leaves the parent's stream alone
    b.reseed(5)
    np.testing.assert_array_equal(b.to_numpy(b.uniform((4,))), first)
    np.testing.assert_array_equal(b.to_numpy(b.with_seed(7).uniform((3,))),
                                  b.to_numpy(nn.get_backend(backend_name, seed=7).uniform((3,))))
