"""The gradient checker must fail on wrong backward passes (a check that cannot fail proves nothing).

Each case is a layer or loss with one deliberate, realistic bug in its backward; the
checker must raise GradientCheckError on it, and pass on the correct original.
"""

from __future__ import annotations

import pytest

import nn
from nn.conv import batch_last, conv_output_size
from nn.gradcheck import GradientCheckError, check_gradients, check_layer, check_loss


class LinearSignFlipped(nn.Linear):
    def backward(self, dy, cache, **kw):
        return -super().backward(dy, cache, **kw)


class LinearNoBiasGrad(nn.Linear):
    def backward(self, dy, cache, **kw):
        db = self.grads["b"].copy()
        dx = super().backward(dy, cache, **kw)
        self.grads["b"][...] = db
        return dx


class LinearStrayFactor(nn.Linear):
    def backward(self, dy, cache, **kw):
        dx = super().backward(dy, cache, **kw)
        self.grads["W"] *= 0.5  # a stray factor, as from averaging twice
        return dx


class ReLUPassThrough(nn.ReLU):
    def backward(self, dy, cache, **kw):
        return dy


class SigmoidMissingFactor(nn.Sigmoid):
    def backward(self, dy, cache, **kw):
        return dy * cache


class MaxoutAllPieces(nn.Maxout):
    """Sends the gradient to every piece, not only the winner."""

    def backward(self, dy, cache, **kw):
        x, mask = cache
        return super().backward(dy, (x, mask | True), **kw)


class MaxoutWrongPiece(nn.Maxout):
    """Sends the gradient to the next piece over (an off-by-one in the mask)."""

    def backward(self, dy, cache, **kw):
        x, mask = cache
        return super().backward(dy, (x, self.backend.xp.roll(mask, 1, axis=2)), **kw)


class DropoutUnscaled(nn.Dropout):
    """Forgets the 1/keep_prob scale in backward."""

    def backward(self, dy, cache, **kw):
        return dy if cache is None else dy * (cache > 0)


class JoinSwapped(nn.Join):
    """Hands each branch the other branch's half of the gradient (equal widths, so no shape error)."""

    def backward(self, dy, cache, **kw):
        width_a, _, _ = cache
        swapped = self.backend.xp.concatenate([dy[:, width_a:], dy[:, :width_a]], axis=1)
        return super().backward(swapped, cache, **kw)


class ProjectionWithoutTheLabel(nn.Projection):
    """Forgets the label's embedding in dL/dh: the features learn as if unconditional."""

    def backward(self, dy, cache, **kw):
        h, y, embedded, features_cache = cache
        return super().backward(dy, (h, y, embedded * 0, features_cache), **kw)


def _col2im_ignoring_the_stride(xp, cols, shape, kernel, stride, padding):
    """nn.conv.col2im with the stride forgotten: output pixel i adds into row i + a, not i*s + a."""
    (kh, kw), (ph, pw) = kernel, padding
    n, c, h, w = shape
    oh, ow = (conv_output_size(size, k, s, p) for size, k, s, p in zip((h, w), kernel, stride, padding))
    blocks = cols.reshape(c, kh, kw, oh, ow, n)
    padded = xp.zeros((c, h + 2 * ph, w + 2 * pw, n), dtype=cols.dtype)
    for a in range(kh):
        for b in range(kw):
            padded[:, a:a + oh, b:b + ow] += blocks[:, a, b]
    return padded[:, ph:ph + h, pw:pw + w].transpose(3, 0, 1, 2)


