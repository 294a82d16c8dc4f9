"""The optimiser settings every adversarial experiment shares, and the optimisers they make."""

from __future__ import annotations

import math
from dataclasses import dataclass

import nn

__all__ = ["OPTIMIZERS", "OptimConfig", "Optimizers", "make_optimizer"]

OPTIMIZERS = ("sgd", "adam", "rmsprop")


@dataclass
class OptimConfig:
    """SGD: lr divided by lr_decay each update down to lr_min, momentum ramped linearly from
    momentum_start (epoch momentum_start_epoch) to momentum_end (epoch momentum_end_epoch).
    Adam: the same lr schedule, beta1. RMSProp: the same lr schedule, rms_alpha (PyTorch's
    smoothing constant). ``max_col_norm`` limits the norm of weight columns (None: no limit).

    Experiment configurations inherit these fields (their config.json keys).
    """

    optimizer: str = "sgd"     # "sgd" (the papers), "adam" or "rmsprop" (WGAN)
    lr: float = 0.1
    lr_decay: float = 1.00004
    lr_min: float = 1e-6
    momentum_start: float = 0.5
    momentum_end: float = 0.7
    momentum_start_epoch: int = 1
    momentum_end_epoch: int = 250
    beta1: float = 0.5
    rms_alpha: float = 0.99
    max_col_norm: float | None = None

    def validate_optimizer(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"the learning rate (lr) must be a positive number, got {self.lr}")
        if not (math.isfinite(self.lr_decay) and self.lr_decay >= 1):
            raise ValueError(f"lr_decay must be a number of at least 1 (the learning rate is "
                             f"divided by it after every update), got {self.lr_decay}")
        if not (math.isfinite(self.lr_min) and self.lr_min >= 0):
            raise ValueError(f"lr_min must be a non-negative number, got {self.lr_min}")
        for name in ("momentum_start", "momentum_end", "beta1", "rms_alpha"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        if self.momentum_end_epoch < self.momentum_start_epoch:
            raise ValueError(f"momentum_end_epoch ({self.momentum_end_epoch}) must not be before "
                             f"momentum_start_epoch ({self.momentum_start_epoch})")
        if self.max_col_norm is not None and not (math.isfinite(self.max_col_norm) and self.max_col_norm > 0):
            raise ValueError(f"max_col_norm must be a positive number or null, got {self.max_col_norm}")


def make_optimizer(config: OptimConfig, net: nn.Layer):
    """SGD with the papers' schedules, Adam or RMSProp, for one network."""
    lr = nn.ExponentialDecay(config.lr, config.lr_decay, config.lr_min)
    if config.optimizer == "rmsprop":
        return nn.RMSProp(net.params, net.grads, lr=lr, alpha=config.rms_alpha,
                          max_col_norm=config.max_col_norm)
    if config.optimizer == "adam":
        return nn.Adam(net.params, net.grads, lr=lr, beta1=config.beta1,
                       max_col_norm=config.max_col_norm)
    momentum = nn.LinearRamp(config.momentum_start, config.momentum_end,
                             config.momentum_start_epoch, config.momentum_end_epoch)
    return nn.SGD(net.params, net.grads, lr=lr, momentum=momentum, max_col_norm=config.max_col_norm)


@dataclass
class Optimizers:
    """The discriminator's and the generator's optimiser (either may be None: a frozen
    generator, the regression baseline's unused discriminator)."""

    d: object = None
    g: object = None

    def set_epoch(self, epoch: int) -> None:
        for opt in (self.g, self.d):
            if opt is not None:
                opt.set_epoch(epoch)
