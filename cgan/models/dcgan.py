"""Convolutional adversarial nets for 28x28 digits: DCGAN (Radford et al. 2015) and its
conditional form, built from nn layers (docs/dcgan.md gives every choice and its reason).

    generator      z (100) [+ one-hot y (10)] -> Linear -> 128 x 7 x 7, BatchNorm, ReLU
                   -> ConvTranspose 4x4 stride 2 -> 64 x 14 x 14, BatchNorm, ReLU
                   -> ConvTranspose 4x4 stride 2 -> 1 x 28 x 28, sigmoid -> 784 pixels
    discriminator  784 pixels -> 1 x 28 x 28 [+ 10 one-hot label planes]
                   -> Conv 4x4 stride 2 -> 64 x 14 x 14, LeakyReLU 0.2
                   -> Conv 4x4 stride 2 -> 128 x 7 x 7, BatchNorm, LeakyReLU 0.2
                   -> Linear -> 1 logit
    init           every convolution and linear weight ~ N(0, 0.02^2), biases 0;
                   BatchNorm gamma 1, beta 0

Images enter and leave as (batch, 784) rows in [0, 1], like every other network of the
MNIST experiment: the nets reshape them to (batch, 1, 28, 28) inside (nn.Reshape,
nn.Flatten), so the data, Parzen estimate, classifier and plots are unchanged. The output
is a sigmoid on those [0, 1] pixels where the paper had tanh on pixels scaled to [-1, 1]:
sigmoid(a) = (1 + tanh(a / 2)) / 2, the same family.

The conditional form (``cdcgan``) puts the label in as the conditional paper did, as an
input of both networks: concatenated to z in the generator (a one-hot row times the
Linear layer's weight is a learned per-class embedding of the 7x7 maps), and as ten
constant planes beside the image's channel in the discriminator (nn.Planes; each label
plane through the first convolution is a learned per-class bias map).

``d_batchnorm=False`` drops the discriminator's BatchNorm (the WGAN critic: weight
clipping and batch statistics do not mix, and the critic's output for one image should
not depend on the rest of its batch); its convolution then gets a bias.
"""

from __future__ import annotations

from dataclasses import dataclass

import nn

from ..core.pair import AdversarialPair

__all__ = ["DCGAN_MODELS", "D_CONDITIONS", "DCGANConfig", "build_pair", "generator", "discriminator",
           "INIT_STD", "KERNEL", "LEAK"]

DCGAN_MODELS = ("dcgan", "cdcgan")
D_CONDITIONS = ("planes", "projection")  # where the conditional discriminator reads the label
N_CLASSES = 10
INIT_STD = 0.02   # N(0, 0.02^2) for every weight (the DCGAN paper)
KERNEL = 4        # 4x4 kernels, stride 2, padding 1: 28 -> 14 -> 7 and back, exactly
LEAK = 0.2        # LeakyReLU slope in the discriminator (the DCGAN paper)


@dataclass(frozen=True)
class DCGANConfig:
    """The DCGAN networks' options; the defaults are the networks of docs/dcgan.md.

    ``width_scale`` multiplies every channel count (quick checks: the tests), and
    ``image_side`` (a multiple of 4) sets the image size; the experiment's are 1.0 and 28.
    The three keep probabilities exist so that a dropout option given to a DCGAN run is
    an error rather than silently ignored: these networks have no dropout.
    """

    model: str = "cdcgan"           # "cdcgan" (conditional) or "dcgan"
    noise_dim: int = 100
    width_scale: float = 1.0
    image_side: int = 28
    d_batchnorm: bool = True        # False: the WGAN critic, without batch normalisation
    d_condition: str = "planes"     # cdcgan: the label as input planes, or by projection
    d_input_keep: float = 1.0
    d_hidden_keep: float = 1.0
    g_hidden_keep: float = 1.0

    def __post_init__(self):
        if self.model not in DCGAN_MODELS:
            raise ValueError(f"model must be one of {', '.join(DCGAN_MODELS)}, got {self.model!r}")
        if self.image_side < 4 or self.image_side % 4:
            raise ValueError(f"image_side must be a positive multiple of 4, got {self.image_side}")
        if self.d_condition not in D_CONDITIONS:
            raise ValueError(f"d_condition must be one of {', '.join(D_CONDITIONS)}, got "
                             f"{self.d_condition!r}")
        if self.noise_dim < 1 or not self.width_scale > 0:
            raise ValueError(f"noise_dim and width_scale must be positive, got {self.noise_dim}, "
                             f"{self.width_scale}")
        for name in ("d_input_keep", "d_hidden_keep", "g_hidden_keep"):
            if getattr(self, name) != 1.0:
                raise ValueError(f"the DCGAN networks have no dropout: {name} must be 1, "
                                 f"got {getattr(self, name)}")

    @property
    def conditional(self) -> bool:
        return self.model == "cdcgan"

    def channels(self, published: int) -> int:
        return max(1, round(published * self.width_scale))


