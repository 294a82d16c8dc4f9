"""The adversarial steps (cgan.core.steps) on small MNIST networks in float64: the
discriminator step's one pass equals two, the simultaneous step takes both gradients at the
same parameters and through the same dropped-out pass."""

from __future__ import annotations

import numpy as np
import pytest

import nn
from cgan.core.noise import one_hot
from cgan.core.optim import Optimizers
from cgan.core.steps import BCE, Minibatch, Wasserstein, discriminator_step, generator_step, simultaneous_step
from cgan.models.mnist import ModelConfig, build_pair


# -- the discriminator step: one batch of real and generated rows equals two passes --------
@pytest.mark.parametrize("model", ["cgan", "gan"])
def test_discriminator_step_equals_two_separate_passes(model):
    """discriminator_step runs D once on [x; G(z)] (a speed choice); without dropout its
    update must equal the one from two passes, real then generated, each weighted 1/2."""
    b = nn.get_backend("numpy", dtype="float64", seed=3)
    config = ModelConfig(model=model, width_scale=0.05, image_dim=12, d_input_keep=1.0,
                         d_hidden_keep=1.0, g_hidden_keep=1.0)
    pair = build_pair(b, config)
    d = pair.discriminator
    x = b.uniform((7, 12))
    y = one_hot(b, b.xp.arange(7) % 10, 10) if model == "cgan" else None
    z = b.normal((7, config.noise_dim))
    before = {k: v.copy() for k, v in d.params.items()}

    # reference: two passes, the losses' gradients halved, then one SGD step (lr 1, no momentum)
    fake, _ = pair.generate(z, y)
    real_logits, real_cache = pair.discriminate(x, y)
    fake_logits, fake_cache = pair.discriminate(fake, y)
    _, real_grad, fake_grad = nn.discriminator_loss(real_logits, fake_logits)
    d.zero_grads()
    d.backward(0.5 * real_grad, real_cache, input_grad=False)
    d.backward(0.5 * fake_grad, fake_cache, input_grad=False)
    expected = {k: before[k] - g for k, g in d.grads.items()}

    opt = nn.SGD(d.params, d.grads, lr=1.0, momentum=0.0)
    out = discriminator_step(pair, Optimizers(d=opt), Minibatch(x, y, z, y), BCE())
    d_real, d_fake = out["d_real"], out["d_fake"]
    for key, value in d.params.items():
        np.testing.assert_allclose(value, expected[key], rtol=1e-12, atol=1e-14, err_msg=key)
    assert abs(float(d_real) - float(nn.functional.sigmoid(real_logits).mean())) < 1e-12
    assert abs(float(d_fake) - float(nn.functional.sigmoid(fake_logits).mean())) < 1e-12
    assert any(not np.array_equal(before[k], d.params[k]) for k in before)


# -- the simultaneous update -----------------------------------------------------------
def _tiny_pair(model, seed, *, d_input_keep=1.0, d_hidden_keep=1.0, g_hidden_keep=1.0):
    b = nn.get_backend("numpy", dtype="float64", seed=seed)
    config = ModelConfig(model=model, width_scale=0.02, image_dim=12, noise_dim=4,
                         g_irange=0.7, d_irange=0.7, d_input_keep=d_input_keep,
                         d_hidden_keep=d_hidden_keep, g_hidden_keep=g_hidden_keep)
    return b, build_pair(b, config, b.uniform((12,)))


def _flat(net):
    return {k: v.copy() for k, v in net.params.items()}


def _numeric_directional(loss, params, direction, eps=1e-6):
    for k in params:
        params[k] += eps * direction[k]
    up = loss()
    for k in params:
        params[k] -= 2 * eps * direction[k]
    down = loss()
    for k in params:
        params[k] += eps * direction[k]
    return (up - down) / (2 * eps)


@pytest.mark.parametrize("model", ["cgan", "gan"])
def test_simultaneous_step_applies_both_gradients_taken_at_the_same_parameters(model):
    """With plain SGD (momentum 0) one simultaneous step moves each network by -lr times
    the gradient of its own loss at the *starting* parameters of both networks: checked
    along random directions against central differences of
    d_obj(theta_D) = 0.5 (BCE(D(x), 1) + BCE(D(G(z)), 0)) and g_obj(theta_G) = -log D(G(z))."""
    b, pair = _tiny_pair(model, seed=3)
    rng = np.random.default_rng(0)
    n, lr = 5, 0.1
    x = b.asarray(rng.random((n, 12)))
    z = b.asarray(rng.uniform(-1, 1, (n, 4)))
    y = b.xp.eye(10)[np.arange(n) % 10] if pair.conditional else None
    y_fake = b.xp.eye(10)[(np.arange(n) + 3) % 10] if pair.conditional else None
    d, g = pair.discriminator, pair.generator
    d0, g0 = _flat(d), _flat(g)

    def d_obj():
        fake, _ = pair.generate(z, y_fake)
        real_logits, _ = pair.discriminate(x, y)
        fake_logits, _ = pair.discriminate(fake, y_fake)
        return 0.5 * float(nn.discriminator_loss(real_logits, fake_logits)[0])

    def g_obj():
        fake, _ = pair.generate(z, y_fake)
        fake_logits, _ = pair.discriminate(fake, y_fake)
        return float(nn.generator_loss(fake_logits)[0])

    directions = {net: {k: rng.standard_normal(v.shape) for k, v in net.params.items()} for net in (d, g)}
    expected = {d: _numeric_directional(d_obj, d.params, directions[d]),
                g: _numeric_directional(g_obj, g.params, directions[g])}
    out = simultaneous_step(pair, Optimizers(d=nn.SGD(d.params, d.grads, lr=lr, momentum=0.0),
                                             g=nn.SGD(g.params, g.grads, lr=lr, momentum=0.0)),
                            Minibatch(x, y, z, y_fake), BCE())
    d_loss, g_loss = out["d_loss"], out["g_loss"]
    for net, before in ((d, d0), (g, g0)):
        step = sum(float(((net.params[k] - before[k]) * directions[net][k]).sum()) for k in before)
        assert -step / lr == pytest.approx(expected[net], rel=1e-6, abs=1e-9)
    # the losses returned are the ones at the starting parameters
    for net, before in ((d, d0), (g, g0)):
        for k in before:
            net.params[k][...] = before[k]
    assert float(d_loss) == pytest.approx(d_obj(), rel=1e-12)
    assert float(g_loss) == pytest.approx(g_obj(), rel=1e-12)