def _col2im_overwriting_overlaps(xp, cols, shape, kernel, stride, padding):
    """nn.conv.col2im with ``=`` for ``+=``: where windows overlap, only the last one counts."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    n, c, h, w = shape
    oh, ow = (conv_output_size(size, k, s, p) for size, k, s, p in zip((h, w), kernel, stride, padding))
    blocks = cols.reshape(c, kh, kw, oh, ow, n)
    padded = xp.zeros((c, h + 2 * ph, w + 2 * pw, n), dtype=cols.dtype)
    for a in range(kh):
        for b in range(kw):
            padded[:, a:a + sh * (oh - 1) + 1:sh, b:b + sw * (ow - 1) + 1:sw] = blocks[:, a, b]
    return padded[:, ph:ph + h, pw:pw + w].transpose(3, 0, 1, 2)


class _Conv2dWithCol2im(nn.Conv2d):
    """Conv2d whose input gradient goes through another col2im (parameter gradients unchanged)."""

    col2im = None

    def backward(self, dy, cache, *, param_grads=True, input_grad=True):
        super().backward(dy, cache, param_grads=param_grads, input_grad=False)
        if not input_grad:
            return None
        _, x_shape = cache
        g = batch_last(self.backend.xp, dy)
        dcols = self.params["W"].reshape(self.out_ch, -1).T @ g
        return type(self).col2im(self.backend.xp, dcols, x_shape, self.kernel, self.stride, self.padding)


class Conv2dCol2imIgnoresStride(_Conv2dWithCol2im):
    col2im = staticmethod(_col2im_ignoring_the_stride)


class Conv2dCol2imOverwrites(_Conv2dWithCol2im):
    col2im = staticmethod(_col2im_overwriting_overlaps)


class ConvTranspose2dWeightGradInConvLayout(nn.ConvTranspose2d):
    """Adds dL/dW in Conv2d's (out, in, k, k) layout to a (in, out, k, k) weight (square
    channel counts, so the shapes agree)."""

    def backward(self, dy, cache, **kw):
        before = self.grads["W"].copy()
        dx = super().backward(dy, cache, **kw)
        self.grads["W"][...] = before + (self.grads["W"] - before).swapaxes(0, 1)
        return dx


class BatchNormWithoutCoupling(nn.BatchNorm):
    """Training backward as if mu and var were constants (the evaluation formula)."""

    def backward(self, dy, cache, **kw):
        _, xhat, inv_std = cache
        return super().backward(dy, (False, xhat, inv_std), **kw)


class BatchNormWithoutVarianceTerm(nn.BatchNorm):
    """Subtracts mean(G) but forgets that the variance moves too (the xhat * mean(G xhat) term)."""

    def backward(self, dy, cache, *, param_grads=True, input_grad=True):
        train, xhat, inv_std = cache
        super().backward(dy, cache, param_grads=param_grads, input_grad=False)
        if not input_grad:
            return None
        scale = (self.params["gamma"] * inv_std).reshape(self._shape)
        return (dy - dy.mean(axis=self._pooled).reshape(self._shape)) * scale


@pytest.fixture
def b(backend_name):
    return nn.get_backend(backend_name, dtype="float64", seed=3)


def _x(b, shape):
    return b.normal(shape)


@pytest.mark.parametrize("cls", [LinearSignFlipped, LinearNoBiasGrad, LinearStrayFactor])
def test_linear_bugs_are_caught(b, cls):
    check_layer(nn.Linear(5, 4, b, init=nn.Gaussian(0.5)), _x(b, (3, 5)))
    with pytest.raises(GradientCheckError):
        check_layer(cls(5, 4, b, init=nn.Gaussian(0.5)), _x(b, (3, 5)))


def test_relu_bug_is_caught(b):
    x = _x(b, (4, 6))
    x += 0.1 * b.xp.sign(x)
    check_layer(nn.ReLU(b), x)
    with pytest.raises(GradientCheckError):
        check_layer(ReLUPassThrough(b), x)


def test_sigmoid_bug_is_caught(b):
    x = _x(b, (4, 6))
    check_layer(nn.Sigmoid(b), x)
    with pytest.raises(GradientCheckError):
        check_layer(SigmoidMissingFactor(b), x)


@pytest.mark.parametrize("cls", [MaxoutAllPieces, MaxoutWrongPiece])
def test_maxout_bugs_are_caught(b, cls):
    x = _x(b, (4, 5))
    check_layer(nn.Maxout(5, 3, 4, b, init=nn.Gaussian(0.5)), x)
    with pytest.raises(GradientCheckError):
        check_layer(cls(5, 3, 4, b, init=nn.Gaussian(0.5)), x)


def test_dropout_bug_is_caught(b):
    x = _x(b, (6, 8))
    check_layer(nn.Dropout(0.5, b), x)
    with pytest.raises(GradientCheckError):
        check_layer(DropoutUnscaled(0.5, b), x)


def test_join_bug_is_caught(b):
    def build(cls):
        return cls(nn.Linear(3, 4, b, init=nn.Gaussian(0.5)), nn.Linear(4, 4, b, init=nn.Gaussian(0.5)))

    x = (_x(b, (3, 3)), _x(b, (3, 4)))
    check_layer(build(nn.Join), x)
    with pytest.raises(GradientCheckError):
        check_layer(build(JoinSwapped), x)


def test_projection_bug_is_caught(b):
    def build(cls):
        return cls(nn.Linear(3, 4, b, init=nn.Gaussian(0.5)), 4, 3, init=nn.Gaussian(0.5))

    x = (_x(b, (5, 3)), b.xp.eye(3)[[0, 1, 2, 0, 1]])
    check_layer(build(nn.Projection), x)
    with pytest.raises(GradientCheckError):
        check_layer(build(ProjectionWithoutTheLabel), x)


@pytest.mark.parametrize("cls, stride", [(Conv2dCol2imIgnoresStride, 2),
                                         (Conv2dCol2imOverwrites, 1),
                                         (Conv2dCol2imOverwrites, 2)])
def test_conv2d_col2im_bugs_are_caught(b, cls, stride):
    x = _x(b, (2, 2, 7, 6))
    check_layer(nn.Conv2d(2, 3, 3, b, stride=stride, padding=1, init=nn.Gaussian(0.5)), x)
    with pytest.raises(GradientCheckError, match=r"input\[direction"):
        check_layer(cls(2, 3, 3, b, stride=stride, padding=1, init=nn.Gaussian(0.5)), x)


def test_conv_transpose_weight_layout_bug_is_caught(b):
    x = _x(b, (2, 3, 3, 4))
    settings = dict(stride=2, padding=1, output_padding=1, init=nn.Gaussian(0.5))
    check_layer(nn.ConvTranspose2d(3, 3, 3, b, **settings), x)
    with pytest.raises(GradientCheckError, match=r"\bW\[direction"):
        check_layer(ConvTranspose2dWeightGradInConvLayout(3, 3, 3, b, **settings), x)


@pytest.mark.parametrize("cls", [BatchNormWithoutCoupling, BatchNormWithoutVarianceTerm])
@pytest.mark.parametrize("axis, shape", [("features", (4, 3)), ("channels", (2, 3, 2, 3))])
def test_batchnorm_coupling_bugs_are_caught(b, cls, axis, shape):
    x = _x(b, shape)
    check_layer(nn.BatchNorm(3, b, axis=axis), x)
    with pytest.raises(GradientCheckError, match=r"input\[direction"):
        check_layer(cls(3, b, axis=axis), x)
    # In evaluation mode there is no coupling, and the simplified backward is right.
    check_layer(BatchNormWithoutCoupling(3, b, axis=axis), x, train=False)


def test_loss_bugs_are_caught(b):
    a = _x(b, (5, 1)) * 3
    check_loss(nn.generator_loss, a, b)

    def not_averaged(v):
        value, grad = nn.generator_loss(v)
        return value, grad * v.shape[0]

    def saturating_grad_for_nonsaturating_value(v):
        return nn.generator_loss(v)[0], nn.generator_loss(v, saturating=True)[1]

    for wrong in (not_averaged, saturating_grad_for_nonsaturating_value):
        with pytest.raises(GradientCheckError):
            check_loss(wrong, a, b)


def test_checker_rejects_float32(backend_name):
    b32 = nn.get_backend(backend_name, dtype="float32")
    with pytest.raises(ValueError, match="float64"):
        check_layer(nn.Linear(2, 2, b32), b32.normal((2, 2)))


def test_checker_names_the_wrong_tensor(b):
    layer = LinearNoBiasGrad(3, 2, b, init=nn.Gaussian(0.5))
    with pytest.raises(GradientCheckError, match=r"\bb\[direction") as info:
        check_layer(layer, _x(b, (4, 3)))
    assert "W[direction" not in str(info.value)
    assert "input[direction" not in str(info.value)


def test_check_gradients_detects_a_wrong_analytic_value(b):
    t = _x(b, (3,))
    with pytest.raises(GradientCheckError):
        check_gradients(lambda: (t * t).sum(), {"t": t}, {"t": t.copy()}, b)  # true grad is 2t
    check_gradients(lambda: (t * t).sum(), {"t": t}, {"t": 2 * t}, b)
