"""Convolution and transposed convolution on NCHW feature maps, with hand-written backward passes.

Both layers rest on one pair of functions that are each other's adjoint:

* ``im2col(x)``: every kernel-sized window of the zero-padded input, laid out as one
  matrix for the whole batch, ``(C*kh*kw, OH*OW*N)``: column ``(i, j, n)`` is the window
  under output pixel (i, j) of example n. A convolution is then one matrix product,
  ``Y = W2 @ im2col(x)`` with the weight flattened to ``W2`` of shape ``(out_ch, C*kh*kw)``,
  and its derivative is Linear's rule, transposed.
* ``col2im(cols)``: the adjoint, which adds each column back onto the window it came from
  (overlapping windows add up) and crops the padding.

A convolution's forward is ``W2 @ im2col(x)`` and its input gradient
``col2im(W2^T @ dY)``. A transposed convolution is, by definition, the linear map whose
forward is that input gradient, ``y = col2im(W2^T @ x)``; its input gradient is then the
convolution's forward, ``dx = W2 @ im2col(dy)`` (docs/backprop.md draws the stride-2 case).

The batch is the *last* (fastest) axis of the column matrix, and the two functions work on
batch-last maps, (C, H, W, N). That order is for speed, not for the maths
(docs/performance.md measures it): one matrix product for the whole batch instead of one
per example, and every copy im2col and col2im make moves runs of N contiguous numbers
rather than a few pixels of a strided row (on the DCGAN's layers, col2im 7x and im2col 3x
faster than with the batch first). The layers take and return NCHW arrays; what they
return is a transposed view of batch-last memory (batch_first), which elementwise layers
keep, so that the next convolution finds its input batch-last already.

im2col reads the windows through a strided view (no copy until the reshape into the
matrix); col2im loops over the kh*kw kernel offsets, each one strided slice of the output.
No loop runs over examples, channels or pixels, and both work on CuPy arrays.

Weights use PyTorch's layouts: a Conv2d weight is ``(out_ch, in_ch, kh, kw)``, a
ConvTranspose2d weight ``(in_ch, out_ch, kh, kw)``, so ``y = conv(x)`` and ``x' = convT(y)``
with the same array W are adjoint maps.
"""

from __future__ import annotations

from .backend import Backend
from .blas import add_matmul, matmul
from .layers import Gaussian, Layer

__all__ = ["Conv2d", "ConvTranspose2d", "im2col", "col2im", "conv_output_size", "batch_last",
           "batch_first"]


def _pair(value, name: str) -> tuple[int, int]:
    """An int or a pair of ints as (height, width)."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) for v in pair):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    return pair


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution along one axis: floor((size + 2p - k) / s) + 1.

    Input rows past the last full window (when (size + 2p - k) is not a multiple of s)
    are not read.
    """
    return (size + 2 * padding - kernel) // stride + 1


def batch_last(xp, x):
    """(N, C, H, W) -> a contiguous (C, H*W*N) matrix: column (i, j, n) holds pixel (i, j)
    of example n, for every channel (a copy, unless x is already batch-last in memory)."""
    n, c = x.shape[:2]
    return xp.ascontiguousarray(x.transpose(1, 2, 3, 0)).reshape(c, -1)


def batch_first(xp, m, shape):
    """The inverse of batch_last: a (C, H*W*N) matrix, or (C, H, W, N) maps, as (N, C, H, W)
    maps: a transposed *view*, no copy.

    The next layer reads it as any NCHW array. Elementwise layers (ReLU, LeakyReLU,
    BatchNorm's arithmetic) keep its memory order in their outputs, so when it reaches the
    next convolution, batch_last finds the maps already batch-last and copies nothing; a
    transposing copy is made only where one is needed (a reshape, nn.Flatten). Copying
    here instead cost a fifth of the DCGAN's iteration (docs/performance.md).
    """
    n, c, h, w = shape
    return m.reshape(c, h, w, n).transpose(3, 0, 1, 2)


