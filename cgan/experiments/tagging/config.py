"""The tagging experiment's configuration: :class:`TaggingConfig` (a run's config.json)."""

from __future__ import annotations

from dataclasses import dataclass

from ...core.config import ConfigFromDict, pick
from ...core.optim import OptimConfig
from ...core.streams import Recorded
from ...models.tagging import NetConfig

__all__ = ["TaggingConfig", "make_config", "CONDITIONS", "METHODS", "DEFAULT_VECTORS", "STREAMS"]

DEFAULT_VECTORS = "runs/wordvec/mirflickr-sgns-200.txt"
CONDITIONS = ("features", "labels")
METHODS = ("cgan", "regression")
# Default epochs, measured to stay under 3 minutes (features) and 6 minutes (labels) on
# one CPU thread (docs/tagging.md).
DEFAULT_EPOCHS = {"features": 4, "labels": 1}
# The labels condition has 74k training pairs (740 updates an epoch); its default run stops
# after this many updates (a fifth of an epoch) to fit the time budget.
DEFAULT_MAX_UPDATES = {"features": None, "labels": 150}

# The random streams of a run (cgan.core.streams), seeded as they always were.
STREAMS = {
    "train": Recorded(0),               # initialisation, data order, noise, dropout
    "evaluation": Recorded(1_000_003),  # the samples that tag the test images
    "resume": Recorded(0, 7919),        # CuPy only: the stream after resuming at epoch i
}


@dataclass
class TaggingConfig(OptimConfig, ConfigFromDict):
    """Everything that determines a tagging run. ``method`` picks adversarial training or
    the regression baseline; the networks' options are cgan.models.tagging.NetConfig's
    fields by the same names."""

    # Written by earlier versions for a pair that read it; the tagging pair is conditional.
    RETIRED = {"model": "cgan"}

    condition: str = "features"
    method: str = "cgan"
    noise_dim: int = 100
    backend: str = "numpy"
    seed: int = 0
    split_seed: int = 0
    epochs: int = 20
    batch_size: int = 100
    momentum_end_epoch: int = 20
    g_irange: float = 0.05
    d_irange: float = 0.005
    d_keep: float = 0.5          # dropout keep probability before D's joint maxout and its output
    g_keep: float = 0.5          # ... on the input of G's joint linear layer (1 = none)
    width_scale: float = 1.0     # the same networks, every hidden width times this (quick checks)
    n_samples: int = 100
    k_nearest: int = 20
    top: int = 10
    train_limit: int | None = None   # the first N training images (quick checks)
    max_updates: int | None = None   # stop after this many updates (labels default: 150)
    data_dir: str | None = None
    vectors: str = DEFAULT_VECTORS

    def validate(self) -> None:
        self.validate_optimizer()
        if self.condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {', '.join(CONDITIONS)}, got {self.condition!r}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        for name in ("epochs", "batch_size", "noise_dim", "n_samples", "k_nearest", "top"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("d_keep", "g_keep"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a keep probability in (0, 1], got {getattr(self, name)}")

    def net_config(self) -> NetConfig:
        """The networks' options: NetConfig's fields, by name."""
        return pick(NetConfig, self)


def make_config(condition: str = "features", **overrides) -> TaggingConfig:
    """A config with the condition's default epochs (momentum ramped over the run)."""
    values = {k: v for k, v in overrides.items() if v is not None}
    epochs = values.setdefault("epochs", DEFAULT_EPOCHS.get(condition, 1))
    values.setdefault("momentum_end_epoch", epochs)
    values.setdefault("max_updates", DEFAULT_MAX_UPDATES.get(condition))
    config = TaggingConfig(condition=condition, **values)
    config.validate()
    return config