def _weights():
    return nn.Gaussian(INIT_STD)


def generator(backend: nn.Backend, c: DCGANConfig) -> nn.Sequential:
    """z (or the pair (z, y)) -> (batch, side * side) pixels in (0, 1)."""
    wide, narrow = c.channels(128), c.channels(64)
    quarter = c.image_side // 4
    n_in = c.noise_dim + (N_CLASSES if c.conditional else 0)
    up = dict(stride=2, padding=1, init=_weights())
    layers = [nn.Join(nn.Identity(backend), nn.Identity(backend), names=("z", "y"))] if c.conditional else []
    layers += [
        nn.Linear(n_in, wide * quarter * quarter, backend, init=_weights()),
        nn.Reshape((wide, quarter, quarter), backend),
        nn.BatchNorm(wide, backend, axis="channels"),
        nn.ReLU(backend),
        nn.ConvTranspose2d(wide, narrow, KERNEL, backend, bias=False, **up),   # 7 -> 14
        nn.BatchNorm(narrow, backend, axis="channels"),
        nn.ReLU(backend),
        nn.ConvTranspose2d(narrow, 1, KERNEL, backend, **up),                  # 14 -> 28
        nn.Sigmoid(backend),
        nn.Flatten(backend),
    ]
    return nn.Sequential(*layers)


def discriminator(backend: nn.Backend, c: DCGANConfig) -> nn.Sequential:
    """x (or the pair (x, y)) of (batch, side * side) pixels -> (batch, 1) logits."""
    narrow, wide = c.channels(64), c.channels(128)
    side, quarter = c.image_side, c.image_side // 4
    down = dict(stride=2, padding=1, init=_weights())
    image = nn.Reshape((1, side, side), backend)
    planes = c.conditional and c.d_condition == "planes"
    if planes:
        layers = [nn.Join(image, nn.Planes(side, side, backend), names=("x", "y"))]
        in_ch = 1 + N_CLASSES
    else:
        layers, in_ch = [image], 1
    layers += [
        nn.Conv2d(in_ch, narrow, KERNEL, backend, **down),                     # 28 -> 14
        nn.LeakyReLU(backend, LEAK),
        nn.Conv2d(narrow, wide, KERNEL, backend, bias=not c.d_batchnorm, **down),  # 14 -> 7
    ]
    if c.d_batchnorm:
        layers.append(nn.BatchNorm(wide, backend, axis="channels"))
    layers += [
        nn.LeakyReLU(backend, LEAK),
        nn.Flatten(backend),
    ]
    width = wide * quarter * quarter
    if c.conditional and c.d_condition == "projection":
        return nn.Projection(nn.Sequential(*layers), width, N_CLASSES, init=_weights())
    return nn.Sequential(*layers, nn.Linear(width, 1, backend, init=_weights()))


def build_pair(backend: nn.Backend, config: DCGANConfig, pixel_marginals=None) -> AdversarialPair:
    """The generator and discriminator of ``config.model`` on ``backend``.

    ``pixel_marginals`` is accepted for the MLPs' signature and not used: the DCGAN
    generator's output bias is one number per channel, and starts at 0.
    """
    return AdversarialPair(generator(backend, config), discriminator(backend, config),
                           conditional=config.conditional, noise_dim=config.noise_dim)
