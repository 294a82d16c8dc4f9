"""The image-tagging networks (Mirza & Osindero 2014, section 4.2), input widths following
the data:

    generator      z (noise_dim, Gaussian) -> 500 ReLU;  condition -> 2000 ReLU;
                   joined (2500) -> [dropout] -> linear word_dim (a word vector)
    discriminator  x (word_dim, a word vector) -> 500 ReLU;  condition -> 1200 ReLU;
                   joined (1700) -> dropout -> maxout 1000 units x 3 pieces -> dropout -> 1
                   (a logit: the sigmoid lives in the loss, nn.losses)

Weights start in U[-g_irange, g_irange] (generator) and U[-d_irange, d_irange]
(discriminator), biases at zero.

Options beyond the paper (NetConfig): ``g_output="unit"`` ends the generator with
:class:`UnitNorm`, so its samples lie on the unit sphere like the (unit) tag vectors it
imitates, and a discriminator cannot tell them apart by length alone; ``instance_noise``
adds Gaussian noise to its samples in training (:class:`GaussianNoise`; the experiment adds
the same noise to the real tag vectors), so that the discriminator cannot win by telling
the 1,386 exact tag vectors from anything near them. The multi-label
classifier baseline (:func:`tagging_classifier`) is the generator's condition branch
(condition -> 2000 ReLU) -> dropout -> linear, one logit per tag, behind
:class:`IgnoreNoise` so that it is called like a generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import nn

from ..core.pair import AdversarialPair

__all__ = ["NetConfig", "G_OUTPUTS", "UnitNorm", "GaussianNoise", "IgnoreNoise", "tagging_generator", "tagging_discriminator",
           "tagging_classifier", "build_pair", "build_classifier"]

G_OUTPUTS = ("linear", "unit")


class UnitNorm(nn.Layer):
    """Each row scaled to unit length: y = x / r, r = sqrt(|x|^2 + eps).

    Derivative: dL/dx = (dL/dy - y (y . dL/dy)) / r (the component of dL/dy along y is
    removed: moving x along itself does not move y).
    """

    def __init__(self, backend: nn.Backend, eps: float = 1e-12):
        super().__init__(backend)
        self.eps = float(eps)

    def __repr__(self) -> str:
        return "UnitNorm()"

    def forward(self, x, train: bool = True):
        self.backend.check(x, repr(self))
        xp = self.backend.xp
        r = xp.sqrt((x * x).sum(axis=1, keepdims=True) + self.backend.dtype.type(self.eps))
        y = x / r
        return y, (y, r)

    def backward(self, dy, cache, *, param_grads: bool = True, input_grad: bool = True):
        if not input_grad:
            return None
        y, r = cache
        return (dy - y * (y * dy).sum(axis=1, keepdims=True)) / r


class GaussianNoise(nn.Layer):
    """Instance noise: y = x + sigma * N(0, I) in training, the identity in evaluation.

    Derivative: dL/dx = dL/dy (the noise does not depend on x).
    """

    def __init__(self, sigma: float, backend: nn.Backend):
        super().__init__(backend)
        self.sigma = float(sigma)

    def __repr__(self) -> str:
        return f"GaussianNoise({self.sigma})"

    def forward(self, x, train: bool = True):
        self.backend.check(x, repr(self))
        if not train or self.sigma == 0.0:
            return x, None
        return x + self.backend.dtype.type(self.sigma) * self.backend.normal(x.shape), None

    def backward(self, dy, cache, *, param_grads: bool = True, input_grad: bool = True):
        return dy if input_grad else None


class IgnoreNoise(nn.Layer):
    """A network of the condition alone, called like a conditional generator: the input is
    the pair (z, y) and z is ignored. Backward returns (None, dL/dy)."""

    def __init__(self, net: nn.Layer):
        super().__init__(net.backend)
        self.net = net
        self.params = {f"net.{k}": v for k, v in net.params.items()}
        self.grads = {f"net.{k}": v for k, v in net.grads.items()}
        self.buffers = {f"net.{k}": v for k, v in net.buffers.items()}

    def __repr__(self) -> str:
        return f"IgnoreNoise({self.net!r})"

    def forward(self, x, train: bool = True):
        _z, y = x
        return self.net.forward(y, train)

    def backward(self, dy, cache, *, param_grads: bool = True, input_grad: bool = True):
        dx = self.net.backward(dy, cache, param_grads=param_grads, input_grad=input_grad)
        return (None, dx) if input_grad else None


@dataclass(frozen=True)
class NetConfig:
    """The networks' options (fields of cgan.experiments.tagging.config.TaggingConfig)."""

    noise_dim: int = 100
    g_irange: float = 0.05
    d_irange: float = 0.005
    d_keep: float = 0.5          # dropout keep probability before D's joint maxout and its output
    g_keep: float = 0.5          # ... on the input of G's joint linear layer (1 = none)
    width_scale: float = 1.0     # every hidden width times this (1 = the paper's)
    g_output: str = "linear"     # "linear" (the paper's) or "unit" (UnitNorm after it)
    instance_noise: float = 0.0  # sigma of Gaussian noise added to G's samples in training

    def width(self, published: int) -> int:
        return max(1, round(published * self.width_scale))


