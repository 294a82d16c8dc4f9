"""The image-tagging networks (cgan.models.tagging): gradients, the published widths."""

from __future__ import annotations

import pytest

import nn
from cgan.experiments.tagging.config import TaggingConfig
from cgan.models import tagging as nets
from nn.gradcheck import check_layer

from ..helpers import KINK_MARGIN, f64, kink_margin


def _small_config(**kw):
    return nets.NetConfig(noise_dim=4, width_scale=0.01, **kw)


def _check_with_margin(build, inputs, seeds=range(20)):
    """Gradient-check at the first seed whose forward pass stays away from every kink."""
    for seed in seeds:
        b = f64("numpy", seed)
        net = build(b)
        x = inputs(b)
        if kink_margin(net, x, seed) > KINK_MARGIN:
            check_layer(net, x, seed=seed)
            return
    pytest.fail("no seed kept the inputs away from the kinks")


def test_generator_gradients():
    c = _small_config()
    _check_with_margin(lambda b: nets.tagging_generator(b, c, cond_dim=6, word_dim=5),
                       lambda b: (b.normal((4, 4)), b.normal((4, 6))))


def test_discriminator_gradients():
    c = _small_config(d_irange=0.5)
    _check_with_margin(lambda b: nets.tagging_discriminator(b, c, cond_dim=6, word_dim=5),
                       lambda b: (b.normal((4, 5)), b.normal((4, 6))))


def test_published_widths():
    b = nn.get_backend("numpy", seed=0)
    pair = nets.build_pair(b, TaggingConfig().net_config(), cond_dim=1280, word_dim=200)
    g, d = pair.generator, pair.discriminator
    assert g.params["0.z.0.W"].shape == (100, 500)
    assert g.params["0.y.0.W"].shape == (1280, 2000)
    assert g.layers[-1].params["W"].shape == (2500, 200)
    assert d.params["0.x.0.W"].shape == (200, 500)
    assert d.params["0.y.0.W"].shape == (1280, 1200)
    maxout = d.layers[2]
    assert (maxout.n_in, maxout.units, maxout.pieces) == (1700, 1000, 3)
    assert d.layers[-1].params["W"].shape == (1000, 1)
    out, _ = pair.generate(b.normal((3, 100)), b.normal((3, 1280)))
    logit, _ = pair.discriminate(out, b.normal((3, 1280)))
    assert out.shape == (3, 200) and logit.shape == (3, 1)