def im2col(xp, x, kernel, stride, padding):
    """The windows of x (N, C, H, W) as one matrix, (C*kh*kw, OH*OW*N).

    Row ``(c*kh + a)*kw + b`` and column ``(i*OW + j)*N + n`` hold
    ``x_padded[n, c, i*sh + a, j*sw + b]``: the entry that weight (c, a, b) meets when the
    kernel sits over output pixel (i, j) of example n.
    """
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    n, c, h, w = x.shape
    # The maps batch-last and zero-padded, (C, H + 2ph, W + 2pw, N): one copy.
    padded = xp.zeros((c, h + 2 * ph, w + 2 * pw, n), dtype=x.dtype)
    padded[:, ph:ph + h, pw:pw + w, :] = x.transpose(1, 2, 3, 0)
    oh = conv_output_size(h, kh, sh, ph)
    ow = conv_output_size(w, kw, sw, pw)
    s_c, s_h, s_w, s_n = padded.strides
    # A read-only view (C, kh, kw, OH, OW, N): stepping an output pixel moves the window
    # by the stride, stepping a kernel offset moves it by one pixel. The reshape copies.
    windows = xp.lib.stride_tricks.as_strided(
        padded, shape=(c, kh, kw, oh, ow, n),
        strides=(s_c, s_h, s_w, s_h * sh, s_w * sw, s_n),
    )
    return windows.reshape(c * kh * kw, oh * ow * n)


def col2im(xp, cols, shape, kernel, stride, padding):
    """The adjoint of im2col: columns (C*kh*kw, OH*OW*N) summed back into maps of ``shape``
    (N, C, H, W).

    Each entry is added onto the padded-input position im2col read it from; positions
    under several windows receive the sum, positions under none (the padding's crop, and
    rows past the last window) receive 0.
    """
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    n, c, h, w = shape
    oh = conv_output_size(h, kh, sh, ph)
    ow = conv_output_size(w, kw, sw, pw)
    blocks = cols.reshape(c, kh, kw, oh, ow, n)
    padded = xp.zeros((c, h + 2 * ph, w + 2 * pw, n), dtype=cols.dtype)
    # One strided slice per kernel offset (a, b): output pixel (i, j) adds into padded
    # pixel (i*sh + a, j*sw + b). Within one offset no two pixels collide, so += is exact.
    for a in range(kh):
        for b in range(kw):
            padded[:, a:a + sh * (oh - 1) + 1:sh, b:b + sw * (ow - 1) + 1:sw] += blocks[:, a, b]
    return batch_first(xp, padded[:, ph:ph + h, pw:pw + w], shape)


class _ConvBase(Layer):
    """Shared set-up of the two convolutions: sizes, weight, bias, input checks."""

    def __init__(self, in_ch, out_ch, kernel, backend: Backend, stride, padding, init, bias,
                 weight_channels: str):
        super().__init__(backend)
        self.in_ch, self.out_ch = int(in_ch), int(out_ch)
        self.kernel = _pair(kernel, "kernel")
        self.stride = _pair(stride, "stride")
        self.padding = _pair(padding, "padding")
        if self.in_ch < 1 or self.out_ch < 1:
            raise ValueError(f"{type(self).__name__} needs positive channels, got {in_ch} -> {out_ch}")
        if min(self.kernel) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            raise ValueError(
                f"{type(self).__name__} needs kernel >= 1, stride >= 1 and padding >= 0, got "
                f"kernel {kernel}, stride {stride}, padding {padding}"
            )
        # PyTorch's layouts: channels (out, in) for a convolution, (in, out) for a transposed one.
        channels = (self.out_ch, self.in_ch) if weight_channels == "out, in" else (self.in_ch, self.out_ch)
        W = init(backend, channels + self.kernel)
        backend.check(W, f"{type(self).__name__} (its init)")
        self._add_param("W", W)
        if bias:
            self._add_param("b", backend.zeros((self.out_ch,)))

    def _check_input(self, x, channels: int):
        self.backend.check(x, repr(self))
        if x.ndim != 4 or x.shape[1] != channels:
            raise ValueError(
                f"{self!r} expects input of shape (batch, {channels}, height, width), "
                f"got {tuple(x.shape)}"
            )

    def _bias_backward(self, dy, param_grads: bool) -> None:
        if param_grads and "b" in self.params:
            self.grads["b"] += dy.sum(axis=(0, 2, 3))

    def _add_bias(self, y) -> None:
        if "b" in self.params:
            y += self.params["b"][None, :, None, None]

    def _settings(self) -> str:
        text = f"kernel {_show(self.kernel)}"
        if self.stride != (1, 1):
            text += f", stride {_show(self.stride)}"
        if self.padding != (0, 0):
            text += f", padding {_show(self.padding)}"
        return text


