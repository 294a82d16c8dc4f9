"""Gradient checks: hand-written backward passes against central finite differences.

For a scalar function L of some tensors (inputs and parameters) and the analytic
gradients G_T = dL/dT that a backward pass produced, the check takes, for each tensor T,
``directions`` random unit directions d (over that tensor alone, so a wrong gradient is
named) and compares the directional derivatives

    analytic:  <G_T, d>
    numeric:   (L(T + eps d) - L(T - eps d)) / (2 eps)

requiring |analytic - numeric| <= atol + rtol * |numeric|. Everything runs in float64:
with eps = 1e-6 the central difference has truncation error O(eps^2) ~ 1e-12 and
rounding error ~ 1e-16 |L| / eps ~ 1e-10 |L|, far below the default tolerances
(atol 1e-6, rtol 1e-5), while a wrong sign, a missing factor or a gradient sent to the
wrong unit gives errors of the order of the gradient itself.

Functions through ReLU or maxout are not differentiable at their kinks; callers must keep
inputs away from them by more than eps (tests/helpers.py measures that margin).

This follows chainer's ``gradient_check.check_backward`` (random directions, float64,
atol + rtol), checking each tensor separately.
"""

from __future__ import annotations

from dataclasses import dataclass

from .backend import Backend
from .layers import Layer

__all__ = ["GradientCheckError", "check_gradients", "check_layer", "check_loss", "EPS", "ATOL", "RTOL"]

EPS = 1e-6
ATOL = 1e-6
RTOL = 1e-5


class GradientCheckError(AssertionError):
    """An analytic gradient disagrees with finite differences."""


@dataclass
class Comparison:
    name: str
    analytic: float
    numeric: float

    @property
    def error(self) -> float:
        return abs(self.analytic - self.numeric)


def check_gradients(loss, tensors: dict, analytic: dict, backend: Backend, *,
                    directions: int = 2, eps: float = EPS, atol: float = ATOL,
                    rtol: float = RTOL, seed: int = 0) -> list[Comparison]:
    """Compare analytic gradients with central differences along random directions.

    Args:
        loss: a callable with no arguments that evaluates the scalar at the tensors'
            current values (the tensors are perturbed in place and restored).
        tensors: name -> float64 array, the variables.
        analytic: name -> dL/d(tensor) computed at the unperturbed values.
        backend: the backend of the tensors (float64).
        directions: random directions per tensor.
        eps, atol, rtol: step and tolerances (see the module docstring).
        seed: seed of the directions.

    Returns:
        The comparisons made (all within tolerance).

    Raises:
        GradientCheckError: naming every tensor whose gradient is wrong.
        ValueError: tensors that are not float64, or shapes that disagree.
    """
    xp = backend.xp
    # A float64 stream of its own: the layer's backend is reseeded before every forward
    # (for dropout), which must not repeat the directions.
    stream = backend.with_seed(seed, "float64")
    results, failures = [], []
    for name, t in tensors.items():
        if t.dtype != xp.float64:
            raise ValueError(
                f"gradient checks run in float64, but {name!r} is {t.dtype}; "
                "build the layer on get_backend(..., dtype='float64')"
            )
        g = analytic[name]
        if tuple(g.shape) != tuple(t.shape):
            raise ValueError(f"gradient of {name!r} has shape {tuple(g.shape)}, tensor {tuple(t.shape)}")
        for k in range(directions):
            d = stream.normal(t.shape)
            d /= max(float(xp.sqrt((d * d).sum())), 1e-300)
            saved = t.copy()
            t += eps * d
            plus = float(loss())
            t[...] = saved - eps * d
            minus = float(loss())
            t[...] = saved
            comparison = Comparison(
                f"{name}[direction {k}]",
                float((g * d).sum()),
                (plus - minus) / (2 * eps),
            )
            results.append(comparison)
            if not comparison.error <= atol + rtol * abs(comparison.numeric):
                failures.append(comparison)
    if failures:
        lines = [
            f"  {c.name}: analytic {c.analytic:.10g}, numeric {c.numeric:.10g}, "
            f"error {c.error:.3g} > {atol:g} + {rtol:g} * |numeric|"
            for c in failures
        ]
        raise GradientCheckError("gradient check failed:\n" + "\n".join(lines))
    return results


def check_layer(layer: Layer, x, *, train: bool = True, seed: int = 0, **tolerances) -> list[Comparison]:
    """Gradient-check a layer or a composed network, inputs and parameters.

    L = sum(y * c) for a fixed random cotangent c, so dL/dy = c exercises every output.
    The backend's random stream is restarted from ``seed`` before every forward, so
    dropout draws the same mask each time. ``x`` may be a pair for a Join.
    """
    backend = layer.backend
    inputs = tuple(x) if isinstance(x, (tuple, list)) else (x,)
    names = ["input"] if len(inputs) == 1 else [f"input[{i}]" for i in range(len(inputs))]

    def forward():
        backend.reseed(seed)
        return layer.forward(inputs if len(inputs) > 1 else inputs[0], train)

    y, cache = forward()
    cotangent = backend.with_seed(seed + 1, "float64").normal(y.shape)
    layer.zero_grads()
    dx = layer.backward(cotangent, cache)
    dxs = dx if len(inputs) > 1 else (dx,)

    tensors = dict(zip(names, inputs))
    analytic = dict(zip(names, dxs))
    for key, p in layer.params.items():
        tensors[key] = p
        analytic[key] = layer.grads[key].copy()

    def loss():
        out, _ = forward()
        return (out * cotangent).sum()

    return check_gradients(loss, tensors, analytic, backend, seed=seed + 2, **tolerances)


def check_loss(fn, x, backend: Backend, *, seed: int = 0, **tolerances) -> list[Comparison]:
    """Gradient-check a loss ``fn(x) -> (value, dvalue/dx)`` at x (float64)."""
    _, grad = fn(x)
    return check_gradients(lambda: fn(x)[0], {"input": x}, {"input": grad}, backend,
                           seed=seed, **tolerances)
