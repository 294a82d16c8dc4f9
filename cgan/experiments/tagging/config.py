"""The tagging experiment's configuration: :class:`TaggingConfig` (a run's config.json) and
the presets the command line starts from (:data:`PRESETS`, :func:`make_config`)."""

from __future__ import annotations

from dataclasses import dataclass

from ...core.config import ConfigFromDict, pick
from ...core.optim import OptimConfig
from ...core.streams import Recorded
from ...data.mirflickr import CROPS128_FEATURES_FILE, FEATURES_FILE
from ...models.tagging import G_OUTPUTS, NetConfig

__all__ = ["TaggingConfig", "make_config", "CONDITIONS", "G_ESTIMATORS", "METHODS", "PRESETS", "DEFAULT_VECTORS",
           "STREAMS"]

# "default": the project's own skip-gram vectors, trained on first use into the cache
# (cgan.experiments.tagging.vectors); any other value is a word2vec text file.
DEFAULT_VECTORS = "default"
CONDITIONS = ("features", "labels")
G_ESTIMATORS = ("straight_through", "score")
METHODS = ("cgan", "regression", "classifier")

# The random streams of a run (cgan.core.streams), seeded as they always were; the
# validation evaluation after each epoch draws from the spawned stream "validation".
STREAMS = {
    "train": Recorded(0),               # initialisation, data order, noise, dropout
    "evaluation": Recorded(1_000_003),  # the samples that tag the test images
    "resume": Recorded(0, 7919),        # CuPy only: the stream after resuming at epoch i
}

# Presets: overrides of TaggingConfig's fields per method (the field defaults are the
# paper's networks and schedule, run for a fixed number of epochs). Every preset stops on
# the validation precision@10 (patience) and keeps the best epoch. The "default" values of
# the adversarial net are the sweep's best on the validation images (docs/tagging.md, "the
# sweep"): G draws one tag vector per sample (straight-through Gumbel-softmax over the
# vocabulary, its bias starting at the tags' log-frequencies), and each sample votes for its
# one nearest word (the paper's rule takes 20, which favours words near many others). Every
# method's default is at half the paper's widths, where the sweep chose it: at the full
# widths the same adversarial settings let D win outright (D(x) 0.99, D(G(z)) 0.01 by
# epoch 2) and G collapse; `--preset paper` keeps the published widths.
_STOP = dict(epochs=30, patience=3, width_scale=0.5)
PRESETS = {
    "default": {
        "cgan": dict(_STOP, patience=4, optimizer="adam", lr=2e-4, beta1=0.5, lr_decay=1.0,
                     g_output="gumbel_hard", temperature=1.0, marginal_bias=True, k_nearest=1,
                     d_keep=0.5, g_keep=0.5),
        "regression": dict(_STOP, optimizer="adam", lr=1e-3, beta1=0.9, lr_decay=1.0, g_output="unit",
                           g_keep=1.0),
        "classifier": dict(_STOP, optimizer="adam", lr=2e-4, beta1=0.9, lr_decay=1.0, g_keep=0.5),
    },
    # The paper's SGD schedule and networks, with the same stopping rule.
    "paper": {method: dict(_STOP, width_scale=1.0) for method in METHODS},
}
# A short check: two epochs on the first 2,000 training images, 20 samples per image on
# 300 validation images.
PRESETS["quick"] = {method: dict(values, epochs=2, patience=None, train_limit=2000, valid_limit=300,
                                 valid_samples=20)
                    for method, values in PRESETS["default"].items()}

# Keys added after runs were recorded, with the value those runs used.
_ADDED = {"features_file": FEATURES_FILE}


@dataclass
class TaggingConfig(OptimConfig, ConfigFromDict):
    """Everything that determines a tagging run. ``method`` picks adversarial training, the
    regression baseline or the multi-label classifier; the networks' options are
    cgan.models.tagging.NetConfig's fields by the same names."""

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
    g_output: str = "linear"     # "unit": G's output scaled to unit length; "vocab": a mix of word vectors;
    #                              "gumbel": a Gumbel-softmax draw of one; "gumbel_hard": exactly one (NetConfig)
    temperature: float = 1.0     # the softmax temperature of the "vocab" and "gumbel*" outputs
    marginal_bias: bool = False  # ... whose logits' bias starts at log(the training tags' frequencies)
    g_estimator: str = "straight_through"  # G's update with "gumbel_hard": or "score" (REINFORCE)
    instance_noise: float = 0.0  # adversarial training: sigma of noise on real and generated vectors
    n_samples: int = 100
    k_nearest: int = 20
    top: int = 10
    train_limit: int | None = None   # the first N training images (quick checks)
    max_updates: int | None = None   # stop after this many updates
    patience: int | None = None      # stop after this many epochs without a better validation P@10
    valid_limit: int | None = None   # validate on the first N validation images (None: all)
    valid_samples: int | None = None  # samples per validation image (None: n_samples)
    data_dir: str | None = None
    features_file: str = CROPS128_FEATURES_FILE   # relative to data_dir
    vectors: str = DEFAULT_VECTORS
    preset: str | None = None        # the preset the run started from (a record only)

    @classmethod
    def from_dict(cls, values: dict):
        values = dict(values)
        for key, value in _ADDED.items():
            values.setdefault(key, value)
        return super().from_dict(values)

    def validate(self) -> None:
        self.validate_optimizer()
        if self.condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {', '.join(CONDITIONS)}, got {self.condition!r}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.g_output not in G_OUTPUTS:
            raise ValueError(f"g_output must be one of {', '.join(G_OUTPUTS)}, got {self.g_output!r}")
        for name in ("epochs", "batch_size", "noise_dim", "n_samples", "k_nearest", "top"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("patience", "valid_limit", "valid_samples", "train_limit", "max_updates"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 (or None), got {getattr(self, name)}")
        if self.g_estimator not in G_ESTIMATORS:
            raise ValueError(f"g_estimator must be one of {', '.join(G_ESTIMATORS)}, got {self.g_estimator!r}")
        if self.g_estimator == "score" and (self.method != "cgan" or self.g_output != "gumbel_hard"):
            raise ValueError("g_estimator 'score' is the adversarial net's update of a generator that draws "
                             "one word: it needs method 'cgan' and g_output 'gumbel_hard'")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.instance_noise < 0:
            raise ValueError(f"instance_noise must be >= 0, got {self.instance_noise}")
        for name in ("d_keep", "g_keep"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a keep probability in (0, 1], got {getattr(self, name)}")

    @property
    def validates(self) -> bool:
        """Whether each epoch ends with the validation P@10 (and the best epoch is kept)."""
        return self.patience is not None or self.valid_limit is not None or self.valid_samples is not None

    def net_config(self) -> NetConfig:
        """The networks' options: NetConfig's fields, by name."""
        return pick(NetConfig, self)


def make_config(condition: str = "features", preset: str | None = None, **overrides) -> TaggingConfig:
    """A config: the field defaults (the paper's networks and SGD schedule for ``epochs``),
    or ``preset``'s values for the method, then ``overrides`` (None values ignored). The
    momentum ramps over the run's epochs unless given."""
    values = {k: v for k, v in overrides.items() if v is not None}
    method = values.get("method", "cgan")
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
        values = {**PRESETS[preset].get(method, {}), **values, "preset": preset}
    epochs = values.setdefault("epochs", 20 if preset is None else values.get("epochs", 20))
    values.setdefault("momentum_end_epoch", epochs)
    config = TaggingConfig(condition=condition, **values)
    config.validate()
    return config
