"""The convolutional family: Conv2d, ConvTranspose2d, BatchNorm, LeakyReLU, Tanh, Reshape, Flatten,
Planes, Identity.

Gradient checks in the style of tests/test_gradients.py: hypothesis draws shapes (batch
1-4, channels 1-3, spatial 1-7, kernels 1-4, strides 1-3, paddings 0-2, output_padding
below the stride) and a seed, the layer is built in float64 with inputs from the seeded
backend, and nn.gradcheck compares the hand-written backward with central differences
over the input and every parameter. Then: forward values against loop-based reference
convolutions written here, the adjoint identity between the two convolutions, BatchNorm's
running statistics (evaluation mode, checkpoints), dtypes and errors.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import nn
from nn import checkpoint
from nn.conv import col2im, conv_output_size, im2col
from nn.gradcheck import check_gradients, check_layer

from ..helpers import KINK_MARGIN, f64, kink_margin, seeds

conv_batches = st.integers(1, 4)
channels = st.integers(1, 3)
kernels = st.integers(1, 4)
strides = st.integers(1, 3)
paddings = st.integers(0, 2)


def _b(name, dtype="float32", seed=0):
    return nn.get_backend(name, dtype=dtype, seed=seed)


def _kernel(kh, kw):
    """An int for square kernels (the common spelling), a pair otherwise."""
    return kh if kh == kw else (kh, kw)


def _randomise_bias(layer, key="b"):
    if key in layer.params:
        layer.params[key][...] = layer.backend.normal(layer.params[key].shape, std=0.5)


def _sizes_reaching_the_kernel(data, kernel, padding, largest=7):
    """A spatial size for which the padded input holds at least one window."""
    return data.draw(st.integers(max(1, kernel - 2 * padding), largest))


# -- gradient checks: one layer at a time ----------------------------------------------------
@given(data=st.data(), batch=conv_batches, in_ch=channels, out_ch=channels, kh=kernels,
       kw=kernels, stride=strides, padding=paddings, bias=st.booleans(), seed=seeds)
def test_conv2d(backend_name, data, batch, in_ch, out_ch, kh, kw, stride, padding, bias, seed):
    b = f64(backend_name, seed)
    h = _sizes_reaching_the_kernel(data, kh, padding)
    w = _sizes_reaching_the_kernel(data, kw, padding)
    layer = nn.Conv2d(in_ch, out_ch, _kernel(kh, kw), b, stride=stride, padding=padding,
                      init=nn.Gaussian(0.5), bias=bias)
    _randomise_bias(layer)
    check_layer(layer, b.normal((batch, in_ch, h, w)), seed=seed)


@given(data=st.data(), batch=conv_batches, in_ch=channels, out_ch=channels, kh=kernels,
       kw=kernels, stride=strides, padding=paddings, h=st.integers(1, 5), w=st.integers(1, 5),
       bias=st.booleans(), seed=seeds)
def test_conv_transpose2d(backend_name, data, batch, in_ch, out_ch, kh, kw, stride, padding,
                          h, w, bias, seed):
    output_padding = data.draw(st.integers(0, stride - 1))
    b = f64(backend_name, seed)
    layer = nn.ConvTranspose2d(in_ch, out_ch, _kernel(kh, kw), b, stride=stride, padding=padding,
                               output_padding=output_padding, init=nn.Gaussian(0.5), bias=bias)
    assume(min(layer.output_size(h, w)) >= 1)
    _randomise_bias(layer)
    check_layer(layer, b.normal((batch, in_ch, h, w)), seed=seed)


def _batchnorm(b, num_features, axis):
    layer = nn.BatchNorm(num_features, b, axis=axis)
    layer.params["gamma"][...] = b.normal((num_features,), std=0.5, mean=1.0)
    _randomise_bias(layer, "beta")
    # Evaluation mode must read these, not the initial 0 and 1.
    layer.buffers["running_mean"][...] = b.normal((num_features,))
    layer.buffers["running_var"][...] = b.uniform((num_features,), 0.5, 2.0)
    return layer


@given(batch=st.integers(2, 4), width=st.integers(1, 6), seed=seeds, train=st.booleans())
def test_batchnorm_features(backend_name, batch, width, seed, train):
    """Batch >= 2 in training, and check_layer's loss sum(y * c) with a random c: the
    coupling terms of the backward (every output depends on every input) are exercised."""
    b = f64(backend_name, seed)
    layer = _batchnorm(b, width, "features")
    check_layer(layer, b.normal((batch, width), std=2.0, mean=0.5), seed=seed, train=train)


@given(batch=conv_batches, ch=channels, h=st.integers(1, 5), w=st.integers(1, 5), seed=seeds,
       train=st.booleans())
def test_batchnorm_channels(backend_name, batch, ch, h, w, seed, train):
    assume(batch * h * w >= 2)  # a statistic over one value is not defined in training
    b = f64(backend_name, seed)
    layer = _batchnorm(b, ch, "channels")
    check_layer(layer, b.normal((batch, ch, h, w), std=2.0, mean=0.5), seed=seed, train=train)


@given(batch=conv_batches, ch=channels, h=st.integers(1, 5), seed=seeds, slope=st.floats(0.0, 0.9))
def test_leaky_relu(backend_name, batch, ch, h, seed, slope):
    b = f64(backend_name, seed)
    x = b.normal((batch, ch, h, h))
    x += 0.01 * b.xp.where(x < 0, -1.0, 1.0)  # at least 0.01 away from the kink at 0
    check_layer(nn.LeakyReLU(b, slope=slope), x, seed=seed)


@given(batch=conv_batches, width=st.integers(1, 8), seed=seeds, scale=st.floats(0.1, 5.0))
def test_tanh(backend_name, batch, width, seed, scale):
    b = f64(backend_name, seed)
    check_layer(nn.Tanh(b), b.normal((batch, width), std=scale), seed=seed)


@given(batch=conv_batches, ch=channels, h=st.integers(1, 4), w=st.integers(1, 4), seed=seeds)
def test_reshape_and_flatten(backend_name, batch, ch, h, w, seed):
    b = f64(backend_name, seed)
    flat = b.normal((batch, ch * h * w))
    check_layer(nn.Reshape((ch, h, w), b), flat, seed=seed)
    check_layer(nn.Reshape((ch, -1), b), flat, seed=seed)
    check_layer(nn.Flatten(b), b.normal((batch, ch, h, w)), seed=seed)
    y, _ = nn.Reshape((ch, h, w), b).forward(flat)
    assert y.shape == (batch, ch, h, w)
    assert nn.Flatten(b).forward(y)[0].shape == (batch, ch * h * w)


@given(batch=conv_batches, k=st.integers(1, 4), h=st.integers(1, 5), w=st.integers(1, 5), seed=seeds)
def test_planes_and_identity(backend_name, batch, k, h, w, seed):
    b = f64(backend_name, seed)
    x = b.normal((batch, k))
    check_layer(nn.Planes(h, w, b), x, seed=seed)
    check_layer(nn.Identity(b), x, seed=seed)
    y, _ = nn.Planes(h, w, b).forward(x)
    assert y.shape == (batch, k, h, w)
    np.testing.assert_array_equal(b.to_numpy(y[:, :, h - 1, w - 1]), b.to_numpy(x))
    # Join(Identity, Identity) is the concatenation; Join(Reshape, Planes) stacks channels
    z = b.normal((batch, 3))
    joined, _ = nn.Join(nn.Identity(b), nn.Identity(b)).forward((z, x))
    np.testing.assert_array_equal(b.to_numpy(joined), np.concatenate([b.to_numpy(z), b.to_numpy(x)], axis=1))
    image = b.normal((batch, h * w))
    check_layer(nn.Join(nn.Reshape((1, h, w), b), nn.Planes(h, w, b)), (image, x), seed=seed)
    with pytest.raises(ValueError, match=r"Planes\(2 x 3\) expects input of shape \(batch, features\)"):
        nn.Planes(2, 3, b).forward(b.normal((2, 1, 1, 1)))


# -- a tiny DCGAN: the layers composed, and the generator's loss through D -------------------
def tiny_generator(b, noise_dim, ch, base, kernel, padding, output_padding):
    """z -> Linear -> (ch, base, base) -> ConvT stride 2 -> BN -> ReLU -> ConvT stride 2 -> Tanh."""
    up = dict(stride=2, padding=padding, output_padding=output_padding, init=nn.Gaussian(0.5))
    first = nn.ConvTranspose2d(ch, ch, kernel, b, **up)
    last = nn.ConvTranspose2d(ch, 1, kernel, b, **up)
    _randomise_bias(last)
    linear = nn.Linear(noise_dim, ch * base * base, b, init=nn.Gaussian(0.5))
    _randomise_bias(linear)
    bn = nn.BatchNorm(ch, b, axis="channels")
    bn.params["gamma"][...] = b.normal((ch,), std=0.3, mean=1.0)
    _randomise_bias(bn, "beta")
    net = nn.Sequential(linear, nn.Reshape((ch, base, base), b), first, bn, nn.ReLU(b), last, nn.Tanh(b))
    side = last.output_size(*first.output_size(base, base))[0]
    return net, side


def tiny_discriminator(b, side, ch):
    """x (1, side, side) -> Conv2d stride 2 -> LeakyReLU -> Conv2d -> Flatten -> Linear -> logit."""
    down = nn.Conv2d(1, ch, 3, b, stride=2, padding=1, init=nn.Gaussian(0.5))
    half = conv_output_size(side, 3, 2, 1)
    kernel = min(2, half)
    conv = nn.Conv2d(ch, ch, kernel, b, init=nn.Gaussian(0.5))
    _randomise_bias(down)
    _randomise_bias(conv)
    flat = ch * conv_output_size(half, kernel, 1, 0) ** 2
    return nn.Sequential(down, nn.LeakyReLU(b), conv, nn.Flatten(b),
                         nn.Linear(flat, 1, b, init=nn.Gaussian(0.5)))


dcgan_shapes = dict(batch=st.integers(2, 4), noise_dim=st.integers(1, 4), ch=channels,
                    base=st.integers(1, 2), kernel=st.integers(2, 4), padding=st.integers(0, 1),
                    output_padding=st.integers(0, 1), seed=seeds)


def _dcgan(backend_name, batch, noise_dim, ch, base, kernel, padding, output_padding, seed):
    first_side = (base - 1) * 2 - 2 * padding + kernel + output_padding
    assume(first_side >= 1)
    b = f64(backend_name, seed)
    g, side = tiny_generator(b, noise_dim, ch, base, kernel, padding, output_padding)
    assume(side >= 2)
    return b, g, tiny_discriminator(b, side, ch), side


@given(**dcgan_shapes)
def test_tiny_dcgan_generator_and_discriminator(backend_name, **shapes):
    b, g, d, side = _dcgan(backend_name, **shapes)
    z = b.normal((shapes["batch"], shapes["noise_dim"]))
    x = b.normal((shapes["batch"], 1, side, side))
    assume(kink_margin(g, z, 0) > KINK_MARGIN)
    assume(kink_margin(d, x, 0) > KINK_MARGIN)
    check_layer(g, z)
    check_layer(d, x)


@given(saturating=st.booleans(), **dcgan_shapes)
def test_generator_loss_through_the_conv_discriminator(backend_name, saturating, **shapes):
    """d/d(theta_G) of generator_loss(D(G(z))) with D frozen: D's gradients stay zero."""
    b, g, d, _ = _dcgan(backend_name, **shapes)
    z = b.normal((shapes["batch"], shapes["noise_dim"]))
    assume(kink_margin(g, z, 0) > KINK_MARGIN)
    fake, g_cache = g.forward(z)
    assume(kink_margin(d, fake, 0) > KINK_MARGIN)
    logits, d_cache = d.forward(fake)

    g.zero_grads()
    d.zero_grads()
    _, dlogits = nn.generator_loss(logits, saturating=saturating)
    dfake = d.backward(dlogits, d_cache, param_grads=False)
    assert dfake.shape == fake.shape
    g.backward(dfake, g_cache, input_grad=False)
    for key, grad in d.grads.items():
        assert not b.xp.any(grad), f"the generator's step touched D's gradient {key}"

    def loss():
        logits, _ = d.forward(g.forward(z)[0])
        return nn.generator_loss(logits, saturating=saturating)[0]

    analytic = {key: g.grads[key].copy() for key in g.params}
    results = check_gradients(loss, dict(g.params), analytic, b, seed=shapes["seed"])
    checked = {r.name.split("[direction")[0] for r in results}
    assert {"0.W", "2.W", "3.gamma", "3.beta", "5.W", "5.b"} <= checked


