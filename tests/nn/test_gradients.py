"""Property-based gradient checks: every layer, loss and composition against finite differences.

Each test draws shapes (batch 1-8, widths 1-16, maxout pieces 1-5), input values and a
seed with hypothesis, builds the layer in float64, and runs nn.gradcheck, which compares
the hand-written backward with central differences along random directions over the
input and every parameter (eps 1e-6, atol 1e-6, rtol 1e-5; see nn/gradcheck.py).
Inputs within 1e-4 of a ReLU or maxout kink are rejected with ``assume``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import nn
from nn.gradcheck import check_gradients, check_layer, check_loss

from ..helpers import KINK_MARGIN, batches, f64, kink_margin, pieces, seeds, values, widths

inits = st.sampled_from(["uniform", "gaussian"])


def _init(kind):
    return nn.Uniform(0.7) if kind == "uniform" else nn.Gaussian(0.5)


def _random_bias(backend, n):
    return backend.to_numpy(backend.normal((n,), std=0.3))


@given(data=st.data(), batch=batches, n_in=widths, n_out=widths, seed=seeds, init=inits)
def test_linear(backend_name, data, batch, n_in, n_out, seed, init):
    b = f64(backend_name, seed)
    layer = nn.Linear(n_in, n_out, b, init=_init(init), bias=_random_bias(b, n_out))
    x = b.asarray(data.draw(values((batch, n_in))))
    check_layer(layer, x, seed=seed)


@given(data=st.data(), batch=batches, width=widths, seed=seeds)
def test_relu(backend_name, data, batch, width, seed):
    b = f64(backend_name, seed)
    raw = data.draw(values((batch, width)))
    # Away from the kink at 0: |x| >= 0.01, sign kept (0 counts as positive).
    x = b.asarray(np.where(raw < 0, raw - 0.01, raw + 0.01))
    check_layer(nn.ReLU(b), x, seed=seed)


@given(data=st.data(), batch=batches, width=widths, seed=seeds,
       scale=st.floats(0.1, 20.0))
def test_sigmoid(backend_name, data, batch, width, seed, scale):
    b = f64(backend_name, seed)
    x = b.asarray(data.draw(values((batch, width))) * scale)
    check_layer(nn.Sigmoid(b), x, seed=seed)


@given(data=st.data(), batch=batches, n_in=widths, units=widths, k=pieces, seed=seeds, init=inits)
def test_maxout(backend_name, data, batch, n_in, units, k, seed, init):
    b = f64(backend_name, seed)
    layer = nn.Maxout(n_in, units, k, b, init=_init(init), bias=_random_bias(b, units * k))
    x = b.asarray(data.draw(values((batch, n_in))))
    assume(kink_margin(layer, x, seed) > KINK_MARGIN)
    check_layer(layer, x, seed=seed)


@given(data=st.data(), batch=batches, width=widths, seed=seeds,
       keep_prob=st.floats(0.05, 1.0), train=st.booleans())
def test_dropout(backend_name, data, batch, width, seed, keep_prob, train):
    b = f64(backend_name, seed)
    x = b.asarray(data.draw(values((batch, width))))
    check_layer(nn.Dropout(keep_prob, b), x, seed=seed, train=train)


@given(data=st.data(), batch=batches, n_in=widths, hidden=widths, units=widths, k=pieces,
       n_out=widths, seed=seeds)
def test_sequential(backend_name, data, batch, n_in, hidden, units, k, n_out, seed):
    b = f64(backend_name, seed)
    net = nn.Sequential(
        nn.Linear(n_in, hidden, b, init=nn.Gaussian(0.5), bias=_random_bias(b, hidden)),
        nn.ReLU(b),
        nn.Dropout(0.7, b),
        nn.Maxout(hidden, units, k, b, init=nn.Gaussian(0.5), bias=_random_bias(b, units * k)),
        nn.Linear(units, n_out, b, init=nn.Gaussian(0.5)),
        nn.Sigmoid(b),
    )
    x = b.asarray(data.draw(values((batch, n_in))))
    assume(kink_margin(net, x, seed) > KINK_MARGIN)
    check_layer(net, x, seed=seed)


@given(data=st.data(), batch=batches, n_a=widths, n_b=widths, out_a=widths, out_b=widths,
       seed=seeds)
def test_join(backend_name, data, batch, n_a, n_b, out_a, out_b, seed):
    b = f64(backend_name, seed)
    join = nn.Join(
        nn.Linear(n_a, out_a, b, init=nn.Gaussian(0.5)),
        nn.Sequential(nn.Linear(n_b, out_b, b, init=nn.Gaussian(0.5)), nn.Sigmoid(b)),
        names=("z", "y"),
    )
    x = (b.asarray(data.draw(values((batch, n_a)))), b.asarray(data.draw(values((batch, n_b)))))
    results = check_layer(join, x, seed=seed)
    assert {r.name.split("[direction")[0] for r in results} >= {"input[0]", "input[1]", "z.W", "y.0.W"}


@given(data=st.data(), batch=batches, n_in=widths, width=widths, classes=st.integers(1, 10), seed=seeds,
       one_hot=st.booleans())
def test_projection(backend_name, data, batch, n_in, width, classes, seed, one_hot):
    """out = h w + b + rowsum(h * (y V)) with h = features(x): the input pair (x and the
    label weights y, one-hot or any real rows), w, b, V and the features' parameters."""
    b = f64(backend_name, seed)
    layer = nn.Projection(nn.Sequential(nn.Linear(n_in, width, b, init=nn.Gaussian(0.5)), nn.Sigmoid(b)),
                          width, classes, init=nn.Gaussian(0.5))
    layer.params["b"][...] = 0.3
    x = b.asarray(data.draw(values((batch, n_in))))
    y = (b.xp.eye(classes)[b.xp.arange(batch) % classes] if one_hot
         else b.asarray(data.draw(values((batch, classes)))))
    results = check_layer(layer, (x, y), seed=seed)
    assert {r.name.split("[direction")[0] for r in results} >= {"input[0]", "input[1]", "w", "b", "V",
                                                               "features.0.W"}


