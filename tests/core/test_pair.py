"""AdversarialPair (cgan.core.pair): conditional or not, said when built."""

from __future__ import annotations

import numpy as np
import pytest

import nn
from cgan.core.pair import AdversarialPair
from cgan.models.mnist import ModelConfig, build_pair


def _pair(model):
    b = nn.get_backend("numpy", "float64", seed=1)
    return b, build_pair(b, ModelConfig(model=model, width_scale=0.05, image_dim=12, noise_dim=4,
                                        d_input_keep=1.0, d_hidden_keep=1.0, g_irange=0.5, d_irange=0.5))


def test_the_condition_is_required_or_refused():
    b, cgan = _pair("cgan")
    _, gan = _pair("gan")
    assert cgan.conditional and not gan.conditional
    z, y = b.normal((3, 4)), b.xp.eye(10)[[1, 2, 3]]
    with pytest.raises(ValueError, match="needs the condition"):
        cgan.generate(z)
    with pytest.raises(ValueError, match="takes no condition"):
        gan.generate(z, y)
    assert cgan.generate(z, y)[0].shape == gan.generate(z)[0].shape == (3, 12)
    assert "unconditional" in repr(gan) and repr(cgan).startswith("AdversarialPair(conditional")


@pytest.mark.parametrize("model", ["cgan", "gan"])
def test_backward_to_generator_reaches_g_and_leaves_d_alone(model):
    """The gradient of a loss on D's scores reaches G's parameters (checked against a
    central difference along a random direction) and D's gradients stay untouched."""
    b, pair = _pair(model)
    z = b.normal((5, 4))
    y = b.xp.eye(10)[np.arange(5)] if pair.conditional else None
    for g in pair.discriminator.grads.values():
        g[...] = 7.0

    def loss():
        scores, _ = pair.discriminate(pair.generate(z, y)[0], y)
        return float(nn.generator_loss(scores)[0])

    fake, g_cache = pair.generate(z, y)
    scores, d_cache = pair.discriminate(fake, y)
    _, grad = nn.generator_loss(scores)
    dx = pair.backward_to_generator(grad, d_cache, g_cache)
    assert dx.shape == fake.shape
    assert all((g == 7.0).all() for g in pair.discriminator.grads.values())
    rng = np.random.default_rng(0)
    direction = {k: rng.standard_normal(v.shape) for k, v in pair.generator.params.items()}
    analytic = sum(float((pair.generator.grads[k] * direction[k]).sum()) for k in direction)
    eps = 1e-6
    for k in direction:
        pair.generator.params[k] += eps * direction[k]
    up = loss()
    for k in direction:
        pair.generator.params[k] -= 2 * eps * direction[k]
    down = loss()
    assert analytic == pytest.approx((up - down) / (2 * eps), rel=1e-6, abs=1e-10)


def test_a_pair_of_any_networks():
    b = nn.get_backend("numpy", seed=0)
    pair = AdversarialPair(nn.Linear(2, 3, b), nn.Linear(3, 1, b), conditional=False, noise_dim=2)
    x, _ = pair.generate(b.normal((4, 2)))
    assert pair.discriminate(x)[0].shape == (4, 1) and pair.noise_dim == 2
