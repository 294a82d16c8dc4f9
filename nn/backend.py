"""Array backends: NumPy on the CPU, CuPy on a CUDA GPU.

A :class:`Backend` is an explicit object that every layer receives when it is built.
It names the array module (``xp``), the floating-point dtype of all model data, the
host/device transfers, and a seeded random generator. Nothing here is global: two
backends (say float32 for training and float64 for a gradient check) live side by side.

This is the only module in the project that imports CuPy, and it does so lazily, so the
NumPy backend works on machines without CuPy.
"""

from __future__ import annotations

import numpy

import sys

__all__ = ["Backend", "BackendUnavailable", "get_backend", "available_backends", "array_module"]

BACKEND_NAMES = ("numpy", "cupy")
DTYPES = ("float32", "float64")


class BackendUnavailable(RuntimeError):
    """The requested backend cannot run on this machine; the message says what to install."""


class Backend:
    """An array module plus the dtype and random stream that a model uses.

    Attributes:
        name: ``"numpy"`` or ``"cupy"``.
        xp: the array module (``numpy`` or ``cupy``); all array math goes through it.
        dtype: the floating-point dtype of parameters, activations and gradients.
        array_type: the array class of this backend (``numpy.ndarray`` or ``cupy.ndarray``).
        seed: the seed the random stream was last (re)started from.
    """

    def __init__(self, name: str, xp, dtype: str, seed: int):
        self.name = name
        self.xp = xp
        self.dtype = xp.dtype(dtype)
        self.array_type = xp.ndarray
        self.reseed(seed)

    def __repr__(self) -> str:
        return f"Backend(name={self.name!r}, dtype={self.dtype.name!r}, seed={self.seed})"

    # -- random numbers -------------------------------------------------------------
    def reseed(self, seed: int) -> None:
        """Restart the random stream from ``seed``."""
        self.seed = int(seed)
        if self.name == "numpy":
            self.rng = numpy.random.default_rng(self.seed)
        else:
            # RandomState has a stable, documented float32 path on every CuPy release.
            self.rng = self.xp.random.RandomState(self.seed)

    def uniform(self, shape, low: float = 0.0, high: float = 1.0):
        """Samples from U[low, high) in the backend's dtype (drawn in that dtype, no upcast)."""
        if self.name == "numpy":
            u = self.rng.random(shape, dtype=self.dtype)
        else:
            u = self.rng.random_sample(shape, dtype=self.dtype)
        if low != 0.0 or high != 1.0:
            u *= high - low
            u += low
        return u

    def normal(self, shape, std: float = 1.0, mean: float = 0.0):
        """Samples from N(mean, std^2) in the backend's dtype."""
        g = self.rng.standard_normal(shape, dtype=self.dtype)
        if std != 1.0:
            g *= std
        if mean != 0.0:
            g += mean
        return g

    def with_seed(self, seed: int, dtype: str | None = None) -> "Backend":
        """A backend on the same array module (and dtype, unless given) with a random
        stream of its own: evaluation noise, gradient-check directions and the like then
        neither shift nor repeat the caller's stream."""
        return Backend(self.name, self.xp, dtype or self.dtype.name, seed)

    def rng_state(self):
        """The random stream's state, as a JSON-serialisable object (NumPy only)."""
        if self.name != "numpy":
            raise NotImplementedError("saving the CuPy random state is not supported")
        return self.rng.bit_generator.state

    def set_rng_state(self, state) -> None:
        if self.name != "numpy":
            raise NotImplementedError("restoring the CuPy random state is not supported")
        self.rng.bit_generator.state = state

    # -- arrays ---------------------------------------------------------------------
    def asarray(self, a, dtype=None):
        """Host (or device) data -> an array of this backend, in its dtype unless told."""
        return self.xp.asarray(a, dtype=self.dtype if dtype is None else dtype)

    def to_numpy(self, a) -> numpy.ndarray:
        """A backend array -> a NumPy array on the host (a no-op on the NumPy backend)."""
        if self.name == "cupy":
            return self.xp.asnumpy(a)
        return numpy.asarray(a)

    def synchronize(self) -> None:
        """Wait until the device has finished all queued work (a no-op on NumPy).

        CuPy launches kernels asynchronously: a timer read without this measures only the
        launches. Call it before reading a clock, never inside a training loop.
        """
        if self.name == "cupy":
            self.xp.cuda.get_current_stream().synchronize()

    def forbid_host_sync(self):
        """A context manager in which any wait for the device raises, or None where there
        is nothing to guard (NumPy) or no way to (a CuPy without it).

        A training iteration on CuPy should only queue work: a host copy (``float(x)``,
        ``x.item()``, ``asnumpy``) or an explicit synchronisation inside it stalls the
        GPU until the queue drains. CuPy refuses implicit conversion to NumPy arrays by
        itself; this catches the rest, with ``cupyx.allow_synchronize(False)`` (CuPy
        raises ``cupyx.DeviceSynchronized``; deprecated since CuPy 10, so it may be
        missing from a later release). The tests run iterations inside it.
        """
        if self.name != "cupy":
            return None
        import cupyx  # noqa: PLC0415  (CuPy is installed: this backend exists)

        allow = getattr(cupyx, "allow_synchronize", None)
        return allow(False) if allow is not None else None

    def zeros(self, shape, dtype=None):
        return self.xp.zeros(shape, dtype=self.dtype if dtype is None else dtype)

    def check(self, a, where: str) -> None:
        """Raise TypeError unless ``a`` is an array of this backend in its dtype.

        Mixing backends would fail later with an obscure error (or copy silently between
        host and device); mixing dtypes would silently upcast float32 work to float64.
        """
        if not isinstance(a, self.array_type):
            kind = f"{type(a).__module__}.{type(a).__qualname__}"
            raise TypeError(
                f"{where} received a {kind}, but it lives on the {self.name} backend, which "
                f"needs {self.xp.__name__}.ndarray. Convert it with backend.asarray(...) "
                f"(or backend.to_numpy(...) to come back to the host)."
            )
        if a.dtype != self.dtype:
            raise TypeError(
                f"{where} received {a.dtype} data, but its backend computes in "
                f"{self.dtype.name}. Convert it with backend.asarray(...) so that no "
                f"silent up- or downcast happens."
            )