# -- the paper's architectures at reduced width -----------------------------------------
def small_conditional_generator(b, noise_dim, classes, hz, hy, joint, out):
    """z -> ReLU, y -> ReLU, joined -> ReLU -> sigmoid: the CGAN generator's shape."""
    return nn.Sequential(
        nn.Join(
            nn.Sequential(nn.Linear(noise_dim, hz, b, init=nn.Gaussian(0.5),
                                    bias=_random_bias(b, hz)), nn.ReLU(b)),
            nn.Sequential(nn.Linear(classes, hy, b, init=nn.Gaussian(0.5),
                                    bias=_random_bias(b, hy)), nn.ReLU(b)),
            names=("z", "y"),
        ),
        nn.Linear(hz + hy, joint, b, init=nn.Gaussian(0.5), bias=_random_bias(b, joint)),
        nn.ReLU(b),
        nn.Linear(joint, out, b, init=nn.Gaussian(0.5)),
        nn.Sigmoid(b),
    )


def small_conditional_discriminator(b, n_x, classes, ux, uy, joint, k):
    """x -> maxout, y -> maxout, joined -> maxout -> logit, with dropout: the CGAN discriminator."""
    return nn.Sequential(
        nn.Join(
            nn.Sequential(nn.Dropout(0.8, b),
                          nn.Maxout(n_x, ux, k, b, init=nn.Gaussian(0.5), bias=_random_bias(b, ux * k))),
            nn.Sequential(nn.Dropout(0.8, b),
                          nn.Maxout(classes, uy, k, b, init=nn.Gaussian(0.5), bias=_random_bias(b, uy * k))),
            names=("x", "y"),
        ),
        nn.Dropout(0.5, b),
        nn.Maxout(ux + uy, joint, k, b, init=nn.Gaussian(0.5), bias=_random_bias(b, joint * k)),
        nn.Dropout(0.5, b),
        nn.Linear(joint, 1, b, init=nn.Gaussian(0.5)),
    )


def _one_hot(b, labels, classes):
    return b.asarray(np.eye(classes)[labels])


gan_shapes = dict(batch=batches, noise_dim=widths, classes=st.integers(2, 10), hz=widths,
                  hy=widths, joint=widths, out=widths, k=pieces, seed=seeds)


@given(data=st.data(), **gan_shapes)
def test_conditional_generator(backend_name, data, batch, noise_dim, classes, hz, hy, joint, out, k, seed):
    b = f64(backend_name, seed)
    g = small_conditional_generator(b, noise_dim, classes, hz, hy, joint, out)
    labels = data.draw(st.lists(st.integers(0, classes - 1), min_size=batch, max_size=batch))
    x = (b.asarray(data.draw(values((batch, noise_dim)))), _one_hot(b, labels, classes))
    assume(kink_margin(g, x, seed) > KINK_MARGIN)
    check_layer(g, x, seed=seed)


@given(data=st.data(), **gan_shapes)
def test_conditional_discriminator(backend_name, data, batch, noise_dim, classes, hz, hy, joint, out, k, seed):
    b = f64(backend_name, seed)
    d = small_conditional_discriminator(b, out, classes, hz, hy, joint, k)
    labels = data.draw(st.lists(st.integers(0, classes - 1), min_size=batch, max_size=batch))
    x = (b.asarray(data.draw(values((batch, out)))), _one_hot(b, labels, classes))
    assume(kink_margin(d, x, seed) > KINK_MARGIN)
    check_layer(d, x, seed=seed)


