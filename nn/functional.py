"""Elementwise functions shared by layers and losses, stable for every finite input."""

from __future__ import annotations

from .backend import array_module

__all__ = ["sigmoid", "softplus"]


def sigmoid(x):
    """1 / (1 + e^-x), accurate to full relative precision over the whole real line.

    With e = e^-|x| (never above 1, so nothing overflows): sigmoid(x) = 1 / (1 + e) for
    x >= 0 and e / (1 + e) for x < 0. The naive form overflows e^-x for x < -88 in
    float32; the (1 + tanh(x/2)) / 2 form is finite but loses all relative precision
    for large negative x.
    """
    xp = array_module(x)
    e = xp.exp(-xp.abs(x))
    r = 1 / (1 + e)
    return xp.where(x >= 0, r, e * r)


def softplus(x):
    """log(1 + e^x) = max(x, 0) + log(1 + e^-|x|), finite for every finite x."""
    xp = array_module(x)
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))
