"""The image-tagging networks (Mirza & Osindero 2014, section 4.2), input widths following
the data:

    generator      z (noise_dim, Gaussian) -> 500 ReLU;  condition -> 2000 ReLU;
                   joined (2500) -> [dropout] -> linear word_dim (a word vector)
    discriminator  x (word_dim, a word vector) -> 500 ReLU;  condition -> 1200 ReLU;
                   joined (1700) -> dropout -> maxout 1000 units x 3 pieces -> dropout -> 1
                   (a logit: the sigmoid lives in the loss, nn.losses)

Weights start in U[-g_irange, g_irange] (generator) and U[-d_irange, d_irange]
(discriminator), biases at zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import nn

from ..core.pair import AdversarialPair

__all__ = ["NetConfig", "tagging_generator", "tagging_discriminator", "build_pair"]


@dataclass(frozen=True)
class NetConfig:
    """The networks' options (fields of cgan.experiments.tagging.config.TaggingConfig)."""

    noise_dim: int = 100
    g_irange: float = 0.05
    d_irange: float = 0.005
    d_keep: float = 0.5          # dropout keep probability before D's joint maxout and its output
    g_keep: float = 0.5          # ... on the input of G's joint linear layer (1 = none)
    width_scale: float = 1.0     # every hidden width times this (1 = the paper's)

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


def build_pair(backend: nn.Backend, c: NetConfig, cond_dim: int, word_dim: int) -> AdversarialPair:
    """The conditional pair (for the regression baseline the discriminator is built but
    never trained)."""
    return AdversarialPair(tagging_generator(backend, c, cond_dim, word_dim),
                           tagging_discriminator(backend, c, cond_dim, word_dim),
                           conditional=True, noise_dim=c.noise_dim)