# -- forward values against loop-based references --------------------------------------------
def reference_conv2d(x, W, bias, stride, padding):
    """y[n, o, i, j] = b[o] + sum over the window under (i, j), one output pixel at a time."""
    (sh, sw), (ph, pw) = stride, padding
    n, _, h, w = x.shape
    out_ch, _, kh, kw = W.shape
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    y = np.zeros((n, out_ch, oh, ow))
    for e in range(n):
        for o in range(out_ch):
            for i in range(oh):
                for j in range(ow):
                    window = padded[e, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    y[e, o, i, j] = (window * W[o]).sum() + bias[o]
    return y


def reference_conv_transpose2d(x, W, bias, stride, padding, output_padding):
    """Every input pixel scatters W[c] * x[n, c, i, j] onto the output window at (i*s, j*s)."""
    (sh, sw), (ph, pw), (oph, opw) = stride, padding, output_padding
    n, in_ch, h, w = x.shape
    _, out_ch, kh, kw = W.shape
    oh, ow = (h - 1) * sh - 2 * ph + kh + oph, (w - 1) * sw - 2 * pw + kw + opw
    full = np.zeros((n, out_ch, oh + 2 * ph, ow + 2 * pw))
    for e in range(n):
        for c in range(in_ch):
            for i in range(h):
                for j in range(w):
                    full[e, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += x[e, c, i, j] * W[c]
    return full[:, :, ph:ph + oh, pw:pw + ow] + bias[None, :, None, None]


reference_cases = [
    # (batch, in_ch, out_ch, (h, w), kernel, stride, padding, output_padding)
    (2, 3, 2, (5, 5), 3, 1, 0, 0),
    (1, 2, 3, (6, 7), 3, 2, 1, 1),
    (3, 1, 2, (4, 4), 4, 2, 1, 0),
    (2, 2, 2, (7, 5), (3, 2), (2, 1), (1, 0), (1, 0)),
    (1, 1, 1, (3, 3), 1, 3, 2, 2),
    (2, 2, 1, (2, 3), 5, 3, 2, 1),
]


@pytest.mark.parametrize("batch, in_ch, out_ch, hw, kernel, stride, padding, output_padding",
                         reference_cases)
def test_forward_values_match_loop_references(backend_name, batch, in_ch, out_ch, hw, kernel,
                                              stride, padding, output_padding):
    b = _b(backend_name, "float64", seed=4)
    conv = nn.Conv2d(in_ch, out_ch, kernel, b, stride=stride, padding=padding, init=nn.Gaussian(1.0))
    _randomise_bias(conv)
    if min(conv_output_size(s, k, st_, p) for s, k, st_, p in
           zip(hw, conv.kernel, conv.stride, conv.padding)) >= 1:
        x = b.normal((batch, in_ch, *hw))
        y, _ = conv.forward(x)
        expected = reference_conv2d(b.to_numpy(x), b.to_numpy(conv.params["W"]),
                                    b.to_numpy(conv.params["b"]), conv.stride, conv.padding)
        np.testing.assert_allclose(b.to_numpy(y), expected, rtol=1e-12, atol=1e-12)

    convT = nn.ConvTranspose2d(in_ch, out_ch, kernel, b, stride=stride, padding=padding,
                               output_padding=output_padding, init=nn.Gaussian(1.0))
    _randomise_bias(convT)
    x = b.normal((batch, in_ch, *hw))
    y, _ = convT.forward(x)
    expected = reference_conv_transpose2d(b.to_numpy(x), b.to_numpy(convT.params["W"]),
                                          b.to_numpy(convT.params["b"]), convT.stride,
                                          convT.padding, convT.output_padding)
    assert y.shape == expected.shape == (batch, out_ch, *convT.output_size(*hw))
    np.testing.assert_allclose(b.to_numpy(y), expected, rtol=1e-12, atol=1e-12)


@given(data=st.data(), batch=conv_batches, ch=channels, kh=kernels, kw=kernels, stride=strides,
       padding=paddings, seed=seeds)
def test_col2im_is_the_adjoint_of_im2col(backend_name, data, batch, ch, kh, kw, stride, padding, seed):
    """<im2col(x), c> = <x, col2im(c)> for every x and c."""
    b = f64(backend_name, seed)
    h = _sizes_reaching_the_kernel(data, kh, padding)
    w = _sizes_reaching_the_kernel(data, kw, padding)
    settings = ((kh, kw), (stride, stride), (padding, padding))
    x = b.normal((batch, ch, h, w))
    cols = im2col(b.xp, x, *settings)
    c = b.normal(cols.shape)
    back = col2im(b.xp, c, x.shape, *settings)
    assert back.shape == x.shape
    assert float((cols * c).sum()) == pytest.approx(float((x * back).sum()), rel=1e-12, abs=1e-12)


@given(data=st.data(), batch=conv_batches, in_ch=channels, out_ch=channels, kernel=kernels,
       stride=strides, padding=paddings, seed=seeds)
def test_conv_transpose_is_the_input_gradient_of_conv(backend_name, data, batch, in_ch, out_ch,
                                                      kernel, stride, padding, seed):
    """With one weight W (out_ch, in_ch, k, k): <conv(u), v> = <u, convT(v)>, and convT's
    forward equals Conv2d's backward to its input."""
    b = f64(backend_name, seed)
    h = _sizes_reaching_the_kernel(data, kernel, padding)
    w = _sizes_reaching_the_kernel(data, kernel, padding)
    conv = nn.Conv2d(in_ch, out_ch, kernel, b, stride=stride, padding=padding,
                     init=nn.Gaussian(1.0), bias=False)
    # The output_padding that maps back to exactly h x w (the rows the convolution skipped).
    extra = (h + 2 * padding - kernel) % stride, (w + 2 * padding - kernel) % stride
    convT = nn.ConvTranspose2d(out_ch, in_ch, kernel, b, stride=stride, padding=padding,
                               output_padding=extra, bias=False)
    convT.params["W"][...] = conv.params["W"]
    u = b.normal((batch, in_ch, h, w))
    cu, cache = conv.forward(u)
    v = b.normal(cu.shape)
    tv, _ = convT.forward(v)
    assert tv.shape == u.shape
    assert float((cu * v).sum()) == pytest.approx(float((u * tv).sum()), rel=1e-10, abs=1e-10)
    np.testing.assert_allclose(b.to_numpy(conv.backward(v, cache, param_grads=False)),
                               b.to_numpy(tv), rtol=1e-12, atol=1e-12)


# -- BatchNorm: statistics, evaluation mode, buffers ------------------------------------------
@pytest.mark.parametrize("axis, shape, pooled", [("features", (6, 3), (0,)),
                                                 ("channels", (4, 3, 2, 5), (0, 2, 3))])
def test_batchnorm_running_statistics_and_evaluation(backend_name, axis, shape, pooled):
    b = _b(backend_name, "float64", seed=8)
    bn = nn.BatchNorm(3, b, axis=axis, momentum=0.3)
    bcast = (1, 3) + (1,) * (len(shape) - 2)
    running_mean, running_var = np.zeros(3), np.ones(3)
    for step in range(4):
        x = b.normal(shape, std=1.0 + step, mean=float(step))
        y, _ = bn.forward(x, train=True)
        xs, ys = b.to_numpy(x), b.to_numpy(y)
        # training output: each feature standardised over the batch (gamma 1, beta 0)
        np.testing.assert_allclose(ys.mean(axis=pooled), 0, atol=1e-12)
        np.testing.assert_allclose(ys.var(axis=pooled), 1 / (1 + 1e-5 / xs.var(axis=pooled)), rtol=1e-10)
        running_mean = 0.7 * running_mean + 0.3 * xs.mean(axis=pooled)
        running_var = 0.7 * running_var + 0.3 * xs.var(axis=pooled, ddof=1)  # unbiased, as PyTorch
    np.testing.assert_allclose(b.to_numpy(bn.buffers["running_mean"]), running_mean, rtol=1e-12)
    np.testing.assert_allclose(b.to_numpy(bn.buffers["running_var"]), running_var, rtol=1e-12)

    bn.params["gamma"][...] = b.asarray([0.5, 2.0, -1.0])
    bn.params["beta"][...] = b.asarray([0.1, 0.0, 3.0])
    x = b.normal(shape)
    y, _ = bn.forward(x, train=False)
    expected = ((b.to_numpy(x) - running_mean.reshape(bcast)) / np.sqrt(running_var.reshape(bcast) + 1e-5)
                * np.array([0.5, 2.0, -1.0]).reshape(bcast) + np.array([0.1, 0.0, 3.0]).reshape(bcast))
    np.testing.assert_allclose(b.to_numpy(y), expected, rtol=1e-12)
    # evaluation reads the statistics without moving them, and treats examples separately
    np.testing.assert_allclose(b.to_numpy(bn.buffers["running_mean"]), running_mean, rtol=1e-12)
    alone, _ = bn.forward(x[:1], train=False)
    np.testing.assert_allclose(b.to_numpy(alone), b.to_numpy(y[:1]), rtol=1e-12)


def _small_bn_net(b):
    return nn.Sequential(
        nn.Conv2d(1, 2, 3, b, padding=1, bias=False), nn.BatchNorm(2, b, axis="channels"),
        nn.ReLU(b), nn.Flatten(b), nn.Linear(2 * 4 * 4, 3, b), nn.BatchNorm(3, b), nn.Tanh(b),
    )


def test_running_statistics_are_buffers_not_parameters(backend_name):
    b = _b(backend_name, seed=2)
    net = _small_bn_net(b)
    assert set(net.buffers) == {"1.running_mean", "1.running_var", "5.running_mean", "5.running_var"}
    assert not set(net.buffers) & set(net.params)
    assert set(net.state_dict()) == set(net.params) | set(net.buffers)
    assert net.buffers["1.running_var"] is net.layers[1].buffers["running_var"]
    # layers without buffers keep exactly their parameters as state (old checkpoints load)
    plain = nn.Sequential(nn.Linear(2, 3, b), nn.ReLU(b))
    assert set(plain.state_dict()) == set(plain.params) and plain.buffers == {}

    opt = nn.SGD(net.params, net.grads, lr=0.1, momentum=0.5)
    x = b.normal((5, 1, 4, 4))
    y, cache = net.forward(x)
    before = {k: b.to_numpy(v).copy() for k, v in net.buffers.items()}
    net.zero_grads()
    net.backward(b.asarray(np.ones(y.shape)), cache)
    opt.step()
    for key, value in net.buffers.items():  # the optimiser never touches them
        np.testing.assert_array_equal(b.to_numpy(value), before[key])
    assert not any("running" in key for key in opt.state_dict())


def test_running_statistics_survive_a_checkpoint(tmp_path, backend_name):
    b = _b(backend_name, seed=2)
    net = _small_bn_net(b)
    opt = nn.Adam(net.params, net.grads, lr=0.01)
    for _ in range(3):
        y, cache = net.forward(b.normal((5, 1, 4, 4), mean=1.0))
        net.zero_grads()
        net.backward(b.asarray(np.ones(y.shape)), cache)
        opt.step()
    path = checkpoint.save(tmp_path / "c.npz", {"net": net, "opt": opt})

    fresh = _small_bn_net(_b(backend_name, seed=99))
    fresh_opt = nn.Adam(fresh.params, fresh.grads, lr=0.01)
    buffers = dict(fresh.buffers)
    checkpoint.load(path, {"net": fresh, "opt": fresh_opt})
    for key, value in net.buffers.items():
        assert fresh.buffers[key] is buffers[key]  # restored in place
        assert not np.array_equal(b.to_numpy(value), np.zeros(value.shape))
        np.testing.assert_array_equal(b.to_numpy(fresh.buffers[key]), b.to_numpy(value))
    x = b.normal((2, 1, 4, 4))
    np.testing.assert_array_equal(b.to_numpy(fresh.forward(x, train=False)[0]),
                                  b.to_numpy(net.forward(x, train=False)[0]))

    # a file without the running statistics does not fit a network that has them
    params_only = tmp_path / "params_only.npz"
    checkpoint.save(params_only, {"net": dict(net.params)})
    with pytest.raises(checkpoint.CheckpointError, match=r"missing \['1.running_mean'"):
        checkpoint.load(params_only, {"net": fresh})


def test_two_forwards_before_either_backward(backend_name):
    """A discriminator with BatchNorm runs on a real and a fake batch before either backward."""
    b = _b(backend_name, "float64", seed=1)
    d = nn.Sequential(nn.Conv2d(1, 2, 3, b, stride=2, padding=1, init=nn.Gaussian(0.5)),
                      nn.BatchNorm(2, b, axis="channels"), nn.LeakyReLU(b), nn.Flatten(b),
                      nn.Linear(8, 1, b))
    real, fake = b.normal((3, 1, 4, 4)), b.normal((4, 1, 4, 4))
    _, c_real = d.forward(real)
    _, c_fake = d.forward(fake)
    d.zero_grads()
    d.backward(b.asarray(np.ones((4, 1))), c_fake)
    d.backward(b.asarray(np.ones((3, 1))), c_real)
    interleaved = {k: b.to_numpy(g).copy() for k, g in d.grads.items()}

    d.zero_grads()
    _, c_real = d.forward(real)
    d.backward(b.asarray(np.ones((3, 1))), c_real)
    _, c_fake = d.forward(fake)
    d.backward(b.asarray(np.ones((4, 1))), c_fake)
    for k, g in d.grads.items():
        np.testing.assert_allclose(b.to_numpy(g), interleaved[k], rtol=1e-12)


# -- dtypes and errors -----------------------------------------------------------------------
def test_float32_stays_float32(backend_name):
    b = _b(backend_name, "float32", seed=3)
    g, side = tiny_generator(b, 4, 3, 2, 4, 1, 0)
    d = tiny_discriminator(b, side, 3)
    z = b.normal((3, 4))
    fake, g_cache = g.forward(z)
    logits, d_cache = d.forward(fake)
    assert fake.dtype == np.float32 and logits.dtype == np.float32
    _, dlogits = nn.generator_loss(logits)
    dfake = d.backward(dlogits, d_cache)
    dz = g.backward(dfake, g_cache)
    assert dfake.dtype == np.float32 and dz.dtype == np.float32
    for net in (g, d):
        assert all(v.dtype == np.float32 for v in net.grads.values())
        assert all(v.dtype == np.float32 for v in net.params.values())
        assert all(v.dtype == np.float32 for v in net.buffers.values())
    assert g.forward(z, train=False)[0].dtype == np.float32


def test_wrong_inputs_are_clear_errors(backend_name):
    b = _b(backend_name)
    conv = nn.Conv2d(3, 4, 3, b)
    with pytest.raises(ValueError, match=r"Conv2d\(3 -> 4, kernel 3\) expects input of shape "
                                         r"\(batch, 3, height, width\), got \(2, 2, 5, 5\)"):
        conv.forward(b.zeros((2, 2, 5, 5)))
    with pytest.raises(ValueError, match="expects input of shape"):
        conv.forward(b.zeros((2, 75)))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        conv.forward(b.zeros((2, 3, 2, 5)))
    with pytest.raises(TypeError, match="float64 data.*float32"):
        conv.forward(b.zeros((1, 3, 5, 5), dtype="float64"))
    convT = nn.ConvTranspose2d(2, 1, 3, b, padding=3)
    with pytest.raises(ValueError, match="empty output"):
        convT.forward(b.zeros((1, 2, 1, 1)))
    with pytest.raises(ValueError, match=r"ConvTranspose2d\(2 -> 1.*expects input of shape"):
        convT.forward(b.zeros((1, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"BatchNorm\(3 features\) expects input of shape \(batch, 3\)"):
        nn.BatchNorm(3, b).forward(b.zeros((4, 3, 1, 1)))
    with pytest.raises(ValueError, match=r"\(batch, 3, height, width\)"):
        nn.BatchNorm(3, b, axis="channels").forward(b.zeros((4, 3)))
    with pytest.raises(ValueError, match="more than one value per feature"):
        nn.BatchNorm(3, b).forward(b.zeros((1, 3)))
    nn.BatchNorm(3, b).forward(b.zeros((1, 3)), train=False)  # evaluation needs no batch
    with pytest.raises(ValueError, match="cannot reshape examples of shape"):
        nn.Reshape((2, 3), b).forward(b.zeros((4, 5)))
    with pytest.raises(TypeError, match="numpy backend|cupy backend"):
        nn.Flatten(b).forward([[1.0, 2.0]])


def test_wrong_settings_are_clear_errors(backend_name):
    b = _b(backend_name)
    with pytest.raises(ValueError, match="output_padding < stride"):
        nn.ConvTranspose2d(2, 2, 3, b, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="kernel >= 1, stride >= 1 and padding >= 0"):
        nn.Conv2d(2, 2, 3, b, stride=0)
    with pytest.raises(ValueError, match="positive channels"):
        nn.Conv2d(0, 2, 3, b)
    with pytest.raises(TypeError, match="kernel must be an int or a pair"):
        nn.Conv2d(2, 2, (3, 3, 3), b)
    with pytest.raises(ValueError, match="axis must be one of"):
        nn.BatchNorm(2, b, axis="pixels")
    with pytest.raises(ValueError, match="slope"):
        nn.LeakyReLU(b, slope=-0.1)
    with pytest.raises(ValueError, match="per-example shape"):
        nn.Reshape((-1, -1), b)
    assert set(nn.Conv2d(2, 2, 3, b, bias=False).params) == {"W"}
    assert nn.Conv2d(2, 5, (3, 1), b).params["W"].shape == (5, 2, 3, 1)
    assert nn.ConvTranspose2d(2, 5, 4, b).params["W"].shape == (2, 5, 4, 4)
