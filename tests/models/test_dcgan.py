"""The convolutional nets (cgan.models.dcgan): sizes, shapes and ranges; hand-written
gradients of the reduced-width DCGAN and conditional DCGAN, generator and discriminator
(and the critic without BatchNorm), and of the generator's loss through the discriminator
with the discriminator's gradients untouched."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import nn
from cgan.core.steps import BCE, Wasserstein
from cgan.models.dcgan import D_CONDITIONS, DCGANConfig, build_pair
from nn.gradcheck import check_gradients, check_layer

from ..helpers import KINK_MARGIN, kink_margin


def _counts(layers, kind):
    return [layer for layer in layers if isinstance(layer, kind)]


def test_published_sizes():
    b = nn.get_backend("numpy")
    plain = build_pair(b, DCGANConfig(model="dcgan"))
    cond = build_pair(b, DCGANConfig(model="cdcgan"))
    critic = build_pair(b, DCGANConfig(model="dcgan", d_batchnorm=False))
    # G: Linear 100 -> 128*7*7, BN 128, ConvT 128 -> 64 (no bias), BN 64, ConvT 64 -> 1
    g = (100 * 6272 + 6272) + 2 * 128 + 128 * 64 * 16 + 2 * 64 + 64 * 16 + 1
    assert plain.generator.num_params() == g
    assert cond.generator.num_params() == g + 10 * 6272
    # D: Conv 1 -> 64 (bias), Conv 64 -> 128 (no bias), BN 128, Linear 6272 -> 1
    d = (16 * 64 + 64) + 64 * 128 * 16 + 2 * 128 + 6272 + 1
    assert plain.discriminator.num_params() == d
    assert cond.discriminator.num_params() == d + 10 * 16 * 64
    # the critic: no BatchNorm, a bias on its second convolution instead
    assert critic.discriminator.num_params() == d - 2 * 128 + 128
    assert not _counts(critic.discriminator.layers, nn.BatchNorm)
    assert len(_counts(plain.discriminator.layers, nn.BatchNorm)) == 1
    assert set(plain.generator.buffers) == {"2.running_mean", "2.running_var", "5.running_mean",
                                            "5.running_var"}
    assert not _counts(plain.discriminator.layers, nn.Dropout)
    # the projection discriminator: no label planes; the label's embedding (10 x 6272) at
    # the output instead
    projection = build_pair(b, DCGANConfig(model="cdcgan", d_condition="projection"))
    assert isinstance(projection.discriminator, nn.Projection)
    assert projection.discriminator.num_params() == d + 10 * 6272
    assert projection.generator.num_params() == cond.generator.num_params()
    # every weight ~ N(0, 0.02^2)
    weights = np.concatenate([b.to_numpy(v).ravel() for k, v in plain.generator.params.items()
                              if k.endswith("W")])
    assert abs(weights.std() - 0.02) < 0.001 and abs(weights.mean()) < 0.001


@pytest.mark.parametrize("model, d_condition", [("dcgan", "planes"), ("cdcgan", "planes"),
                                               ("cdcgan", "projection")])
def test_shapes_and_ranges(backend_name, model, d_condition):
    b = nn.get_backend(backend_name, seed=1)
    pair = build_pair(b, DCGANConfig(model=model, d_condition=d_condition))
    z = b.normal((7, 100))
    y = b.xp.eye(10, dtype=b.dtype)[b.xp.arange(7)] if pair.conditional else None
    for train in (True, False):
        x, _ = pair.generate(z, y, train=train)
        assert x.shape == (7, 784) and x.dtype == np.float32
        assert float(x.min()) >= 0 and float(x.max()) <= 1
        logits, _ = pair.discriminate(x, y, train=train)
        assert logits.shape == (7, 1) and logits.dtype == np.float32


def test_options_are_checked():
    with pytest.raises(ValueError, match="no dropout: d_hidden_keep must be 1"):
        DCGANConfig(d_hidden_keep=0.5)
    with pytest.raises(ValueError, match="multiple of 4"):
        DCGANConfig(image_side=30)
    with pytest.raises(ValueError, match="dcgan, cdcgan"):
        DCGANConfig(model="cgan")
    with pytest.raises(ValueError, match="d_condition must be one of planes, projection"):
        DCGANConfig(d_condition="embedding")


def test_projection_reads_the_label():
    """The projection discriminator's score moves with the label, and by the inner product
    of D's features with the difference of the two labels' embeddings."""
    b = nn.get_backend("numpy", dtype="float64", seed=5)
    d = build_pair(b, DCGANConfig(model="cdcgan", d_condition="projection", width_scale=0.1)).discriminator
    x = b.uniform((3, 784))
    eye = b.xp.eye(10)
    s3, _ = d.forward((x, eye[[3, 3, 3]]), train=False)
    s7, _ = d.forward((x, eye[[7, 7, 7]]), train=False)
    h, _ = d.features.forward(x, train=False)
    V = d.params["V"]
    np.testing.assert_allclose(s3 - s7, h @ (V[3] - V[7])[:, None], rtol=1e-12)
    assert np.abs(s3 - s7).min() > 0


# -- gradient checks at reduced width ---------------------------------------------------------
small = dict(model=st.sampled_from(["dcgan", "cdcgan"]), width_scale=st.sampled_from([0.02, 0.03, 0.05]),
             batch=st.integers(2, 4), batchnorm=st.booleans(), seed=st.integers(0, 2**31 - 1),
             d_condition=st.sampled_from(D_CONDITIONS))


def _small_pair(backend_name, model, width_scale, batchnorm, seed, d_condition="planes"):
    """8x8 images, noise of width 3, channels 128 and 64 times width_scale (2 to 6), in
    float64. The weights are redrawn wider than N(0, 0.02^2), the biases and BatchNorm's
    gamma and beta away from 0 and 1, so that every gradient is well above the checker's
    absolute tolerance."""
    b = nn.get_backend(backend_name, dtype="float64", seed=seed)
    config = DCGANConfig(model=model, width_scale=width_scale, image_side=8, noise_dim=3,
                         d_batchnorm=batchnorm, d_condition=d_condition)
    pair = build_pair(b, config)
    for net in (pair.generator, pair.discriminator):
        for key, p in net.params.items():
            if key.endswith("gamma"):
                p[...] = b.normal(p.shape, mean=1.0, std=0.3)
            else:
                p[...] = b.normal(p.shape, std=0.5 if key.endswith("W") else 0.3)
    return b, pair


def _inputs(b, pair, batch, first_width):
    first = b.normal((batch, first_width)) if first_width == 3 else b.uniform((batch, first_width))
    y = b.xp.eye(10)[b.xp.arange(batch) % 10]
    return ((first, y) if pair.conditional else first), y


@pytest.mark.parametrize("network", ["generator", "discriminator"])
@given(**small)
def test_dcgan_gradients_at_reduced_width(backend_name, network, model, width_scale, batch, batchnorm, seed,
                                          d_condition):
    """The generator (input: noise of width 3) and the discriminator (input: 8x8 images as
    rows of 64), each with the one-hot labels when conditional: every parameter and the
    input, in training mode (BatchNorm's batch statistics, and their coupling)."""
    b, pair = _small_pair(backend_name, model, width_scale, batchnorm, seed, d_condition)
    net = getattr(pair, network)
    x, _ = _inputs(b, pair, batch, 3 if network == "generator" else 64)
    assume(kink_margin(net, x, seed) > KINK_MARGIN)
    results = check_layer(net, x, seed=seed)
    checked = {r.name.split("[direction")[0] for r in results}
    assert set(net.params) <= checked


@given(objective=st.sampled_from(["nonsaturating", "saturating", "wasserstein"]), **small)
def test_generator_loss_through_the_discriminator(backend_name, objective, model, width_scale, batch,
                                                   batchnorm, seed, d_condition):
    """d/d(theta_G) of the generator's loss on D(G(z | y) | y), computed as the training step
    does (AdversarialPair.backward_to_generator: D's backward with param_grads=False),
    against finite differences; D's gradients stay zero."""
    loss_of = (Wasserstein() if objective == "wasserstein"
               else BCE(saturating=objective == "saturating")).generator
    b, pair = _small_pair(backend_name, model, width_scale, batchnorm and objective != "wasserstein", seed,
                          d_condition)
    z_in, y = _inputs(b, pair, batch, 3)
    y = y if pair.conditional else None
    z = z_in[0] if pair.conditional else z_in
    assume(kink_margin(pair.generator, z_in, seed) > KINK_MARGIN)
    fake, g_cache = pair.generate(z, y)
    assume(kink_margin(pair.discriminator, (fake, y) if pair.conditional else fake, seed) > KINK_MARGIN)
    scores, d_cache = pair.discriminate(fake, y)

    pair.discriminator.zero_grads()
    _, score_grad = loss_of(scores)
    dfake = pair.backward_to_generator(score_grad, d_cache, g_cache)
    assert dfake.shape == fake.shape
    for key, grad in pair.discriminator.grads.items():
        assert not b.xp.any(grad), f"the generator's step touched D's gradient {key}"

    def loss():
        out, _ = pair.generate(z, y)
        return loss_of(pair.discriminate(out, y)[0])[0]

    analytic = {key: pair.generator.grads[key].copy() for key in pair.generator.params}
    check_gradients(loss, dict(pair.generator.params), analytic, b, seed=seed)


def test_float32_stays_float32(backend_name):
    b = nn.get_backend(backend_name, seed=3)
    pair = build_pair(b, DCGANConfig(model="cdcgan", width_scale=0.1))
    z, y = b.normal((4, 100)), b.xp.eye(10, dtype=b.dtype)[b.xp.arange(4)]
    fake, g_cache = pair.generate(z, y)
    logits, d_cache = pair.discriminate(fake, y)
    _, grad = nn.generator_loss(logits)
    dfake = pair.backward_to_generator(grad, d_cache, g_cache)
    assert fake.dtype == logits.dtype == dfake.dtype == np.float32
    for net in (pair.generator, pair.discriminator):
        assert all(v.dtype == np.float32 for v in {**net.grads, **net.buffers}.values())


def test_batchnorm_discriminator_is_not_row_by_row(backend_name):
    """Why the DCGAN's discriminator step takes two passes: with BatchNorm, D's output on the
    real rows changes when the generated rows share their batch."""
    b = nn.get_backend(backend_name, dtype="float64", seed=5)
    pair = build_pair(b, DCGANConfig(model="dcgan", width_scale=0.1))
    real, fake = b.uniform((6, 784)), b.uniform((6, 784)) * 0.2
    alone, _ = pair.discriminate(real)
    together, _ = pair.discriminate(b.xp.concatenate([real, fake]))
    assert not np.allclose(b.to_numpy(alone), b.to_numpy(together[:6]))
    critic = build_pair(b, DCGANConfig(model="dcgan", width_scale=0.1, d_batchnorm=False))
    alone, _ = critic.discriminate(real)
    together, _ = critic.discriminate(b.xp.concatenate([real, fake]))
    np.testing.assert_allclose(b.to_numpy(alone), b.to_numpy(together[:6]), rtol=1e-12)
