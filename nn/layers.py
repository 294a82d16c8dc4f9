"""Layers with hand-written backward passes.

The protocol is small:

* ``forward(x, train=True) -> (y, cache)``: the output and whatever backward needs.
  Nothing per-batch is stored on the layer, so one network can run forward on a real
  batch and on a generated batch before either backward.
* ``backward(dy, cache, *, param_grads=True, input_grad=True) -> dx``: given dL/dy,
  *adds* dL/dparams into ``self.grads`` (gradients accumulate until ``zero_grads()``)
  and returns dL/dx. ``param_grads=False`` leaves ``self.grads`` untouched (the
  generator's step backpropagates through the discriminator that way);
  ``input_grad=False`` skips dL/dx and returns None (the first layer of a network).
* ``params`` and ``grads``: two dicts with the same keys. Composite layers expose their
  children's arrays under dotted keys (``"0.W"``, ``"x.1.b"``); the arrays are shared,
  so an optimiser that updates ``params`` in place updates the layers.
* ``buffers``: arrays that are state but not parameters (BatchNorm's running mean and
  variance). No gradient and no optimiser touches them; ``state_dict`` includes them, so
  checkpoints save and restore them. Composites expose them under dotted keys as well.

Shapes: activations are ``(batch, features)``; a Linear weight is ``(in, out)``. The
convolutional layers (nn.conv) take NCHW feature maps ``(batch, channels, height, width)``.
Each class docstring states the derivative that its backward implements; the
derivations are in docs/backprop.md and each is checked by tests/test_gradients.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from .backend import Backend
from .blas import add_matmul, matmul
from .functional import sigmoid

__all__ = [
    "Layer",
    "Uniform",
    "Gaussian",
    "Linear",
    "ReLU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "Maxout",
    "Dropout",
    "Reshape",
    "Flatten",
    "Identity",
    "Planes",
    "Sequential",
    "Join",
    "Embedding",
]


# -- initialisation -----------------------------------------------------------------
@dataclass(frozen=True)
class Uniform:
    """Weights drawn from U[-irange, irange] (pylearn2's ``irange``, used by both papers' code)."""

    irange: float

    def __call__(self, backend: Backend, shape):
        return backend.uniform(shape, -self.irange, self.irange)


@dataclass(frozen=True)
class Gaussian:
    """Weights drawn from N(0, std^2) (pylearn2's ``istdev``)."""

    std: float

    def __call__(self, backend: Backend, shape):
        return backend.normal(shape, std=self.std)


# -- base -----------------------------------------------------------------------------
class Layer:
    """Base class: a backend, a ``params`` dict and a ``grads`` dict with the same keys."""

    backend: Backend

    def __init__(self, backend: Backend):
        if not isinstance(backend, Backend):
            raise TypeError(
                f"{type(self).__name__} needs a Backend as its backend argument "
                f"(from nn.get_backend), got {type(backend).__name__}"
            )
        self.backend = backend
        self.params: dict = {}
        self.grads: dict = {}
        self.buffers: dict = {}

    def __call__(self, x, train: bool = True):
        return self.forward(x, train)

    def forward(self, x, train: bool = True):
        raise NotImplementedError

    def backward(self, dy, cache, *, param_grads: bool = True, input_grad: bool = True):
        raise NotImplementedError

    def zero_grads(self) -> None:
        for g in self.grads.values():
            g.fill(0)

    def num_params(self) -> int:
        return sum(int(p.size) for p in self.params.values())

    def state_dict(self) -> dict:
        """The parameters and buffers by key (the live arrays, not copies).

        A layer without buffers has exactly its parameters here, so checkpoints written
        before buffers existed still load.
        """
        return {**self.params, **self.buffers}

    def load_state_dict(self, state: dict) -> None:
        """Copy arrays into the parameters and buffers in place (so optimisers and
        composites keep their references)."""
        own = {**self.params, **self.buffers}
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            raise ValueError(
                f"{type(self).__name__}: parameters do not match: missing {missing}, "
                f"unexpected {unexpected}"
            )
        for key, p in own.items():
            value = state[key]
            kind = "parameter" if key in self.params else "buffer"
            if tuple(value.shape) != tuple(p.shape):
                raise ValueError(
                    f"{type(self).__name__}: {kind} {key!r} has shape {tuple(p.shape)} "
                    f"but the saved value has shape {tuple(value.shape)}"
                )
            p[...] = self.backend.asarray(value)

    def _add_param(self, key: str, value) -> None:
        self.params[key] = value
        self.grads[key] = self.backend.xp.zeros_like(value)

    def _add_buffer(self, key: str, value) -> None:
        # One namespace for parameters and buffers: state_dict merges the two.
        if key in self.params:
            raise ValueError(f"{type(self).__name__}: {key!r} is already a parameter")
        self.buffers[key] = value


# The products go through nn.blas (matmul: a @ b; add_matmul: out += a @ b), which runs
# every product of a training step on one BLAS and adds weight gradients in place.
def _affine_forward(W, b, x):
    z = matmul(x, W)
    z += b  # in place: one array per layer and call, not two
    return z


def _affine_backward(layer: Layer, x, dz, param_grads: bool, input_grad: bool, weight: str = "W"):
    """Backward of z = x W + b: dW += x^T dz, db += sum_batch dz, dx = dz W^T.
    ``weight``: W's key in the layer's params (b's is "b")."""
    if param_grads:
        add_matmul(layer.grads[weight], x.T, dz)  # dW += x^T dz, by the product itself
        layer.grads["b"] += dz.sum(axis=0)
    return matmul(dz, layer.params[weight].T) if input_grad else None


def _check_width(layer: Layer, x, width: int) -> None:
    layer.backend.check(x, repr(layer))
    if x.ndim != 2 or x.shape[1] != width:
        raise ValueError(
            f"{layer!r} expects input of shape (batch, {width}), got {tuple(x.shape)}"
        )


# -- primitive layers -----------------------------------------------------------------
class Linear(Layer):
    """Affine map y = x W + b, with W of shape (n_in, n_out).

    Derivative: dL/dx = dL/dy W^T,  dL/dW = x^T dL/dy,  dL/db = sum over the batch of dL/dy.

    Args:
        n_in, n_out: widths.
        backend: the Backend that holds the parameters.
        init: weight initialisation, ``Uniform(irange)`` or ``Gaussian(std)``.
        bias: initial bias, a number or an array of shape (n_out,) (the original GAN code
            set the generator's output bias from the data's pixel marginals).
    """

    def __init__(self, n_in: int, n_out: int, backend: Backend, init=Uniform(0.05), bias=0.0):
        super().__init__(backend)
        if n_in < 1 or n_out < 1:
            raise ValueError(f"Linear widths must be positive, got {n_in} -> {n_out}")
        self.n_in, self.n_out = int(n_in), int(n_out)
        self._add_param("W", init(backend, (self.n_in, self.n_out)))
        b = backend.zeros((self.n_out,))
        b[...] = backend.asarray(bias)
        self._add_param("b", b)

    def __repr__(self) -> str:
        return f"Linear({self.n_in} -> {self.n_out})"

    def forward(self, x, train: bool = True):
        _check_width(self, x, self.n_in)
        return _affine_forward(self.params["W"], self.params["b"], x), x

    def backward(self, dy, cache, *, param_grads: bool = True, input_grad: bool = True):
        return _affine_backward(self, cache, dy, param_grads, input_grad)


class ReLU(Layer):
    """y = max(x, 0).

    Derivative: dL/dx = dL/dy * [x > 0] (the subgradient 0 is taken at x = 0).
    """

    def __repr__(self) -> str:
        return "ReLU()"

    def forward(self, x, train: bool = True):
        self.backend.check(x, repr(self))
        y = self.backend.xp.maximum(x, 0)
        return y, y > 0

    def backward(self, dy, cache, *, param_grads: bool = True, input_grad: bool = True):
        return dy * cache if input_grad else None


class Sigmoid(Layer):
    """y = 1 / (1 + exp(-x)), computed from e^-|x| so that nothing overflows, with
    outputs below 2^-100 (7.9e-31, reached for x < -69.3) set to exactly 0.

    No NaN or inf for any finite x, and full relative precision in both tails down to
    that floor (see nn.functional.sigmoid).

    Why the floor: a generator's sigmoid output layer drives dark pixels far into the
    lower tail, where y and its gradient y (1 - y) dL/dy become subnormal floats (below
    1.2e-38 in float32), and a CPU computes with those up to a hundred times slower.
    Seeded MNIST training slowed from 9 to 22 s an epoch over its first seven epochs, all
    of it in products and updates fed with them (docs/performance.md). Setting such
    outputs to 0 changes them by less than 1e-30, and their gradient by as little.

    Derivative: dL/dx = dL/dy * y (1 - y) (0 where the output was set to 0).
    """

    #: outputs below this are set to 0 (and so pass no gradient): see the class docstring
    FLOOR = 2.0 ** -100

    def __repr__(self) -> str:
        return "Sigmoid()"

    def forward(self, x, train: bool = True):
        self.backend.check(x, repr(self))
        y = sigmoid(x)
        self.backend.xp.copyto(y, 0, where=y < self.FLOOR)
        return y, y

    def backward(self, dy, cache, *, param_grads: bool = True, input_grad: bool = True):
        if not input_grad:
            return None
        y = cache
        return dy * y * (1 - y)


class LeakyReLU(Layer):
    """y = x for x > 0, slope * x otherwise (DCGAN's discriminator uses slope 0.2).

    Derivative: dL/dx = dL/dy * (1 if x > 0 else slope) (the slope is taken at x = 0).
    """

    def __init__(self, backend: Backend, slope: float = 0.2):
        super().__init__(backend)
        if not 0.0 <= slope < 1.0:
            raise ValueError(f"LeakyReLU slope (for x < 0) must be in [0, 1), got {slope}")
        self.slope = float(slope)

    def __repr__(self) -> str:
        return f"LeakyReLU(slope={self.slope})"

    def forward(self, x, train: bool = True):
        self.backend.check(x, repr(self))
        # max(x, slope * x) is x for x > 0 and slope * x otherwise, as slope < 1. (Two
        # cheap passes: NumPy's where() takes five times as long on the DCGAN's maps.)
        # slope * x keeps x's dtype (a Python float does not upcast float32).
        y = self.slope * x
        self.backend.xp.maximum(x, y, out=y)
        return y, x > 0

    def backward(self, dy, cache, *, param_grads: bool = True, input_grad: bool = True):
        if not input_grad:
            return None
        # The factor 1 or slope: (1 - slope) + slope rounds to exactly 1.
        factor = cache.astype(dy.dtype)
        factor *= 1.0 - self.slope
        factor += self.slope
        factor *= dy
        return factor


class Tanh(Layer):
    """y = tanh(x), in (-1, 1): the output layer of a generator of images scaled to [-1, 1].

    Derivative: dL/dx = dL/dy * (1 - y^2).
    """

    def __repr__(self) -> str:
        return "Tanh()"

    def forward(self, x, train: bool = True):
        self.backend.check(x, repr(self))
        y = self.backend.xp.tanh(x)
        return y, y

    def backward(self, dy, cache, *, param_grads: bool = True, input_grad: bool = True):
        if not input_grad:
            return None
        y = cache
        return dy * (1 - y * y)


class Maxout(Layer):
    """Maxout: z = x W + b with ``units * pieces`` columns, y_u = max_p z_{p,u}.

    Column ``p * units + u`` of W belongs to piece p of unit u: W is ``pieces`` blocks of
    ``units`` columns, one block per piece ("piece-major"). Speed: the max over pieces is
    then ``pieces - 1`` elementwise maxima of contiguous (batch, units) blocks, about 5x
    faster here than a reduction over interleaved pieces (pylearn2's layout, unit-major;
    docs/performance.md). Checkpoints written before this layout are converted on load
    (nn.checkpoint).

    Derivative: dL/dz_{p,u} = dL/dy_u if p is the winning piece of unit u, else 0; then
    the affine backward of Linear. On ties (all pieces equal, as with zero input and zero
    biases) the first maximal piece wins, so exactly one piece receives the gradient, and
    the sum of dL/dz over the pieces of a unit equals dL/dy_u.
    """

    def __init__(self, n_in: int, units: int, pieces: int, backend: Backend,
                 init=Uniform(0.005), bias=0.0):
        super().__init__(backend)
        if n_in < 1 or units < 1 or pieces < 1:
            raise ValueError(
                f"Maxout needs positive n_in, units and pieces, got {n_in}, {units}, {pieces}"
            )
        self.n_in, self.units, self.pieces = int(n_in), int(units), int(pieces)
        self._add_param("W", init(backend, (self.n_in, self.units * self.pieces)))
        b = backend.zeros((self.units * self.pieces,))
        b[...] = backend.asarray(bias)
        self._add_param("b", b)

    def __repr__(self) -> str:
        return f"Maxout({self.n_in} -> {self.units} units x {self.pieces} pieces)"

    def forward(self, x, train: bool = True):
        _check_width(self, x, self.n_in)
        xp = self.backend.xp
        z = _affine_forward(self.params["W"], self.params["b"], x)
        z = z.reshape(x.shape[0], self.pieces, self.units)
        y = z[:, 0].copy()
        for p in range(1, self.pieces):
            xp.maximum(y, z[:, p], out=y)
        # The mask of winners, with exactly one True per unit: where pieces tie, a piece
        # loses to any earlier maximal piece.
        mask = z == y[:, None, :]
        taken = mask[:, 0].copy()
        for p in range(1, self.pieces):
            mask[:, p] &= ~taken
            taken |= mask[:, p]
        return y, (x, mask)

    def backward(self, dy, cache, *, param_grads: bool = True, input_grad: bool = True):
        x, mask = cache
        dz = (mask * dy[:, None, :]).reshape(dy.shape[0], self.pieces * self.units)
        return _affine_backward(self, x, dz, param_grads, input_grad)

    @staticmethod
    def from_unit_major(a, units: int, pieces: int):
        """A W (n_in, units*pieces) or b (units*pieces,) in pylearn2's unit-major column
        order (column u * pieces + p), reordered into this layer's piece-major order."""
        lead = a.shape[:-1]
        return a.reshape(*lead, units, pieces).swapaxes(-1, -2).reshape(*lead, units * pieces)


class Dropout(Layer):
    """Inverted dropout: y = x * m / keep_prob with m ~ Bernoulli(keep_prob), in training.

    The argument is the probability of *keeping* a unit (``keep_prob=0.8`` drops 20%).
    Scaling by 1/keep_prob during training keeps E[y] = x, so evaluation (``train=False``)
    is the identity, with no rescaling of the weights.

    Derivative: dL/dx = dL/dy * m / keep_prob (identity when train=False).
    """

    def __init__(self, keep_prob: float, backend: Backend):
        super().__init__(backend)
        if not 0.0 < keep_prob <= 1.0:
            raise ValueError(
                f"Dropout keep_prob is the probability of keeping a unit and must be in "
                f"(0, 1], got {keep_prob}"
            )
        self.keep_prob = float(keep_prob)

    def __repr__(self) -> str:
        return f"Dropout(keep_prob={self.keep_prob})"

    def forward(self, x, train: bool = True):
        self.backend.check(x, repr(self))
        if not train or self.keep_prob == 1.0:
            return x, None
        mask = self.backend.uniform(x.shape) < self.keep_prob
        scaled_mask = mask.astype(self.backend.dtype)
        scaled_mask *= 1.0 / self.keep_prob
        return x * scaled_mask, scaled_mask

    def backward(self, dy, cache, *, param_grads: bool = True, input_grad: bool = True):
        if not input_grad:
            return None
        return dy if cache is None else dy * cache


class Reshape(Layer):
    """Each example reshaped: (batch, *in_shape) -> (batch, *shape), e.g. the generator's
    (batch, C*H*W) features into (batch, C, H, W) feature maps.

    ``shape`` is the per-example shape; one entry may be -1 (inferred, as in reshape).

    Derivative: a reshape moves no value, so dL/dx = dL/dy reshaped back to x's shape.
    """

    def __init__(self, shape, backend: Backend):
        super().__init__(backend)
        self.shape = tuple(int(n) for n in shape)
        if not self.shape or any(n == 0 or n < -1 for n in self.shape) or self.shape.count(-1) > 1:
            raise ValueError(
                f"Reshape takes a per-example shape of positive sizes (one may be -1), "
                f"got {shape!r}"
            )

    def __repr__(self) -> str:
        return f"Reshape({self.shape})"

    def forward(self, x, train: bool = True):
        self.backend.check(x, repr(self))
        if x.ndim < 1:
            raise ValueError(f"{self!r} expects a batch (at least 1-D), got a 0-d array")
        size = 1
        for n in x.shape[1:]:
            size *= n
        known = 1
        for n in self.shape:
            known *= n if n != -1 else 1
        fits = size % known == 0 if -1 in self.shape else size == known
        if not fits:
            raise ValueError(
                f"{self!r} cannot reshape examples of shape {tuple(x.shape[1:])} "
                f"({size} values each)"
            )
        return x.reshape((x.shape[0],) + self.shape), x.shape

    def backward(self, dy, cache, *, param_grads: bool = True, input_grad: bool = True):
        return dy.reshape(cache) if input_grad else None


class Flatten(Reshape):
    """(batch, *dims) -> (batch, prod(dims)): feature maps into a Linear layer's input.

    Derivative: dL/dx = dL/dy reshaped back to x's shape.
    """

    def __init__(self, backend: Backend):
        super().__init__((-1,), backend)

    def __repr__(self) -> str:
        return "Flatten()"


class Identity(Layer):
    """y = x. A branch of a Join that passes its input on: ``Join(Identity, Identity)``
    concatenates two inputs (the conditional DCGAN's generator reads [z, y]).

    Derivative: dL/dx = dL/dy.
    """

    def __repr__(self) -> str:
        return "Identity()"

    def forward(self, x, train: bool = True):
        self.backend.check(x, repr(self))
        return x, None

    def backward(self, dy, cache, *, param_grads: bool = True, input_grad: bool = True):
        return dy if input_grad else None


class Planes(Layer):
    """Each feature as a constant plane: (batch, K) -> (batch, K, height, width) with
    y[n, k, i, j] = x[n, k]. One-hot labels become label planes that a convolution reads
    beside the image's channels (the conditional DCGAN's discriminator).

    Derivative: every pixel of plane k is x[n, k], so dL/dx[n, k] = sum over i, j of
    dL/dy[n, k, i, j].
    """

    def __init__(self, height: int, width: int, backend: Backend):
        super().__init__(backend)
        if height < 1 or width < 1:
            raise ValueError(f"Planes needs a positive height and width, got {height} x {width}")
        self.height, self.width = int(height), int(width)

    def __repr__(self) -> str:
        return f"Planes({self.height} x {self.width})"

    def forward(self, x, train: bool = True):
        self.backend.check(x, repr(self))
        if x.ndim != 2:
            raise ValueError(f"{self!r} expects input of shape (batch, features), got {tuple(x.shape)}")
        y = self.backend.xp.empty(x.shape + (self.height, self.width), dtype=x.dtype)
        y[...] = x[:, :, None, None]
        return y, None

    def backward(self, dy, cache, *, param_grads: bool = True, input_grad: bool = True):
        return dy.sum(axis=(2, 3)) if input_grad else None


# -- composition ----------------------------------------------------------------------
class _Composite(Layer):
    def __init__(self, backend: Backend, named_children):
        super().__init__(backend)
        self.children = dict(named_children)
        for name, child in self.children.items():
            if not isinstance(child, Layer):
                raise TypeError(f"{type(self).__name__}: child {name!r} is not a Layer: {child!r}")
            if child.backend is not backend:
                raise ValueError(
                    f"{type(self).__name__}: child {name!r} was built on a different backend "
                    f"({child.backend!r} vs {backend!r}); build all layers on one backend"
                )
            for key in child.params:
                self.params[f"{name}.{key}"] = child.params[key]
                self.grads[f"{name}.{key}"] = child.grads[key]
            for key in child.buffers:
                self.buffers[f"{name}.{key}"] = child.buffers[key]


class Sequential(_Composite):
    """Layers applied in order: y = f_n(... f_2(f_1(x))).

    Derivative (chain rule): dL/dx = J_1^T J_2^T ... J_n^T dL/dy, i.e. the children's
    backward passes in reverse order. Parameter keys are ``"<index>.<key>"``.
    """

    def __init__(self, *layers: Layer):
        if not layers:
            raise ValueError("Sequential needs at least one layer")
        self.layers = list(layers)
        super().__init__(layers[0].backend, ((str(i), layer) for i, layer in enumerate(layers)))

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Sequential({inner})"

    def forward(self, x, train: bool = True):
        caches = []
        for layer in self.layers:
            x, cache = layer.forward(x, train)
            caches.append(cache)
        return x, caches

    def backward(self, dy, cache, *, param_grads: bool = True, input_grad: bool = True):
        # Layer i computes its input gradient when the caller wants dL/dx or an earlier
        # layer has parameters to update: a network that starts with layers without
        # parameters (Dropout, Reshape) computes no gradient that nothing reads.
        wanted, needed = [], input_grad
        for layer in self.layers:
            wanted.append(needed)
            needed = needed or (param_grads and bool(layer.params))
        for i in range(len(self.layers) - 1, -1, -1):
            dy = self.layers[i].backward(dy, cache[i], param_grads=param_grads, input_grad=wanted[i])
            if not wanted[i]:
                return None
        return dy


class Join(_Composite):
    """Two branches, one per input, outputs concatenated: y = [f_a(x_a), f_b(x_b)].

    The input is a pair ``(x_a, x_b)`` with the same batch size.

    Derivative: with n_a the width of f_a's output, split dL/dy into its first n_a
    columns (dL/dy_a) and the rest (dL/dy_b); then dL/dx_a = J_a^T dL/dy_a and
    dL/dx_b = J_b^T dL/dy_b. Backward returns the pair ``(dL/dx_a, dL/dx_b)``.

    Parameter keys are ``"<name>.<key>"`` with the branch names given (default a, b).
    """

    def __init__(self, branch_a: Layer, branch_b: Layer, names=("a", "b")):
        if len(names) != 2 or names[0] == names[1]:
            raise ValueError(f"Join needs two distinct branch names, got {names!r}")
        self.names = tuple(names)
        self.branches = (branch_a, branch_b)
        super().__init__(branch_a.backend, zip(self.names, self.branches))

    def __repr__(self) -> str:
        a, b = self.branches
        return f"Join({self.names[0]}={a!r}, {self.names[1]}={b!r})"

    def forward(self, x, train: bool = True):
        if not isinstance(x, (tuple, list)) or len(x) != 2:
            raise TypeError(f"{self!r} takes a pair (x_{self.names[0]}, x_{self.names[1]})")
        x_a, x_b = x
        if x_a.shape[0] != x_b.shape[0]:
            raise ValueError(
                f"{self!r}: the two inputs have different batch sizes "
                f"({x_a.shape[0]} and {x_b.shape[0]})"
            )
        y_a, cache_a = self.branches[0].forward(x_a, train)
        y_b, cache_b = self.branches[1].forward(x_b, train)
        y = self.backend.xp.concatenate([y_a, y_b], axis=1)
        return y, (y_a.shape[1], cache_a, cache_b)

    def backward(self, dy, cache, *, param_grads: bool = True, input_grad: bool = True):
        width_a, cache_a, cache_b = cache
        dx_a = self.branches[0].backward(
            dy[:, :width_a], cache_a, param_grads=param_grads, input_grad=input_grad
        )
        dx_b = self.branches[1].backward(
            dy[:, width_a:], cache_b, param_grads=param_grads, input_grad=input_grad
        )
        return (dx_a, dx_b) if input_grad else None


class Projection(_Composite):
    """A conditional score by projection (Miyato and Koyama, 2018): features of x, then a
    linear score plus the inner product of those features with the label's embedding.

    The input is a pair ``(x, y)``: y is a (batch, K) row of label weights (one-hot for
    one label). With h = features(x) of shape (batch, F), w (F, 1), b (1,) and V (K, F):

        out = h w + b + rowsum(h * (y V))          (batch, 1)

    ``y V`` is the label's row of V (an embedding of each label, learned), and the last
    term scores how well the features match it: the label enters at the output, where
    the discriminator decides, instead of at the input.

    Derivative, with g = dL/dout (batch, 1):
        dL/dh = g w^T + g * (y V)       (then features' backward)
        dL/dw = h^T g,   dL/db = sum of g,   dL/dV = y^T (g * h),
        dL/dy = g * (h V^T).
    Backward returns the pair ``(dL/dx, dL/dy)``. Parameter keys: ``features.<key>``,
    ``w``, ``b`` and ``V``.
    """

    def __init__(self, features: Layer, width: int, n_classes: int, init=Gaussian(0.02)):
        if width < 1 or n_classes < 1:
            raise ValueError(f"Projection needs a positive width and n_classes, got {width} and {n_classes}")
        super().__init__(features.backend, [("features", features)])
        self.features, self.width, self.n_classes = features, int(width), int(n_classes)
        backend = features.backend
        for key, shape in (("w", (self.width, 1)), ("V", (self.n_classes, self.width))):
            value = init(backend, shape)
            backend.check(value, f"{self!r} (its init)")
            self._add_param(key, value)
        self._add_param("b", backend.zeros((1,)))

    def __repr__(self) -> str:
        return f"Projection({self.features!r} -> {self.width} features, {self.n_classes} labels)"

    def forward(self, x, train: bool = True):
        if not isinstance(x, (tuple, list)) or len(x) != 2:
            raise TypeError(f"{self!r} takes a pair (x, y)")
        x_in, y = x
        _check_width(self, y, self.n_classes)
        h, cache = self.features.forward(x_in, train)
        if h.ndim != 2 or h.shape != (y.shape[0], self.width):
            raise ValueError(f"{self!r}: the features have shape {tuple(h.shape)}, expected "
                             f"({y.shape[0]}, {self.width})")
        embedded = matmul(y, self.params["V"])                # (batch, F): each row's label
        out = _affine_forward(self.params["w"], self.params["b"], h)
        out += (h * embedded).sum(axis=1, keepdims=True)
        return out, (h, y, embedded, cache)

    def backward(self, dy, cache, *, param_grads: bool = True, input_grad: bool = True):
        h, y, embedded, features_cache = cache
        if param_grads:
            add_matmul(self.grads["V"], y.T, dy * h)
        needs_features = input_grad or (param_grads and bool(self.features.params))
        # the h w + b term: dw, db, and its part of dL/dh, dy w^T
        dh = _affine_backward(self, h, dy, param_grads, needs_features, weight="w")
        dx = None
        if needs_features:
            dh += dy * embedded
            dx = self.features.backward(dh, features_cache, param_grads=param_grads,
                                        input_grad=input_grad)
        if not input_grad:
            return None
        return dx, dy * matmul(h, self.params["V"].T)


# -- lookup -----------------------------------------------------------------------------
class Embedding(Layer):
    """A lookup table: row ``idx`` of W for every integer index, y = W[idx].

    W has shape (vocab_size, dim). The input is an integer array of any shape (``(batch,)``
    for one word per example, ``(batch, k)`` for k words) on the layer's backend; the
    output has shape ``idx.shape + (dim,)`` in the backend's dtype.

    Derivative: y[..., :] = W[idx[...], :] is linear in W, so

        dL/dW[v, :] = sum over every position p with idx[p] = v of dL/dy[p, :]

    (rows of W that no index selects get 0; a row selected twice gets both gradients).
    Backward scatters dL/dy into ``grads["W"]`` with ``xp.add.at`` (on the flattened
    table, entry (v, j) being number v * dim + j), which adds every repeated index
    (``grad[idx] += dy`` would keep only one of them). The indices are discrete, so there
    is no input gradient: ``input_grad`` is ignored and backward always returns None.

    Args:
        vocab_size, dim: the table's shape.
        backend: the Backend that holds the table.
        init: initialisation of W, ``Gaussian(std)`` (default 0.01), ``Uniform(irange)``,
            or any callable ``init(backend, shape)``.
        check_indices: check in forward that every index is in [0, vocab_size) (raises
            IndexError). This reads the min and max back to the host, which synchronises a
            GPU; pass False in a hot GPU loop whose indices are known to be in range.
    """

    def __init__(self, vocab_size: int, dim: int, backend: Backend, init=Gaussian(0.01),
                 check_indices: bool = True):
        super().__init__(backend)
        if vocab_size < 1 or dim < 1:
            raise ValueError(
                f"Embedding needs a positive vocab_size and dim, got {vocab_size} and {dim}"
            )
        self.vocab_size, self.dim = int(vocab_size), int(dim)
        self.check_indices = bool(check_indices)
        W = init(backend, (self.vocab_size, self.dim))
        backend.check(W, f"{self!r} (its init)")
        self._add_param("W", W)

    def __repr__(self) -> str:
        return f"Embedding({self.vocab_size} words x {self.dim})"

    def _check(self, idx) -> None:
        if not isinstance(idx, self.backend.array_type):
            kind = f"{type(idx).__module__}.{type(idx).__qualname__}"
            raise TypeError(
                f"{self!r} takes an integer array on the {self.backend.name} backend, got "
                f"a {kind}; convert it with backend.xp.asarray(..., dtype='int64')"
            )
        if idx.dtype.kind not in "iu":
            raise TypeError(
                f"{self!r} takes integer indices, got {idx.dtype} data (indices are not "
                f"rounded or cast silently; convert them with .astype('int64'))"
            )
        if self.check_indices and idx.size:
            low, high = int(idx.min()), int(idx.max())
            if low < 0 or high >= self.vocab_size:
                bad = low if low < 0 else high
                raise IndexError(
                    f"{self!r}: index {bad} is out of range; indices must be in "
                    f"[0, {self.vocab_size})"
                )

    def forward(self, x, train: bool = True):
        self._check(x)
        return self.backend.xp.take(self.params["W"], x, axis=0), x

    def backward(self, dy, cache, *, param_grads: bool = True, input_grad: bool = True):
        idx = cache
        if tuple(dy.shape) != tuple(idx.shape) + (self.dim,):
            raise ValueError(
                f"{self!r}: backward got dy of shape {tuple(dy.shape)}, expected "
                f"{tuple(idx.shape) + (self.dim,)} (the forward output's shape)"
            )
        if param_grads:
            xp, grad = self.backend.xp, self.grads["W"]
            rows = idx.reshape(-1).astype(xp.int64)
            if grad.flags.c_contiguous:
                # The same scatter-add on the flat table, element by element: entry
                # (v, j) is number v * dim + j. NumPy's add.at is several times faster
                # on a 1-D target than on rows of a 2-D one.
                flat = (rows[:, None] * self.dim + xp.arange(self.dim)).reshape(-1)
                xp.add.at(grad.reshape(-1), flat, dy.reshape(-1))
            else:
                xp.add.at(grad, rows, dy.reshape(-1, self.dim))
        return None