def _import_cupy():
    try:
        import cupy  # noqa: PLC0415  (lazy on purpose: CuPy is an optional extra)
    except ImportError as exc:
        raise BackendUnavailable(
            "the cupy backend needs CuPy, which is not installed "
            f"({exc}). Install the CUDA extra: pip install 'cgan-numpy[cuda]' "
            "(CuPy for CUDA 12; see README.md for other CUDA versions), or use --backend numpy."
        ) from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing or broken: CuPy raises its own types
        raise BackendUnavailable(
            f"CuPy is installed but no usable CUDA GPU was found ({exc}). "
            "Check the NVIDIA driver (nvidia-smi), or use --backend numpy."
        ) from None
    if count < 1:
        raise BackendUnavailable(
            "CuPy is installed but this machine has no CUDA GPU. Use --backend numpy."
        )
    return cupy


def get_backend(name: str = "numpy", dtype: str = "float32", seed: int = 0) -> Backend:
    """Return a backend by name.

    Args:
        name: ``"numpy"`` (CPU) or ``"cupy"`` (CUDA GPU).
        dtype: ``"float32"`` (the default, for training) or ``"float64"`` (gradient checks).
        seed: seed of the backend's random stream.

    Raises:
        ValueError: an unknown name or dtype.
        BackendUnavailable: ``cupy`` was asked for but CuPy or a GPU is missing.
    """
    if name not in BACKEND_NAMES:
        raise ValueError(f"unknown backend {name!r}: choose one of {', '.join(BACKEND_NAMES)}")
    dtype = numpy.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if dtype not in DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
    xp = numpy if name == "numpy" else _import_cupy()
    return Backend(name, xp, dtype, seed)


def available_backends() -> list[str]:
    """Names of the backends that can run here."""
    names = ["numpy"]
    try:
        _import_cupy()
    except BackendUnavailable:
        pass
    else:
        names.append("cupy")
    return names


def array_module(a):
    """The array module of ``a``: numpy for a NumPy array, cupy for a CuPy array.

    Lets stateless functions (the losses) follow their argument's device without being
    handed a backend.
    """
    if isinstance(a, numpy.ndarray) or isinstance(a, numpy.generic):
        return numpy
    cupy = sys.modules.get("cupy")
    if cupy is not None and isinstance(a, cupy.ndarray):
        return cupy
    raise TypeError(
        f"expected a NumPy or CuPy array, got {type(a).__module__}.{type(a).__qualname__}"
    )