def test_the_generators_gradient_goes_through_the_same_dropped_out_pass():
    """With dropout in D, the step equals a reference that draws the masks once (G's
    forward, D on x, D on G(z), in that order from the same stream) and takes both
    gradients from that one pass; an alternating step, which draws new masks for G's
    gradient, does not."""
    b, pair = _tiny_pair("cgan", seed=5, d_input_keep=0.8, d_hidden_keep=0.5)
    rng = np.random.default_rng(1)
    n, lr = 6, 0.05
    x = b.asarray(rng.random((n, 12)))
    z = b.asarray(rng.uniform(-1, 1, (n, 4)))
    y = b.xp.eye(10)[np.arange(n) % 10]
    # The same networks on a backend of their own, at the same point of the same stream.
    rb, reference = _tiny_pair("cgan", seed=5, d_input_keep=0.8, d_hidden_keep=0.5)
    rb.set_rng_state(b.rng_state())

    d, g = pair.discriminator, pair.generator
    simultaneous_step(pair, Optimizers(d=nn.SGD(d.params, d.grads, lr=lr, momentum=0.0),
                                       g=nn.SGD(g.params, g.grads, lr=lr, momentum=0.0)),
                      Minibatch(x, y, z, y), BCE())

    rd, rg = reference.discriminator, reference.generator
    fake, g_cache = rg.forward((z, y))
    real_logits, real_cache = rd.forward((x, y))
    fake_logits, fake_cache = rd.forward((fake, y))
    _, dr, df = nn.discriminator_loss(real_logits, fake_logits)
    _, dg = nn.generator_loss(fake_logits)
    rd.zero_grads()
    rd.backward(0.5 * dr, real_cache, input_grad=False)
    rd.backward(0.5 * df, fake_cache, input_grad=False)
    dx = rd.backward(dg, fake_cache, param_grads=False)
    rg.zero_grads()
    rg.backward(dx[0], g_cache, input_grad=False)
    for net, ref in ((d, rd), (g, rg)):
        for k, p in net.params.items():
            np.testing.assert_allclose(p, ref.params[k] - lr * ref.grads[k], rtol=0, atol=1e-14)
    # The masks matter: a reference with a fresh D pass for G's gradient differs.
    fresh_logits, _ = rd.forward((fake, y))
    assert not np.allclose(fresh_logits, fake_logits)


# -- one generator step for both objectives ------------------------------------------------
@pytest.mark.parametrize("objective", [BCE(), BCE(saturating=True), Wasserstein(clip=0.5)])
def test_generator_step_descends_the_objectives_generator_loss(objective):
    """generator_step (one body for BCE and Wasserstein) moves G by -lr times the gradient
    of objective.generator(D(G(z))), checked along a random direction against central
    differences, and leaves D's parameters and gradients alone."""
    b, pair = _tiny_pair("cgan", seed=2)
    rng = np.random.default_rng(3)
    z = b.asarray(rng.uniform(-1, 1, (6, 4)))
    y = b.xp.eye(10)[np.arange(6) % 10]
    g, d = pair.generator, pair.discriminator
    g0, d0 = _flat(g), _flat(d)
    for grad in d.grads.values():
        grad[...] = 3.0

    def g_obj():
        scores, _ = pair.discriminate(pair.generate(z, y)[0], y)
        return float(objective.generator(scores)[0])

    direction = {k: rng.standard_normal(v.shape) for k, v in g.params.items()}
    expected = _numeric_directional(g_obj, g.params, direction)
    lr = 0.1
    out = generator_step(pair, Optimizers(g=nn.SGD(g.params, g.grads, lr=lr, momentum=0.0)),
                         Minibatch(None, None, z, y), objective)
    step = sum(float(((g.params[k] - g0[k]) * direction[k]).sum()) for k in g0)
    assert -step / lr == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert set(out) == {"g_loss"}
    assert all(np.array_equal(d.params[k], d0[k]) for k in d0)
    assert all((grad == 3.0).all() for grad in d.grads.values())
