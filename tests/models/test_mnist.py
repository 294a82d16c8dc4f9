"""The papers' MNIST networks (cgan.models.mnist): the published sizes, shapes and ranges,
hand-written gradients at reduced width, the output bias from the pixel marginals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import nn
from cgan.models.mnist import ModelConfig, build_pair
from nn.gradcheck import check_layer

from ..helpers import KINK_MARGIN, kink_margin


def test_published_sizes():
    b = nn.get_backend("numpy")
    cgan = build_pair(b, ModelConfig(model="cgan"))
    gan = build_pair(b, ModelConfig(model="gan"))
    # z -> 200, y -> 1000, 1200 -> 1200, 1200 -> 784
    assert cgan.generator.num_params() == (100 * 200 + 200) + (10 * 1000 + 1000) \
        + (1200 * 1200 + 1200) + (1200 * 784 + 784)
    # maxout 240x5 on x, 50x5 on y, 240x4 joint, 240 -> 1
    assert cgan.discriminator.num_params() == (784 * 1200 + 1200) + (10 * 250 + 250) \
        + (290 * 960 + 960) + (240 + 1)
    assert gan.generator.num_params() == (100 * 1200 + 1200) + (1200 * 1200 + 1200) + (1200 * 784 + 784)
    assert gan.discriminator.num_params() == (784 * 1200 + 1200) + (240 * 1200 + 1200) + (240 + 1)
    dropouts = [layer.keep_prob for layer in gan.discriminator.layers if isinstance(layer, nn.Dropout)]
    assert dropouts == [0.8, 0.5, 0.5]


@pytest.mark.parametrize("model", ["cgan", "gan"])
def test_shapes_and_ranges(backend_name, model):
    b = nn.get_backend(backend_name, seed=1)
    marginals = b.uniform((784,))
    pair = build_pair(b, ModelConfig(model=model), marginals)
    z = b.uniform((7, 100))
    y = b.xp.eye(10, dtype=b.dtype)[b.xp.arange(7)]
    y = y if pair.conditional else None  # an unconditional pair takes no condition
    x, _ = pair.generate(z, y)
    assert x.shape == (7, 784) and x.dtype == np.float32
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    logits, _ = pair.discriminate(x, y)
    assert logits.shape == (7, 1) and logits.dtype == np.float32
    # The output bias starts at the logit of the pixel marginals.
    bias = b.to_numpy(pair.generator.layers[-2].params["b"])
    p = np.clip(b.to_numpy(marginals), 1e-3, 1 - 1e-3)
    np.testing.assert_allclose(bias, np.log(p / (1 - p)), rtol=1e-4, atol=1e-5)


small = dict(width_scale=st.sampled_from([0.01, 0.02, 0.03]), batch=st.integers(1, 4),
             seed=st.integers(0, 2**31 - 1))


def _small_pair(backend_name, model, width_scale, seed):
    b = nn.get_backend(backend_name, dtype="float64", seed=seed)
    # Wider initial ranges than the papers', so that no layer's output is ~0 and every
    # gradient is well above the checker's absolute tolerance.
    config = ModelConfig(model=model, width_scale=width_scale, image_dim=20, noise_dim=5,
                         g_irange=0.7, d_irange=0.7, g_hidden_keep=0.5)
    return b, build_pair(b, config, b.uniform((20,)))


@pytest.mark.parametrize("network", ["generator", "discriminator"])
@settings(max_examples=15)
@given(model=st.sampled_from(["cgan", "gan"]), **small)
def test_exact_networks_gradients_at_reduced_width(backend_name, network, model, width_scale, batch, seed):
    """The generator (input: noise of width 5) and the discriminator (input: images of
    width 20), each with the one-hot labels when conditional."""
    b, pair = _small_pair(backend_name, model, width_scale, seed)
    net = getattr(pair, network)
    first = b.uniform((batch, 5 if network == "generator" else 20))
    y = b.xp.eye(10)[b.xp.arange(batch) % 10]
    x = (first, y) if pair.conditional else first
    assume(kink_margin(net, x, seed) > KINK_MARGIN)
    check_layer(net, x, seed=seed)


def test_marginal_clip_sets_the_output_bias():
    b = nn.get_backend("numpy", seed=0)
    marginals = b.asarray(np.array([0.0, 1e-5, 0.5, 1.0] + [0.3] * 780))
    for clip in (1e-7, 1e-3):
        pair = build_pair(b, ModelConfig(model="gan", marginal_clip=clip), marginals)
        bias = b.to_numpy(pair.generator.layers[-2].params["b"]).astype(np.float64)
        p = np.clip(b.to_numpy(marginals).astype(np.float64), clip, 1 - clip)
        # (the upper clip, 1 - 1e-7, is not representable in float32; no MNIST pixel is
        # always on, so only the lower one matters)
        np.testing.assert_allclose(bias[:3], np.log(p / (1 - p))[:3], rtol=2e-4, atol=1e-6)
    assert bias[0] == pytest.approx(math.log(1e-3 / (1 - 1e-3)), rel=1e-4)
