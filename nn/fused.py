"""The optimisers' updates as one GPU kernel each, for CuPy arrays.

On a GPU at minibatch 100 the work per kernel is tiny and each launch costs about as much
as the work, so the number of launches decides an iteration's time. Written with array
expressions, SGD with momentum launches five kernels per parameter (``v *= m``, then
``-lr * g`` and its add into ``v``, then ``1 * v`` and its add into ``p``: nn.blas's
``scale`` and two ``axpy`` as expressions), Adam twelve, RMSProp nine; here each is one
CUDA kernel (CuPy's ``ElementwiseKernel``) that reads every array once and writes the
state and the parameter in place.

Each function takes the arrays and the step's scalars, and returns True when it did the
update, False when the caller must (NumPy arrays, whose updates nn.blas does, mixed
dtypes or shapes, or inside ``plain_updates()``). The kernels compute exactly the
optimisers' documented updates (nn/optim.py), to rounding: a kernel may contract a
multiply and an add into one (FMA). Each kernel body is also plain Python over arrays,
which is how the tests check its arithmetic on machines without a GPU.

The kernels are compiled on first use (CuPy caches them on disk) and reached through the
arrays' own module, so only nn/backend.py imports CuPy.
"""

from __future__ import annotations

from .backend import array_module
from .switch import Switch

__all__ = ["sgd_momentum", "adam", "rmsprop", "plain_updates", "KERNELS"]

#: name -> (input parameters, in-place outputs, body): CuPy ElementwiseKernel's three
#: strings. Every scalar is typed T, the arrays' dtype, so it is rounded to that dtype once,
#: as BLAS rounds its ``alpha``; the ``1 - beta`` factors come in computed in double
#: precision for the same reason.
KERNELS = {
    "sgd_momentum": (
        "T g, T lr, T momentum", "T p, T v",
        "v = momentum * v - lr * g; p += v"),
    "adam": (
        "T g, T beta1, T one_minus_beta1, T beta2, T one_minus_beta2, T eps, T step",
        "T p, T m, T v",
        "m = beta1 * m + one_minus_beta1 * g; v = beta2 * v + one_minus_beta2 * (g * g); "
        "p -= step * (m / (sqrt(v) + eps))"),
    "rmsprop": (
        "T g, T alpha, T one_minus_alpha, T eps, T lr", "T p, T s",
        "s = alpha * s + one_minus_alpha * (g * g); p -= lr * (g / (sqrt(s) + eps))"),
}

# the one-kernel path; plain_updates() turns it off
_FAST_PATH = Switch()
_compiled: dict = {}


def plain_updates():
    """``with nn.fused.plain_updates(): ...`` makes every function here return False, so
    the optimisers update with their array expressions: to measure what the kernels buy
    and to rule them out when a result looks wrong. Not thread-safe: a module-wide switch."""
    return _FAST_PATH.off()


def _kernel(xp, name: str):
    """The compiled kernel ``name`` for the array module ``xp`` (CuPy), made once."""
    kernel = _compiled.get(name)
    if kernel is None:
        in_params, out_params, body = KERNELS[name]
        kernel = _compiled[name] = xp.ElementwiseKernel(in_params, out_params, body + ";", f"cgan_{name}")
    return kernel


def _applies(arrays) -> bool:
    """CuPy arrays of one float dtype and shape, the updated ones C-contiguous."""
    if not _FAST_PATH.on:
        return False
    first = arrays[0]
    xp = array_module(first)
    if xp.__name__ != "cupy":
        return False
    return all(array_module(a) is xp and a.dtype == first.dtype and a.shape == first.shape
               and a.flags.c_contiguous for a in arrays)


def sgd_momentum(p, v, g, lr: float, momentum: float) -> bool:
    """``v <- momentum v - lr g;  p <- p + v`` in one kernel (CuPy), or False."""
    if not _applies((p, v, g)):
        return False
    _kernel(array_module(p), "sgd_momentum")(g, lr, momentum, p, v)
    return True


def adam(p, m, v, g, beta1: float, beta2: float, eps: float, step: float) -> bool:
    """``m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;  p <- p - step m / (sqrt(v) + eps)``
    in one kernel (CuPy), or False. ``step`` and ``eps`` carry Adam's bias corrections
    (nn.optim.Adam)."""
    if not _applies((p, m, v, g)):
        return False
    _kernel(array_module(p), "adam")(g, beta1, 1.0 - beta1, beta2, 1.0 - beta2, eps, step, p, m, v)
    return True


def rmsprop(p, s, g, alpha: float, eps: float, lr: float) -> bool:
    """``s <- alpha s + (1 - alpha) g^2;  p <- p - lr g / (sqrt(s) + eps)`` in one kernel
    (CuPy), or False."""
    if not _applies((p, s, g)):
        return False
    _kernel(array_module(p), "rmsprop")(g, alpha, 1.0 - alpha, eps, lr, p, s)
    return True