def _check_generator_loss_through_d(backend_name, data, generator_loss, batch, noise_dim, classes,
                                    hz, hy, joint, out, k, seed):
    """d/d(theta_G) of ``generator_loss(D(G(z, y), y))`` (a loss returning (value,
    d/dlogits)), with D's parameters frozen: D's gradients must stay untouched."""
    b = f64(backend_name, seed)
    g = small_conditional_generator(b, noise_dim, classes, hz, hy, joint, out)
    d = small_conditional_discriminator(b, out, classes, hz, hy, joint, k)
    labels = data.draw(st.lists(st.integers(0, classes - 1), min_size=batch, max_size=batch))
    z = b.asarray(data.draw(values((batch, noise_dim))))
    y = _one_hot(b, labels, classes)

    def forward():
        b.reseed(seed)  # same dropout masks in D at every evaluation
        fake, g_cache = g.forward((z, y))
        logits, d_cache = d.forward((fake, y))
        return fake, g_cache, logits, d_cache

    fake, g_cache, logits, d_cache = forward()
    assume(kink_margin(g, (z, y), seed) > KINK_MARGIN)
    b.reseed(seed)
    assume(kink_margin(d, (fake, y), seed) > KINK_MARGIN)

    g.zero_grads()
    d.zero_grads()
    _, dlogits = generator_loss(logits)
    dfake, _ = d.backward(dlogits, d_cache, param_grads=False)
    g.backward(dfake, g_cache, input_grad=False)
    for key, grad in d.grads.items():
        assert not b.xp.any(grad), f"the generator's step touched D's gradient {key}"

    def loss():
        *_, logits, _ = forward()
        return generator_loss(logits)[0]

    analytic = {key: g.grads[key].copy() for key in g.params}
    check_gradients(loss, dict(g.params), analytic, b, seed=seed)


@given(data=st.data(), saturating=st.booleans(), **gan_shapes)
def test_generator_loss_through_discriminator(backend_name, data, saturating, **shapes):
    """The generator's BCE loss (saturating or not) through the discriminator."""
    _check_generator_loss_through_d(
        backend_name, data, lambda a: nn.generator_loss(a, saturating=saturating), **shapes)


# -- losses -----------------------------------------------------------------------------
logit_scales = st.floats(0.1, 30.0)


@given(data=st.data(), batch=batches, seed=seeds, scale=logit_scales)
def test_bce_with_logits(backend_name, data, batch, seed, scale):
    b = f64(backend_name, seed)
    a = b.asarray(data.draw(values((batch, 1))) * scale)
    t = b.asarray(data.draw(values((batch, 1))) / 4 + 0.5)  # targets in [0, 1]
    check_loss(lambda v: nn.bce_with_logits(v, t), a, b, seed=seed)


@given(data=st.data(), n_real=batches, n_fake=batches, seed=seeds, scale=logit_scales)
def test_gan_value_and_discriminator_loss(backend_name, data, n_real, n_fake, seed, scale):
    b = f64(backend_name, seed)
    real = b.asarray(data.draw(values((n_real, 1))) * scale)
    fake = b.asarray(data.draw(values((n_fake, 1))) * scale)
    for fn in (nn.gan_value, nn.discriminator_loss):
        _, d_real, d_fake = fn(real, fake)
        check_gradients(lambda: fn(real, fake)[0], {"real": real, "fake": fake},
                        {"real": d_real, "fake": d_fake}, b, seed=seed)


@given(data=st.data(), batch=batches, seed=seeds, scale=logit_scales, saturating=st.booleans())
def test_generator_losses(backend_name, data, batch, seed, scale, saturating):
    b = f64(backend_name, seed)
    a = b.asarray(data.draw(values((batch, 1))) * scale)
    check_loss(lambda v: nn.generator_loss(v, saturating=saturating), a, b, seed=seed)


@given(data=st.data(), batch=batches, width=widths, seed=seeds)
def test_mse(backend_name, data, batch, width, seed):
    b = f64(backend_name, seed)
    p = b.asarray(data.draw(values((batch, width))))
    t = b.asarray(data.draw(values((batch, width))))
    check_loss(lambda v: nn.mse(v, t), p, b, seed=seed)


@given(data=st.data(), n_real=batches, n_fake=batches, seed=seeds, scale=logit_scales)
def test_wasserstein_critic_loss(backend_name, data, n_real, n_fake, seed, scale):
    b = f64(backend_name, seed)
    real = b.asarray(data.draw(values((n_real, 1))) * scale)
    fake = b.asarray(data.draw(values((n_fake, 1))) * scale)
    value, d_real, d_fake = nn.wasserstein_critic_loss(real, fake)
    assert float(value) == pytest.approx(float(fake.mean() - real.mean()), abs=1e-12)
    check_gradients(lambda: nn.wasserstein_critic_loss(real, fake)[0], {"real": real, "fake": fake},
                    {"real": d_real, "fake": d_fake}, b, seed=seed)


@given(data=st.data(), batch=batches, seed=seeds, scale=logit_scales)
def test_wasserstein_generator_loss(backend_name, data, batch, seed, scale):
    b = f64(backend_name, seed)
    a = b.asarray(data.draw(values((batch, 1))) * scale)
    check_loss(nn.wasserstein_generator_loss, a, b, seed=seed)


@given(data=st.data(), **gan_shapes)
def test_wasserstein_generator_loss_through_critic(backend_name, data, **shapes):
    """d/d(theta_G) of -E f(G(z, y), y) through the critic, the critic's parameters frozen."""
    _check_generator_loss_through_d(backend_name, data, nn.wasserstein_generator_loss, **shapes)
