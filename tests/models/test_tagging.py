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


def test_vocab_mixture_gradient_and_its_samples_can_be_tag_vectors():
    b = f64("numpy", 0)
    vectors = b.normal((7, 5))
    layer = nets.VocabMixture(vectors, b)
    check_layer(layer, b.normal((4, 7)), seed=0)
    # a peaked softmax is one word's vector; equal logits the vocabulary's mean
    logits = b.xp.zeros((2, 7))
    logits[0, 3] = 60.0
    y, _ = layer.forward(logits)
    assert abs(y[0] - vectors[3]).max() < 1e-12
    assert abs(y[1] - vectors.mean(axis=0)).max() < 1e-12
    with pytest.raises(ValueError, match="word vectors"):
        nets.VocabMixture(None, b)


def test_generator_with_vocab_output():
    c = _small_config(g_output="vocab")
    vectors = f64("numpy", 1).normal((7, 5))
    _check_with_margin(lambda b: nets.tagging_generator(b, c, cond_dim=6, word_dim=5, vocab_vectors=vectors),
                       lambda b: (b.normal((4, 4)), b.normal((4, 6))))
    b = f64("numpy", 0)
    g = nets.tagging_generator(b, c, 6, 5, vocab_vectors=vectors)
    assert g.layers[-3].params["W"].shape[1] == 7   # one logit per word
    out, _ = g.forward((b.normal((3, 4)), b.normal((3, 6))), False)
    assert out.shape == (3, 5) and abs(b.xp.sqrt((out * out).sum(axis=1)) - 1).max() < 1e-9
    with pytest.raises(ValueError, match="vocab"):
        nets.tagging_generator(b, c, 6, 5)


def test_gumbel_output_gradient_and_draws_follow_the_softmax():
    b = f64("numpy", 0)
    vectors = b.xp.eye(4)          # the sample's argmax is the drawn word
    layer = nets.VocabMixture(vectors, b, temperature=0.5, gumbel=True)
    check_layer(layer, b.normal((3, 4)), seed=0)
    logits = b.xp.log(b.xp.array([[0.1, 0.2, 0.3, 0.4]]))
    y, (p, _) = layer.forward(b.xp.repeat(logits, 20000, axis=0), False)   # drawn in evaluation too
    freq = b.xp.bincount(y.argmax(axis=1), minlength=4) / 20000
    assert abs(freq - b.xp.array([0.1, 0.2, 0.3, 0.4])).max() < 0.015   # about 4.5 standard errors
    assert float(p.max(axis=1).mean()) > 0.5        # tau 0.5: nearly one-hot
    with pytest.raises(ValueError, match="temperature"):
        nets.VocabMixture(vectors, b, temperature=0.0)
    g = nets.tagging_generator(b, _small_config(g_output="gumbel", temperature=0.5), 6, 4, vocab_vectors=vectors)
    assert g.layers[-2].gumbel and g.layers[-2].temperature == 0.5


def test_straight_through_gumbel_outputs_word_vectors_and_the_soft_gradient():
    b = f64("numpy", 0)
    vectors = b.normal((6, 3))
    soft = nets.VocabMixture(vectors, b, temperature=0.5, gumbel=True)
    hard = nets.VocabMixture(vectors, b, temperature=0.5, gumbel=True, hard=True)
    logits = b.normal((5, 6))
    b.reseed(3)
    y_soft, cache = soft.forward(logits)
    b.reseed(3)
    y_hard, cache_hard = hard.forward(logits)
    p = cache[0]
    assert (p == cache_hard[0]).all()
    assert (y_hard == vectors[p.argmax(axis=1)]).all()          # exactly a word's vector
    assert abs(y_hard - y_soft).max() > 1e-3
    dy = b.normal((5, 3))
    assert (hard.backward(dy, cache_hard) == soft.backward(dy, cache)).all()


def test_marginal_bias_starts_the_draws_at_the_tag_frequencies():
    b = f64("numpy", 0)
    vectors = b.xp.eye(4)
    frequencies = b.xp.array([10, 20, 30, 0])
    c = _small_config(g_output="gumbel_hard", marginal_bias=True, g_irange=1e-6)   # logits ~ bias
    g = nets.tagging_generator(b, c, 6, 4, vocab_vectors=vectors, tag_frequencies=frequencies)
    out, _ = g.forward((b.normal((20000, 4)), b.normal((20000, 6))), False)
    freq = b.xp.bincount(out.argmax(axis=1), minlength=4) / 20000
    expected = b.xp.array([10, 20, 30, 0.5]) / 60.5
    assert abs(freq - expected).max() < 0.015
    with pytest.raises(ValueError, match="frequencies"):
        nets.tagging_generator(b, c, 6, 4, vocab_vectors=vectors)


def test_the_score_function_gradient_of_the_hard_draw_is_unbiased():
    """Averaged over many draws, (f(w) - mean f) d log P(w) / dl estimates the exact
    gradient of E_w f(w) = sum_w softmax(l)_w f_w, which is softmax(l) * (f - softmax(l) . f)."""
    b = f64("numpy", 0)
    xp = b.xp
    vectors = xp.eye(4)
    layer = nets.VocabMixture(vectors, b, temperature=0.5, gumbel=True, hard=True)
    logits = xp.array([0.3, -0.2, 0.9, 0.0])
    f = xp.array([1.0, 3.0, -2.0, 0.5])
    n = 200000
    y, cache = layer.forward(xp.repeat(logits[None, :], n, axis=0))
    drawn = f[y.argmax(axis=1)]
    estimate = layer.log_prob_gradient(cache, (drawn - drawn.mean()) / n).sum(axis=0)
    q = xp.exp(logits) / xp.exp(logits).sum()
    exact = q * (f - q @ f)
    assert abs(estimate - exact).max() < 0.02          # about 4 standard errors at n = 200,000
    assert abs(exact).max() > 0.3                      # and the gradient is not small
    with pytest.raises(ValueError, match="gumbel_hard"):
        nets.VocabMixture(vectors, b, gumbel=True).log_prob_gradient(cache, drawn)
