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


def test_unit_norm_gradient_and_output():
    b = f64("numpy", 0)
    layer = nets.UnitNorm(b)
    x = b.normal((5, 4))
    y, _ = layer.forward(x)
    assert abs(b.xp.sqrt((y * y).sum(axis=1)) - 1).max() < 1e-9
    check_layer(layer, x, seed=0)


def test_generator_with_unit_output_gradients():
    c = _small_config(g_output="unit")
    _check_with_margin(lambda b: nets.tagging_generator(b, c, cond_dim=6, word_dim=5),
                       lambda b: (b.normal((4, 4)), b.normal((4, 6))))
    b = f64("numpy", 0)
    out, _ = nets.tagging_generator(b, c, 6, 5).forward((b.normal((3, 4)), b.normal((3, 6))), False)
    assert abs(b.xp.sqrt((out * out).sum(axis=1)) - 1).max() < 1e-6
    with pytest.raises(ValueError, match="g_output"):
        nets.tagging_generator(b, _small_config(g_output="tanh"), 6, 5)


def test_classifier_gradients_and_its_noise_is_ignored():
    c = _small_config()
    _check_with_margin(lambda b: nets.tagging_classifier(b, c, cond_dim=6, n_tags=7).net,
                       lambda b: b.normal((4, 6)))
    b = f64("numpy", 0)
    pair = nets.build_classifier(b, c, cond_dim=6, n_tags=7)
    y = b.normal((3, 6))
    a, cache = pair.generate(b.normal((3, 4)), y, train=False)
    other, _ = pair.generate(b.normal((3, 4)) * 5, y, train=False)
    assert a.shape == (3, 7) and (a == other).all()
    dz, dy = pair.generator.backward(b.normal((3, 7)), cache)
    assert dz is None and dy.shape == (3, 6)
    assert set(pair.generator.params) == {f"net.{k}" for k in pair.generator.net.params}


def test_instance_noise_in_training_only():
    b = f64("numpy", 0)
    layer = nets.GaussianNoise(0.1, b)
    x = b.normal((200, 50))
    y, _ = layer.forward(x, True)
    assert abs(float((y - x).std()) - 0.1) < 0.01
    assert (layer.forward(x, False)[0] == x).all()
    check_layer(layer, x, seed=0)
    g = nets.tagging_generator(b, _small_config(g_output="unit", instance_noise=0.1), 6, 5)
    assert isinstance(g.layers[-1], nets.GaussianNoise)
