"""The training step's matrix products and in-place updates, on one BLAS.

Every layer computes its matrix products here (``matmul(a, b)`` is ``a @ b``), and three
updates recur on every step: a weight gradient accumulated from a product
(``add_matmul(out, a, b)``: ``out += a @ b``), an optimiser's scaled add (``axpy(alpha,
x, y)``: ``y += alpha * x``) and scaling (``scale(alpha, x)``: ``x *= alpha``). Written as
NumPy expressions the first writes the product to a new array and then adds it, the
second writes ``alpha * x`` to a new array first, and NumPy runs both on one core. BLAS
does each in place, on all its threads: ``gemm`` with ``beta = 1`` adds the product into
``out`` as it computes it, ``axpy`` and ``scal`` make one pass.

Why the products come here too, not only the updates: NumPy and SciPy each ship their own
OpenBLAS (two libraries, two thread pools, in one process), and ``scipy.linalg.blas`` is
the only in-place ``gemm``/``axpy`` NumPy-based code can call. An OpenBLAS thread spins
for a while after each call, waiting for the next; with the products on NumPy's pool and
the updates on SciPy's, each pool's spinning threads took the cores from the other's
work and the conditional MNIST iteration took three times as long (docs/performance.md).
With every product of a step on one pool that cannot happen. The price: SciPy's OpenBLAS
may be an older release with slower kernels (measured: 0.3.30 against NumPy's 0.3.31,
5-15 % slower on these shapes); the step is still 10-16 % faster on two threads, and
level on one.

Each function computes exactly its expression above. It calls BLAS (through
``scipy.linalg.blas``) only where that is safe: NumPy arrays of float32 or float64, all
of one dtype, 2-D operands stored row- or column-major (``x`` or ``x.T``), the updated
array C-contiguous, writeable and not overlapping an operand. Anything else (CuPy
arrays, other dtypes, strided views) gets the NumPy/CuPy expression itself. The two paths agree to rounding: BLAS may sum a
product in another order, and ``axpy`` may fuse the multiply and the add.
"""

from __future__ import annotations

import numpy
from scipy.linalg import blas as _blas

from .switch import Switch

__all__ = ["matmul", "add_matmul", "axpy", "scale", "expressions_only"]

_GEMM = {numpy.dtype(numpy.float32): _blas.sgemm, numpy.dtype(numpy.float64): _blas.dgemm}
_AXPY = {numpy.dtype(numpy.float32): _blas.saxpy, numpy.dtype(numpy.float64): _blas.daxpy}
_SCAL = {numpy.dtype(numpy.float32): _blas.sscal, numpy.dtype(numpy.float64): _blas.dscal}


# the in-place BLAS path; expressions_only() turns it off
_FAST_PATH = Switch()


def expressions_only():
    """``with nn.blas.expressions_only(): ...`` runs every function here as its plain
    expression (``a @ b``, ``out += a @ b``, ...) on NumPy's own BLAS: the readable path,
    kept to measure what this module buys (``experiments/bench_levers.py``) and to rule it
    out when a result looks wrong. Not thread-safe: it sets a module-wide switch."""
    return _FAST_PATH.off()


def _updatable(y) -> bool:
    """``y`` is a NumPy array BLAS can write in place: float32/64, C-contiguous, writeable."""
    return (_FAST_PATH.on and type(y) is numpy.ndarray and y.dtype in _GEMM and y.flags.c_contiguous
            and y.flags.writeable and y.size > 0)


def _fortran_operand(m):
    """A 2-D array as a BLAS operand without a copy: ``(array, transpose flag)``, such that
    BLAS, reading the array column-major and transposing it if told, sees ``m``.

    ``m`` is itself column-major when it is Fortran-contiguous (a transposed C array, like
    ``x.T``); a C-contiguous ``m`` is its own transpose read column-major, so BLAS reads
    ``m.T`` and transposes it back. ``(None, 0)`` for any other layout.
    """
    if m.flags.f_contiguous:
        return m, 0
    if m.flags.c_contiguous:
        return m.T, 1
    return None, 0


def _gemm_operands(a, b, dtype):
    """BLAS's operands for ``a @ b``, or None where NumPy must do it.

    BLAS is column-major, and a C-contiguous result ``c`` is ``c^T`` read column-major, so
    BLAS is asked for ``c^T = b^T a^T``.
    """
    if not (_FAST_PATH.on and type(a) is numpy.ndarray and type(b) is numpy.ndarray and dtype in _GEMM
            and a.dtype == dtype and b.dtype == dtype and a.ndim == 2 and b.ndim == 2
            and a.shape[1] == b.shape[0] and a.size > 0 and b.size > 0):
        return None
    first, trans_first = _fortran_operand(b.T)
    second, trans_second = _fortran_operand(a.T)
    if first is None or second is None:
        return None
    return first, second, trans_first, trans_second


def matmul(a, b):
    """``a @ b`` for 2-D arrays (C-contiguous result); NumPy's ``@`` for anything else."""
    operands = _gemm_operands(a, b, a.dtype) if type(a) is numpy.ndarray else None
    if operands is None:
        return a @ b
    first, second, trans_first, trans_second = operands
    return _GEMM[a.dtype](1.0, first, second, trans_a=trans_first, trans_b=trans_second).T


def add_matmul(out, a, b) -> None:
    """``out += a @ b`` for 2-D arrays, without the product's temporary (``gemm``, beta = 1)."""
    operands = _gemm_operands(a, b, out.dtype) if _updatable(out) else None
    # BLAS may not read an operand it is writing: ``out`` overlapping ``a`` or ``b`` gets
    # the expression, which forms the product before adding it
    if (operands is None or out.shape != (a.shape[0], b.shape[1])
            or numpy.may_share_memory(out, a) or numpy.may_share_memory(out, b)):
        out += a @ b
        return
    first, second, trans_first, trans_second = operands
    result = _GEMM[out.dtype](1.0, first, second, beta=1.0, c=out.T,
                              trans_a=trans_first, trans_b=trans_second, overwrite_c=1)
    if not numpy.shares_memory(result, out):  # never expected: f2py copied out after all
        out[...] = result.T


def axpy(alpha: float, x, y) -> None:
    """``y += alpha * x`` (same shapes), without the temporary ``alpha * x``."""
    if not (_updatable(y) and type(x) is numpy.ndarray and x.dtype == y.dtype
            and x.shape == y.shape and x.flags.c_contiguous and not numpy.may_share_memory(x, y)):
        y += alpha * x
        return
    result = _AXPY[y.dtype](x.reshape(-1), y.reshape(-1), a=alpha)
    if not numpy.shares_memory(result, y):  # never expected: f2py copied y after all
        y[...] = result.reshape(y.shape)


def scale(alpha: float, x) -> None:
    """``x *= alpha``, in one pass on BLAS's threads."""
    if not _updatable(x):
        x *= alpha
        return
    result = _SCAL[x.dtype](alpha, x.reshape(-1))
    if not numpy.shares_memory(result, x):  # never expected: f2py copied x after all
        x[...] = result.reshape(x.shape)