def tagging_generator(backend: nn.Backend, c: NetConfig, cond_dim: int, word_dim: int) -> nn.Sequential:
    hz, hy = c.width(500), c.width(2000)
    init = nn.Uniform(c.g_irange)
    layers = [
        nn.Join(
            nn.Sequential(nn.Linear(c.noise_dim, hz, backend, init=init), nn.ReLU(backend)),
            nn.Sequential(nn.Linear(cond_dim, hy, backend, init=init), nn.ReLU(backend)),
            names=("z", "y"),
        ),
    ]
    if c.g_keep < 1.0:
        layers.append(nn.Dropout(c.g_keep, backend))
    layers.append(nn.Linear(hz + hy, word_dim, backend, init=init))
    if c.g_output == "unit":
        layers.append(UnitNorm(backend))
    elif c.g_output != "linear":
        raise ValueError(f"g_output must be one of {', '.join(G_OUTPUTS)}, got {c.g_output!r}")
    if c.instance_noise > 0:
        layers.append(GaussianNoise(c.instance_noise, backend))
    return nn.Sequential(*layers)


def tagging_discriminator(backend: nn.Backend, c: NetConfig, cond_dim: int, word_dim: int) -> nn.Sequential:
    hx, hy, joint = c.width(500), c.width(1200), c.width(1000)
    init = nn.Uniform(c.d_irange)
    return nn.Sequential(
        nn.Join(
            nn.Sequential(nn.Linear(word_dim, hx, backend, init=init), nn.ReLU(backend)),
            nn.Sequential(nn.Linear(cond_dim, hy, backend, init=init), nn.ReLU(backend)),
            names=("x", "y"),
        ),
        nn.Dropout(c.d_keep, backend),
        nn.Maxout(hx + hy, joint, 3, backend, init=init),
        nn.Dropout(c.d_keep, backend),
        nn.Linear(joint, 1, backend, init=init),
    )


def tagging_classifier(backend: nn.Backend, c: NetConfig, cond_dim: int, n_tags: int) -> IgnoreNoise:
    """The multi-label baseline: the generator's condition branch (condition -> 2000 ReLU),
    dropout (keep g_keep), then a linear layer to one logit per tag."""
    hy = c.width(2000)
    init = nn.Uniform(c.g_irange)
    layers = [nn.Linear(cond_dim, hy, backend, init=init), nn.ReLU(backend)]
    if c.g_keep < 1.0:
        layers.append(nn.Dropout(c.g_keep, backend))
    layers.append(nn.Linear(hy, n_tags, backend, init=init))
    return IgnoreNoise(nn.Sequential(*layers))


def build_classifier(backend: nn.Backend, c: NetConfig, cond_dim: int, n_tags: int) -> AdversarialPair:
    """The classifier as the generator of a conditional pair (the discriminator is built,
    tiny, and never trained), so the core loop's ``regression`` rule trains it."""
    return AdversarialPair(tagging_classifier(backend, c, cond_dim, n_tags),
                           tagging_discriminator(backend, NetConfig(width_scale=0.001), cond_dim, n_tags),
                           conditional=True, noise_dim=c.noise_dim)


def build_pair(backend: nn.Backend, c: NetConfig, cond_dim: int, word_dim: int) -> AdversarialPair:
    """The conditional pair (for the regression baseline the discriminator is built but
    never trained)."""
    return AdversarialPair(tagging_generator(backend, c, cond_dim, word_dim),
                           tagging_discriminator(backend, c, cond_dim, word_dim),
                           conditional=True, noise_dim=c.noise_dim)
