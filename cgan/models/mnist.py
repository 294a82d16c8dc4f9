"""The papers' MNIST networks, exactly as published, built from nn layers.

Conditional (Mirza & Osindero 2014, section 4.1):
    generator      z (100) -> 200 ReLU;  y (one-hot 10) -> 1000 ReLU;
                   joined (1200) -> 1200 ReLU -> 784 sigmoid
    discriminator  x (784) -> maxout 240 units x 5 pieces;  y -> maxout 50 x 5;
                   joined (290) -> maxout 240 x 4 -> 1 sigmoid

Unconditional (Goodfellow et al. 2014, the MNIST configuration of its code, mnist.yaml):
    generator      z (100) -> 1200 ReLU -> 1200 ReLU -> 784 sigmoid,
                   output bias initialised from the pixel marginals
    discriminator  x (784) -> maxout 240 x 5 -> maxout 240 x 5 -> 1 sigmoid
    init           U[-0.05, 0.05] in the generator, U[-0.005, 0.005] in the discriminator
    dropout        discriminator only: keep 0.8 on its input, 0.5 on the other layers' inputs

The discriminators end in a linear unit: their output is the logit a, and D = sigmoid(a)
is folded into the losses (nn.losses), which is the same function computed stably.
Where the conditional paper is silent (initialisation, where dropout sits), the choices
are options of :class:`ModelConfig`, documented in docs/mnist.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import nn

from ..core.pair import AdversarialPair

__all__ = ["IMAGE_DIM", "N_CLASSES", "NOISE_DIM", "ModelConfig", "build_pair", "conditional_generator",
           "conditional_discriminator", "unconditional_generator", "unconditional_discriminator"]

IMAGE_DIM = 784
N_CLASSES = 10
NOISE_DIM = 100


@dataclass(frozen=True)
class ModelConfig:
    """Architecture options; the defaults are the published networks."""

    model: str = "cgan"             # "cgan" (conditional) or "gan" (unconditional baseline)
    noise_dim: int = NOISE_DIM
    init: str = "uniform"           # "uniform": U[-irange, irange] per network (the original
                                    # code); "he": N(0, 2 / fan_in) (1 / fan_in at D's output)
    g_irange: float = 0.05          # generator weights ~ U[-g_irange, g_irange]
    d_irange: float = 0.005         # discriminator weights ~ U[-d_irange, d_irange]
    d_input_keep: float = 0.8       # dropout keep probability on the discriminator's input
    d_hidden_keep: float = 0.5      # ... on the inputs of its later layers
    g_hidden_keep: float = 1.0      # ... on the generator's last hidden layer (1 = none)
    marginal_bias: bool = True      # generator output bias = logit of the pixel marginals
    marginal_clip: float = 1e-3     # ... clipped to [c, 1 - c] first (pylearn2 used 1e-7:
                                    # pixels never on in training start at logit -16.1,
                                    # not -6.9)
    # The same networks, smaller: every hidden width times width_scale (quick checks: the
    # tests, tests/golden), and images of image_dim pixels. The published networks have
    # 1.0 and 784.
    width_scale: float = 1.0
    image_dim: int = IMAGE_DIM

    def width(self, published: int) -> int:
        return max(1, round(published * self.width_scale))

    def weights(self, network: str, fan_in: int, output: bool = False):
        """The initialisation of one layer of the generator ("g") or discriminator ("d")."""
        if self.init == "he":
            return nn.Gaussian(math.sqrt((1.0 if output else 2.0) / fan_in))
        return nn.Uniform(self.g_irange if network == "g" else self.d_irange)

    def __post_init__(self):
        if self.model not in ("cgan", "gan"):
            raise ValueError(f"model must be 'cgan' or 'gan', got {self.model!r}")
        if self.init not in ("uniform", "he"):
            raise ValueError(f"init must be 'uniform' or 'he', got {self.init!r}")
        for name in ("d_input_keep", "d_hidden_keep", "g_hidden_keep"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} is a keep probability in (0, 1], got {value}")


def _sigmoid_bias_from_marginals(backend: nn.Backend, marginals, clip: float):
    """logit(mean pixel), the mean clipped to [clip, 1 - clip] (pylearn2's
    init_sigmoid_bias_from_marginals, whose clip is 1e-7)."""
    xp = backend.xp
    p = xp.clip(marginals, clip, 1 - clip)
    return xp.log(p / (1 - p))


def conditional_generator(backend: nn.Backend, c: ModelConfig, output_bias=0.0) -> nn.Sequential:
    hz, hy, joint = c.width(200), c.width(1000), c.width(1200)
    layers = [
        nn.Join(
            nn.Sequential(nn.Linear(c.noise_dim, hz, backend, init=c.weights("g", c.noise_dim)),
                          nn.ReLU(backend)),
            nn.Sequential(nn.Linear(N_CLASSES, hy, backend, init=c.weights("g", N_CLASSES)),
                          nn.ReLU(backend)),
            names=("z", "y"),
        ),
        nn.Linear(hz + hy, joint, backend, init=c.weights("g", hz + hy)),
        nn.ReLU(backend),
    ]
    if c.g_hidden_keep < 1.0:
        layers.append(nn.Dropout(c.g_hidden_keep, backend))
    layers += [nn.Linear(joint, c.image_dim, backend, init=c.weights("g", joint),
                         bias=output_bias),
               nn.Sigmoid(backend)]
    return nn.Sequential(*layers)


def conditional_discriminator(backend: nn.Backend, c: ModelConfig) -> nn.Sequential:
    ux, uy, joint = c.width(240), c.width(50), c.width(240)
    return nn.Sequential(
        nn.Join(
            nn.Sequential(nn.Dropout(c.d_input_keep, backend),
                          nn.Maxout(c.image_dim, ux, 5, backend, init=c.weights("d", c.image_dim))),
            nn.Maxout(N_CLASSES, uy, 5, backend, init=c.weights("d", N_CLASSES)),
            names=("x", "y"),
        ),
        nn.Dropout(c.d_hidden_keep, backend),
        nn.Maxout(ux + uy, joint, 4, backend, init=c.weights("d", ux + uy)),
        nn.Dropout(c.d_hidden_keep, backend),
        nn.Linear(joint, 1, backend, init=c.weights("d", joint, output=True)),
    )


def unconditional_generator(backend: nn.Backend, c: ModelConfig, output_bias=0.0) -> nn.Sequential:
    h = c.width(1200)
    layers = [
        nn.Linear(c.noise_dim, h, backend, init=c.weights("g", c.noise_dim)), nn.ReLU(backend),
        nn.Linear(h, h, backend, init=c.weights("g", h)), nn.ReLU(backend),
    ]
    if c.g_hidden_keep < 1.0:
        layers.append(nn.Dropout(c.g_hidden_keep, backend))
    layers += [nn.Linear(h, c.image_dim, backend, init=c.weights("g", h), bias=output_bias),
               nn.Sigmoid(backend)]
    return nn.Sequential(*layers)


def unconditional_discriminator(backend: nn.Backend, c: ModelConfig) -> nn.Sequential:
    h = c.width(240)
    return nn.Sequential(
        nn.Dropout(c.d_input_keep, backend),
        nn.Maxout(c.image_dim, h, 5, backend, init=c.weights("d", c.image_dim)),
        nn.Dropout(c.d_hidden_keep, backend),
        nn.Maxout(h, h, 5, backend, init=c.weights("d", h)),
        nn.Dropout(c.d_hidden_keep, backend),
        nn.Linear(h, 1, backend, init=c.weights("d", h, output=True)),
    )


def build_pair(backend: nn.Backend, config: ModelConfig, pixel_marginals=None) -> AdversarialPair:
    """Build the generator and discriminator of ``config.model`` on ``backend``.

    ``pixel_marginals`` (784,) sets the generator's output bias when ``marginal_bias``.
    """
    bias = 0.0
    if config.marginal_bias and pixel_marginals is not None:
        bias = _sigmoid_bias_from_marginals(backend, pixel_marginals, config.marginal_clip)
    if config.model == "cgan":
        g = conditional_generator(backend, config, bias)
        d = conditional_discriminator(backend, config)
    else:
        g = unconditional_generator(backend, config, bias)
        d = unconditional_discriminator(backend, config)
    return AdversarialPair(g, d, conditional=config.model == "cgan", noise_dim=config.noise_dim)