def _show(pair) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


class Conv2d(_ConvBase):
    """2-D convolution (cross-correlation, as in every deep-learning library) on NCHW input.

    y[n, o, i, j] = b[o] + sum_{c, a, b'} W[o, c, a, b'] * x_pad[n, c, i*s + a, j*s + b'],
    with x_pad the input zero-padded by ``padding`` on each side, and output size
    OH = floor((H + 2p - kh) / s) + 1 (likewise OW). Computed as one product for the
    batch, ``Y = W2 @ im2col(x)`` with W2 = W reshaped to (out_ch, in_ch*kh*kw) and Y of
    shape (out_ch, OH*OW*N).

    Derivative, with X = im2col(x) and G = dL/dy as the (out_ch, OH*OW*N) matrix (Linear's
    rule, transposed): dL/dW2 = G X^T,  dL/db = sum of G over batch and pixels,
    dL/dx = col2im(W2^T G) (each window's gradient added back where it was read).

    Args:
        in_ch, out_ch: channels.
        kernel, stride, padding: ints or (height, width) pairs.
        backend: the Backend that holds the parameters.
        init: weight initialisation (default N(0, 0.02^2), DCGAN's).
        bias: whether the layer has a bias (not needed before a BatchNorm).
    """

    def __init__(self, in_ch: int, out_ch: int, kernel, backend: Backend, stride=1, padding=0,
                 init=Gaussian(0.02), bias: bool = True):
        super().__init__(in_ch, out_ch, kernel, backend, stride, padding, init, bias, "out, in")

    def __repr__(self) -> str:
        return f"Conv2d({self.in_ch} -> {self.out_ch}, {self._settings()})"

    def forward(self, x, train: bool = True):
        self._check_input(x, self.in_ch)
        n, _, h, w = x.shape
        oh, ow = (conv_output_size(size, k, s, p)
                  for size, k, s, p in zip((h, w), self.kernel, self.stride, self.padding))
        if oh < 1 or ow < 1:
            raise ValueError(
                f"{self!r}: input of {h}x{w} pixels is smaller than the kernel even with "
                f"the padding"
            )
        xp = self.backend.xp
        cols = im2col(xp, x, self.kernel, self.stride, self.padding)
        y = batch_first(xp, matmul(self.params["W"].reshape(self.out_ch, -1), cols), (n, self.out_ch, oh, ow))
        self._add_bias(y)
        return y, (cols, x.shape)

    def backward(self, dy, cache, *, param_grads: bool = True, input_grad: bool = True):
        cols, x_shape = cache
        xp = self.backend.xp
        g = batch_last(xp, dy)  # (out_ch, OH*OW*N), the columns ordered as im2col's
        if param_grads:
            add_matmul(self.grads["W"].reshape(self.out_ch, -1), g, cols.T)
        self._bias_backward(dy, param_grads)
        if not input_grad:
            return None
        dcols = matmul(self.params["W"].reshape(self.out_ch, -1).T, g)
        return col2im(xp, dcols, x_shape, self.kernel, self.stride, self.padding)


