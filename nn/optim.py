"""SGD with classical momentum and the schedules of the adversarial-nets papers.

Update, for every parameter p with gradient g (in place, no new arrays kept):

    v <- m v - lr g
    p <- p + v

then, if ``max_col_norm`` is set, every weight matrix's columns are rescaled to norm at
most ``max_col_norm`` (pylearn2's constraint, used by the original GAN code).

The learning rate follows a per-update schedule and the momentum a per-epoch schedule:
the conditional paper used lr 0.1 divided by 1.00004 each update down to 1e-6, and
momentum 0.5 rising linearly to 0.7.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import fused
from .backend import array_module
from .blas import axpy, scale

__all__ = ["Constant", "ExponentialDecay", "LinearRamp", "SGD", "Adam", "RMSProp", "clip_column_norms",
           "clip_values"]


@dataclass(frozen=True)
class Constant:
    """The same value at every step."""

    value: float

    def __call__(self, step: int) -> float:
        return self.value


@dataclass(frozen=True)
class ExponentialDecay:
    """value(t) = max(initial / decay**t, floor) after t updates.

    ``ExponentialDecay(0.1, 1.00004, 1e-6)`` is the conditional paper's learning rate; it
    reaches its floor after ln(1e5) / ln(1.00004) ~ 287,829 updates.
    """

    initial: float
    decay: float
    floor: float = 0.0

    def __post_init__(self):
        if self.decay < 1.0:
            raise ValueError(f"decay factor must be >= 1 (lr is divided by it), got {self.decay}")

    def __call__(self, step: int) -> float:
        return max(self.initial * math.exp(-step * math.log(self.decay)), self.floor)


@dataclass(frozen=True)
class LinearRamp:
    """``start`` until epoch ``start_epoch``, then linear to ``end`` at ``end_epoch``, then ``end``.

    Epochs count from 0. ``LinearRamp(0.5, 0.7, 1, 250)`` is the original GAN code's
    momentum schedule (pylearn2's MomentumAdjustor(start=1, saturate=250)).
    """

    start: float
    end: float
    start_epoch: int
    end_epoch: int

    def __post_init__(self):
        if self.end_epoch < self.start_epoch:
            raise ValueError(
                f"end_epoch ({self.end_epoch}) must not be before start_epoch ({self.start_epoch})"
            )

    def __call__(self, epoch: int) -> float:
        if epoch <= self.start_epoch:
            return self.start
        if epoch >= self.end_epoch:
            return self.end
        fraction = (epoch - self.start_epoch) / (self.end_epoch - self.start_epoch)
        return self.start + fraction * (self.end - self.start)


def _as_schedule(value):
    return Constant(float(value)) if isinstance(value, (int, float)) else value


class _Optimizer:
    """What SGD and Adam share: the parameter and gradient dicts, a per-update learning-rate
    schedule, the epoch counter, the optional column-norm constraint, and state I/O.

    Subclasses name their per-parameter state arrays in ``_slots`` (e.g. ``("velocity",)``),
    each a dict with the parameters' keys, and implement ``_update(key, p, g, lr)``.
    """

    _slots: tuple = ()

    #: every this many updates, state entries smaller than the dtype's smallest normal
    #: number (subnormal floats) are set to 0: see :meth:`_flush_subnormals`
    FLUSH_EVERY = 10

    def __init__(self, params: dict, grads: dict, lr, max_col_norm=None):
        if set(params) != set(grads):
            raise ValueError("params and grads must have the same keys")
        self.params = params
        self.grads = grads
        self.lr = _as_schedule(lr)
        self.max_col_norm = max_col_norm
        for slot in self._slots:
            setattr(self, slot, {k: array_module(p).zeros_like(p) for k, p in params.items()})
        self.updates = 0
        self.epoch = 0

    @property
    def current_lr(self) -> float:
        return self.lr(self.updates)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def step(self) -> None:
        lr = self.current_lr
        self._begin_step()
        for key, p in self.params.items():
            self._update(key, p, self.grads[key], lr)
            if self.max_col_norm is not None and p.ndim == 2:
                clip_column_norms(p, self.max_col_norm)
        self.updates += 1
        if self.updates % self.FLUSH_EVERY == 0:
            self._flush_subnormals()

    def _flush_subnormals(self) -> None:
        """Set the state's subnormal entries (0 < |a| < the smallest normal float, 1.2e-38
        in float32) to 0.

        Momentum and moment estimates of parameters whose gradients are tiny or stop
        decay into that range and, with tiny gradients, stay there; a CPU computes with
        subnormals up to a hundred times slower, and every update reads the whole state.
        In seeded MNIST training half a million velocity entries were subnormal by the
        seventh epoch; flushing them every ten updates brought its epoch back from 11.3
        to 8.9-9.3 s (docs/performance.md), for a change below 1.2e-38 per entry.
        Every ten, not every, update: one flush costs about a third of an update.
        """
        for slot in self._slots:
            for a in getattr(self, slot).values():
                xp = array_module(a)
                xp.copyto(a, 0, where=xp.abs(a) < xp.finfo(a.dtype).tiny)

    def _begin_step(self) -> None:
        """Per-step scalars (momentum, bias corrections), before the parameters are visited."""

    def _update(self, key, p, g, lr) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict:
        state = {f"{slot}.{k}": a for slot in self._slots for k, a in getattr(self, slot).items()}
        state["updates"] = self.updates
        state["epoch"] = self.epoch
        return state

    def load_state_dict(self, state: dict) -> None:
        for slot in self._slots:
            for key, a in getattr(self, slot).items():
                name = f"{slot}.{key}"
                if name not in state:
                    raise ValueError(f"optimiser state has no {name!r}")
                if tuple(state[name].shape) != tuple(a.shape):
                    raise ValueError(
                        f"optimiser state {name!r} has shape {tuple(state[name].shape)}, "
                        f"expected {tuple(a.shape)}"
                    )
                a[...] = array_module(a).asarray(state[name], dtype=a.dtype)
        self.updates = int(state["updates"])
        self.epoch = int(state["epoch"])


class SGD(_Optimizer):
    """Stochastic gradient descent with classical momentum.

    Args:
        params, grads: the dicts of a layer (same keys); params are updated in place.
        lr: a number or a per-update schedule (called with the number of updates so far).
        momentum: a number or a per-epoch schedule (called with the current epoch).
        max_col_norm: if set, after each update rescale every column of every 2-D
            parameter whose norm exceeds it down to exactly this norm.

    Call ``step()`` once per minibatch after the gradients are computed, and
    ``set_epoch(e)`` at the start of each epoch.
    """

    _slots = ("velocity",)

    def __init__(self, params: dict, grads: dict, lr=0.1, momentum=0.5, max_col_norm=None):
        super().__init__(params, grads, lr, max_col_norm)
        self.momentum = _as_schedule(momentum)

    @property
    def current_momentum(self) -> float:
        return self.momentum(self.epoch)

    def _begin_step(self) -> None:
        self._m = self.current_momentum

    def _update(self, key, p, g, lr) -> None:
        v = self.velocity[key]
        if fused.sgd_momentum(p, v, g, lr, self._m):  # CuPy: one kernel (nn/fused.py)
            return
        # v <- m v - lr g;  p <- p + v.  In place, by BLAS on NumPy (nn.blas): no
        # temporary lr * g, and both cores (docs/performance.md).
        scale(self._m, v)
        axpy(-lr, g, v)
        axpy(1.0, v, p)


def clip_column_norms(W, max_norm: float) -> None:
    """Rescale, in place, each column of W whose Euclidean norm exceeds ``max_norm``.

    Columns are the incoming weights of one output unit; columns within the limit are
    left exactly as they are.
    """
    xp = array_module(W)
    norms = xp.sqrt((W * W).sum(axis=0))
    # max_norm / max(norm, max_norm) is exactly 1 for columns within the limit, and
    # needs no data-dependent branch (which would synchronise a GPU).
    W *= max_norm / xp.maximum(norms, max_norm)


class Adam(_Optimizer):
    """Adam (Kingma & Ba, 2015), updated in place:

        m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2
        p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

    Not in the 2014 papers (they used SGD with momentum); the `default` MNIST preset uses
    it because plain SGD collapsed in every short run (docs/mnist.md). ``lr`` may be a
    per-update schedule, as for SGD.
    """

    _slots = ("m", "v")

    def __init__(self, params: dict, grads: dict, lr=2e-4, beta1: float = 0.5,
                 beta2: float = 0.999, eps: float = 1e-8, max_col_norm=None):
        if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0):
            raise ValueError(f"beta1 and beta2 must be in [0, 1), got {beta1}, {beta2}")
        super().__init__(params, grads, lr, max_col_norm)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self._work: dict = {}

    @property
    def current_momentum(self) -> float:
        return self.beta1

    def _begin_step(self) -> None:
        # Bias corrections folded into one step scale and one epsilon (scalars, no arrays).
        t = self.updates + 1
        self._scale = math.sqrt(1 - self.beta2**t) / (1 - self.beta1**t)
        self._eps = self.eps * math.sqrt(1 - self.beta2**t)

    def _update(self, key, p, g, lr) -> None:
        m, v = self.m[key], self.v[key]
        if fused.adam(p, m, v, g, self.beta1, self.beta2, self._eps, lr * self._scale):
            return  # CuPy: one kernel (nn/fused.py)
        xp = array_module(p)
        # Speed: every intermediate goes through one work array per parameter, kept
        # between steps, instead of seven new arrays a step, and the scaled adds are done
        # in place by BLAS on NumPy (nn.blas; docs/performance.md). The work array is not
        # part of the optimiser's state.
        work = self._work.get(key)
        if work is None:
            work = self._work[key] = xp.empty_like(p)
        scale(self.beta1, m)
        axpy(1 - self.beta1, g, m)                  # m <- b1 m + (1 - b1) g
        xp.multiply(g, g, out=work)
        scale(self.beta2, v)
        axpy(1 - self.beta2, work, v)               # v <- b2 v + (1 - b2) g^2
        xp.sqrt(v, out=work)
        work += self._eps
        xp.divide(m, work, out=work)
        axpy(-lr * self._scale, work, p)            # p <- p - lr m_hat / (sqrt(v_hat) + eps)


class RMSProp(_Optimizer):
    """RMSProp (Tieleman & Hinton, 2012) with PyTorch's semantics, updated in place:

        s <- alpha s + (1 - alpha) g^2
        p <- p - lr g / (sqrt(s) + eps)

    This is ``torch.optim.RMSprop`` with its defaults (alpha 0.99, eps 1e-8 added outside
    the square root, no momentum, not centred), the optimiser of the WGAN authors' code
    (github.com/martinarjovsky/WassersteinGAN, main.py: ``optim.RMSprop(netD.parameters(),
    lr=opt.lrD)`` with lrD = lrG = 5e-5). TensorFlow's Keras ``RMSprop`` calls alpha
    ``rho`` and defaults it to 0.9; pass ``alpha=0.9`` for that convention. The default
    lr is the WGAN paper's alpha = 0.00005 (Arjovsky et al., 2017, Algorithm 1). ``lr`` may
    be a per-update schedule, as for SGD.
    """

    _slots = ("square_avg",)

    def __init__(self, params: dict, grads: dict, lr=5e-5, alpha: float = 0.99,
                 eps: float = 1e-8, max_col_norm=None):
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"alpha must be in [0, 1), got {alpha}")
        super().__init__(params, grads, lr, max_col_norm)
        self.alpha, self.eps = float(alpha), float(eps)
        self._work: dict = {}

    @property
    def current_momentum(self) -> float:
        return 0.0

    def _update(self, key, p, g, lr) -> None:
        s = self.square_avg[key]
        if fused.rmsprop(p, s, g, self.alpha, self.eps, lr):  # CuPy: one kernel (nn/fused.py)
            return
        xp = array_module(p)
        # one work array per parameter and in-place scaled adds, as in Adam
        work = self._work.get(key)
        if work is None:
            work = self._work[key] = xp.empty_like(p)
        scale(self.alpha, s)
        xp.multiply(g, g, out=work)
        axpy(1 - self.alpha, work, s)               # s <- alpha s + (1 - alpha) g^2
        xp.sqrt(s, out=work)
        work += self.eps
        xp.divide(g, work, out=work)
        axpy(-lr, work, p)                          # p <- p - lr g / (sqrt(s) + eps)


def clip_values(params: dict, c: float) -> None:
    """Clip, in place, every entry of every array in ``params`` to [-c, c].

    The WGAN critic's weight clipping (Arjovsky et al., 2017, Algorithm 1, c = 0.01),
    applied to all of its parameters, biases included, after each critic update: it keeps
    the critic in a compact set of functions, so all of them are K-Lipschitz for one K.
    """
    if not c > 0:
        raise ValueError(f"the clipping bound must be positive, got {c}")
    for p in params.values():
        array_module(p).clip(p, -c, c, out=p)
