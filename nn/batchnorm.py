"""Batch normalisation over features (N, F) or over the channels of feature maps (N, C, H, W)."""

from __future__ import annotations

from .backend import Backend
from .layers import Layer

__all__ = ["BatchNorm"]

AXES = ("features", "channels")


class BatchNorm(Layer):
    """y = gamma * (x - mu) / sqrt(var + eps) + beta, per feature (or per channel).

    ``axis="features"``: x is (N, F) and mu, var are over the batch, one per column.
    ``axis="channels"``: x is (N, C, H, W) and mu, var are over the batch and all pixels,
    one per channel. Either way m = the number of values pooled into one statistic.

    Training (``train=True``): mu and var (biased, divided by m) are the batch's. Evaluation
    (``train=False``): the running averages are used instead, so y no longer depends on
    the rest of the batch.

    Running statistics are state, not per-batch cache: every ``forward(x, train=True)``
    updates them in place, ``running <- (1 - momentum) running + momentum * batch`` (the
    variance unbiased, times m / (m - 1), as PyTorch does), also in a forward that is never
    followed by a backward. They are buffers: saved and restored by ``state_dict`` and
    nn.checkpoint, never touched by an optimiser.

    Derivative, training, with xhat = (x - mu) / sqrt(var + eps), G = dL/dy and means over
    the pooled axes:
        dL/dgamma = sum G * xhat,   dL/dbeta = sum G,
        dL/dx = gamma / sqrt(var + eps) * (G - mean(G) - xhat * mean(G * xhat)).
    The last two terms are the batch coupling: mu and var depend on every example, so every
    output depends on every input of the batch. In evaluation mu and var are constants and
    dL/dx = gamma / sqrt(running_var + eps) * G.

    Args:
        num_features: F or C.
        backend: the Backend that holds the parameters.
        axis: ``"features"`` or ``"channels"``.
        momentum: weight of the newest batch in the running averages.
        eps: added to the variance, keeping 1/sqrt(var + eps) finite.
    """

    def __init__(self, num_features: int, backend: Backend, axis: str = "features",
                 momentum: float = 0.1, eps: float = 1e-5):
        super().__init__(backend)
        if num_features < 1:
            raise ValueError(f"BatchNorm needs a positive number of features, got {num_features}")
        if axis not in AXES:
            raise ValueError(f"BatchNorm axis must be one of {AXES}, got {axis!r}")
        if not 0.0 <= momentum <= 1.0 or eps <= 0:
            raise ValueError(f"BatchNorm needs momentum in [0, 1] and eps > 0, got {momentum}, {eps}")
        self.num_features, self.axis = int(num_features), axis
        self.momentum, self.eps = float(momentum), float(eps)
        n = self.num_features
        gamma = backend.zeros((n,))
        gamma += 1
        self._add_param("gamma", gamma)
        self._add_param("beta", backend.zeros((n,)))
        running_var = backend.zeros((n,))
        running_var += 1
        self._add_buffer("running_mean", backend.zeros((n,)))
        self._add_buffer("running_var", running_var)
        # Statistics pool over these axes; per-feature arrays broadcast with _shape.
        self._pooled = (0,) if axis == "features" else (0, 2, 3)
        self._shape = (1, n) if axis == "features" else (1, n, 1, 1)

    def __repr__(self) -> str:
        return f"BatchNorm({self.num_features} {self.axis})"

    def _check(self, x) -> None:
        self.backend.check(x, repr(self))
        ndim = 2 if self.axis == "features" else 4
        if x.ndim != ndim or x.shape[1] != self.num_features:
            expected = "(batch, {0})" if ndim == 2 else "(batch, {0}, height, width)"
            raise ValueError(
                f"{self!r} expects input of shape {expected.format(self.num_features)}, "
                f"got {tuple(x.shape)}"
            )

    def forward(self, x, train: bool = True):
        self._check(x)
        xp = self.backend.xp
        if train:
            m = x.size // self.num_features
            if m < 2:
                raise ValueError(
                    f"{self!r} needs more than one value per {self.axis[:-1]} in training "
                    f"(input {tuple(x.shape)}); a batch of one has no batch statistics"
                )
            mean = x.mean(axis=self._pooled)
            centred = x - mean.reshape(self._shape)
            var = (centred * centred).mean(axis=self._pooled)
            self._update_running(mean, var, m)
        else:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
            centred = x - mean.reshape(self._shape)
        inv_std = 1 / xp.sqrt(var + self.eps)
        xhat = centred  # standardised in place: centred is not needed after this
        xhat *= inv_std.reshape(self._shape)
        y = xhat * self.params["gamma"].reshape(self._shape)
        y += self.params["beta"].reshape(self._shape)
        return y, (train, xhat, inv_std)

    def _update_running(self, mean, var, m: int) -> None:
        # In place, so that composites and checkpoints keep seeing the same arrays.
        keep, new = 1.0 - self.momentum, self.momentum
        running_mean, running_var = self.buffers["running_mean"], self.buffers["running_var"]
        running_mean *= keep
        running_mean += new * mean
        running_var *= keep
        running_var += (new * m / (m - 1)) * var

    def backward(self, dy, cache, *, param_grads: bool = True, input_grad: bool = True):
        train, xhat, inv_std = cache
        sum_dy = dy.sum(axis=self._pooled)
        sum_dy_xhat = (dy * xhat).sum(axis=self._pooled)
        if param_grads:
            self.grads["gamma"] += sum_dy_xhat
            self.grads["beta"] += sum_dy
        if not input_grad:
            return None
        scale = (self.params["gamma"] * inv_std).reshape(self._shape)
        if not train:
            return dy * scale
        # The batch coupling: mu and var move with every input, which removes from G its
        # mean and its component along xhat. (In place: each pass over a map is a pass over
        # memory, and the two sums above serve both gradients.)
        m = dy.size // self.num_features
        dx = dy - (sum_dy / m).reshape(self._shape)
        dx -= xhat * (sum_dy_xhat / m).reshape(self._shape)
        dx *= scale
        return dx