class ConvTranspose2d(_ConvBase):
    """Transposed convolution ("fractionally strided"): the input gradient of a Conv2d, as a layer.

    With W of shape (in_ch, out_ch, kh, kw), flattened to W2 (in_ch, out_ch*kh*kw), and
    x as the (in_ch, H*W*N) matrix X, the output is ``y = col2im(W2^T @ X) + b``: each
    input pixel scatters its kernel-sized
    patch W[c] * x[n, c, i, j] onto output window (i*s, j*s), overlapping patches add,
    and ``padding`` pixels are cropped from each side. The output size is PyTorch's,
    OH = (H - 1)*s - 2p + kh + output_padding (likewise OW); ``output_padding < stride``
    picks among the sizes that a stride-s Conv2d maps back to H.

    This is exactly dL/dx of Conv2d(out_ch -> in_ch) with the same W, so the two are
    adjoint: <conv(u), v> = <u, convT(v)>.

    Derivative: the adjoint of an input gradient is the forward, so with
    D = im2col(dL/dy) (out_ch*kh*kw, H*W*N):
    dL/dX = W2 D,  dL/dW2 = X D^T,  dL/db = sum of dL/dy over batch and pixels.

    Args:
        in_ch, out_ch: channels.
        kernel, stride, padding, output_padding: ints or (height, width) pairs.
        backend: the Backend that holds the parameters.
        init: weight initialisation (default N(0, 0.02^2), DCGAN's).
        bias: whether the layer has a bias.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel, backend: Backend, stride=1, padding=0,
                 output_padding=0, init=Gaussian(0.02), bias: bool = True):
        super().__init__(in_ch, out_ch, kernel, backend, stride, padding, init, bias, "in, out")
        self.output_padding = _pair(output_padding, "output_padding")
        if not all(0 <= op < s for op, s in zip(self.output_padding, self.stride)):
            raise ValueError(
                f"ConvTranspose2d needs 0 <= output_padding < stride, got output_padding "
                f"{output_padding} with stride {stride}"
            )

    def __repr__(self) -> str:
        text = f"ConvTranspose2d({self.in_ch} -> {self.out_ch}, {self._settings()}"
        if self.output_padding != (0, 0):
            text += f", output_padding {_show(self.output_padding)}"
        return text + ")"

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        """(OH, OW) for an input of h x w pixels."""
        return tuple((size - 1) * s - 2 * p + k + op for size, k, s, p, op in
                     zip((h, w), self.kernel, self.stride, self.padding, self.output_padding))

    def forward(self, x, train: bool = True):
        self._check_input(x, self.in_ch)
        n, _, h, w = x.shape
        oh, ow = self.output_size(h, w)
        if oh < 1 or ow < 1:
            raise ValueError(
                f"{self!r}: input of {h}x{w} pixels gives an empty output ({oh}x{ow}); "
                f"the padding crops more than the kernel adds"
            )
        xp = self.backend.xp
        xs = batch_last(xp, x)  # (in_ch, H*W*N)
        cols = matmul(self.params["W"].reshape(self.in_ch, -1).T, xs)
        y = col2im(xp, cols, (n, self.out_ch, oh, ow), self.kernel, self.stride, self.padding)
        self._add_bias(y)
        return y, (xs, x.shape)

    def backward(self, dy, cache, *, param_grads: bool = True, input_grad: bool = True):
        xs, x_shape = cache
        xp = self.backend.xp
        dcols = im2col(xp, dy, self.kernel, self.stride, self.padding)  # (out_ch*kh*kw, H*W*N)
        if param_grads:
            add_matmul(self.grads["W"].reshape(self.in_ch, -1), xs, dcols.T)
        self._bias_backward(dy, param_grads)
        if not input_grad:
            return None
        return batch_first(xp, matmul(self.params["W"].reshape(self.in_ch, -1), dcols), x_shape)
