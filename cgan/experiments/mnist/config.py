"""The MNIST experiment's configuration: :class:`TrainConfig`, the presets, the streams.

A run's ``config.json`` is a :class:`TrainConfig` (its field names are the file's keys;
runs written by earlier versions load unchanged). The optimiser fields come from
cgan.core.optim.OptimConfig, the networks' options are cgan.models.mnist.ModelConfig's
fields by the same names (:meth:`TrainConfig.model_config`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...core.config import ConfigFromDict, pick
from ...core.noise import NOISES
from ...core.optim import OptimConfig
from ...core.steps import BCE, UPDATES, Wasserstein
from ...core.streams import Recorded
from ...models.dcgan import DCGAN_MODELS, DCGANConfig
from ...models.mnist import N_CLASSES, ModelConfig

__all__ = ["TrainConfig", "PRESETS", "WGAN_DEFAULTS", "STREAMS", "resolve_config"]

UPDATE_RULES = ("alternating", "simultaneous")
FAKE_LABELS = ("batch", "uniform")
G_LOSSES = ("nonsaturating", "saturating")
LOSSES = ("bce", "wasserstein")
MODELS = ("cgan", "gan") + DCGAN_MODELS  # the papers' MLPs; the convolutional nets (docs/dcgan.md)

# The random streams of a run (cgan.core.streams), seeded as they always were.
STREAMS = {
    "train": Recorded(0),               # initialisation, data order, noise, dropout, labels
    "grid": Recorded(1_000_003),        # the fixed sample grid drawn after every epoch
    "validation": Recorded(2_000_003),  # the samples scored on the validation set
    "resume": Recorded(0, 7919),        # CuPy only: the stream after resuming at epoch i
}


@dataclass
class TrainConfig(OptimConfig, ConfigFromDict):
    """Everything that determines a run. Presets fill these; the CLI can override some."""

    batch_size: int = 100
    g_irange: float = 0.05       # generator weights ~ U[-g_irange, g_irange]
    d_irange: float = 0.005      # discriminator weights ~ U[-d_irange, d_irange]
    model: str = "cgan"
    preset: str = "default"
    backend: str = "numpy"
    seed: int = 0
    epochs: int = 25
    k_steps: int = 1
    noise: str = "uniform01"
    update: str = "alternating"  # or "simultaneous": one SGD step on D's and G's gradients
                                 # taken at the same parameters (the original code)
    fake_labels: str = "batch"   # labels of generated samples: the real minibatch's, or
                                 # drawn uniformly (the conditional extension of the code)
    g_loss: str = "nonsaturating"
    loss: str = "bce"          # "bce" (the papers) or "wasserstein" (WGAN; k_steps = n_critic)
    clip: float = 0.01         # WGAN: the critic's parameters are clipped to [-clip, clip]
    init: str = "uniform"
    d_input_keep: float = 0.8
    d_hidden_keep: float = 0.5
    g_hidden_keep: float = 1.0
    marginal_bias: bool = True
    marginal_clip: float = 1e-3  # pixel marginals clipped to [c, 1 - c] before the logit
                                 # (pylearn2: 1e-7)
    eval_every: int = 1
    eval_samples: int = 10_000
    eval_valid_points: int = 10_000   # validation images scored after each epoch
    eval_sigma_points: int | None = None  # the first N of them choose sigma (None: all of
                                          # them; the original parzen_ll.py used 1,000)
    patience: int | None = None
    train_limit: int | None = None
    data_dir: str | None = None
    width_scale: float = 1.0   # the same networks, every hidden width times this (quick checks)
    d_condition: str = "planes"  # the conditional DCGAN's D: the label as input planes or by
                                 # projection (cgan.models.dcgan)
    critic_batchnorm: bool = False  # WGAN on the DCGANs: keep D's BatchNorm in the critic, as
                                    # the WGAN code's DCGAN_D does (clipped like every weight)
    critic_warmup: bool = False  # WGAN: the WGAN code's schedule, 100 critic steps per generator
                                 # step for the first 25 generator steps and every 500th

    @property
    def conditional(self) -> bool:
        return self.model in ("cgan", "cdcgan")

    def validate(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, got {self.model!r}")
        if self.noise not in NOISES:
            raise ValueError(f"noise must be one of {', '.join(NOISES)}, got {self.noise!r}")
        self.validate_optimizer()
        if self.g_loss not in G_LOSSES:
            raise ValueError(f"g_loss must be one of {', '.join(G_LOSSES)}, got {self.g_loss!r}")
        if self.update not in UPDATE_RULES:
            raise ValueError(f"update must be one of {', '.join(UPDATE_RULES)}, got {self.update!r}")
        if self.fake_labels not in FAKE_LABELS:
            raise ValueError(f"fake_labels must be one of {', '.join(FAKE_LABELS)}, got {self.fake_labels!r}")
        if self.update == "simultaneous" and (self.loss != "bce" or self.k_steps != 1):
            raise ValueError("the simultaneous update takes one step of each network per minibatch "
                             "on the bce loss: use --update alternating with --k or --loss wasserstein")
        if not 0.0 < self.marginal_clip < 0.5:
            raise ValueError(f"marginal_clip must be in (0, 0.5), got {self.marginal_clip}")
        if self.d_condition != "planes" and self.model != "cdcgan":
            raise ValueError(f"d_condition applies to the conditional DCGAN (model cdcgan) only, "
                             f"got {self.d_condition!r} for {self.model}")
        if self.critic_batchnorm and (self.loss != "wasserstein" or self.model not in DCGAN_MODELS):
            raise ValueError("critic_batchnorm applies to the Wasserstein loss on the DCGAN "
                             "networks only (--loss wasserstein with --model dcgan or cdcgan)")
        if self.critic_warmup and self.loss != "wasserstein":
            raise ValueError("critic_warmup applies to the Wasserstein loss only (--loss wasserstein)")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.loss == "wasserstein" and self.g_loss != "nonsaturating":
            raise ValueError("--g-loss applies to the bce loss only; the Wasserstein generator "
                             "descends -E f(G(z))")
        if not self.clip > 0:
            raise ValueError(f"clip must be positive, got {self.clip}")
        for name in ("epochs", "batch_size", "k_steps", "eval_every", "eval_samples",
                     "eval_valid_points"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.eval_sigma_points is not None and self.eval_sigma_points < 1:
            raise ValueError(f"eval_sigma_points must be at least 1, got {self.eval_sigma_points}")
        if self.conditional and self.eval_samples % N_CLASSES:
            raise ValueError(f"eval_samples must be a multiple of {N_CLASSES} for the conditional model")
        self.model_config()  # checks the architecture options

    def model_config(self) -> ModelConfig | DCGANConfig:
        """The networks' options: ModelConfig's fields (DCGANConfig's for the convolutional
        nets, whose critic has no BatchNorm under the Wasserstein loss unless
        critic_batchnorm), by name."""
        if self.model in DCGAN_MODELS:
            return pick(DCGANConfig, self, d_batchnorm=self.loss != "wasserstein" or self.critic_batchnorm)
        return pick(ModelConfig, self)

    def objective(self):
        """What D and G minimise (cgan.core.steps). A discriminator with BatchNorm (the
        DCGAN's) sees real and generated rows in separate passes, so that its batch
        statistics never mix the two (as the DCGAN code ran it)."""
        if self.loss == "wasserstein":
            return Wasserstein(clip=self.clip)
        return BCE(saturating=self.g_loss == "saturating", one_pass=self.model not in DCGAN_MODELS)

    def update_rule(self):
        """The update rule of cgan.core.steps.UPDATES (WGAN alternates)."""
        return UPDATES[self.update]


# The original GAN code's MNIST configuration, read from goodfeli/adversarial (mnist.yaml,
# __init__.py) and pylearn2 (sgd.py, learning_rule.py, mlp.py, maxout.py, dbm):
# - SGD on D's and G's gradients taken together (AdversaryCost2.get_gradients), lr 0.1
#   divided by 1.000004 after every update (ExponentialDecay) down to 1e-6, classical
#   momentum 0.5 rising linearly to 0.7 over epochs 1-250 (MomentumAdjustor), minibatch 100;
# - noise "uniform": U[-sqrt 3, sqrt 3]^100, unit variance (Generator.get_noise);
# - dropout on the discriminator's layer inputs only: pixels kept with 0.8 (scale 1.25),
#   the inputs of the later layers with 0.5 (scale 2); none in the generator;
# - weights U[-0.05, 0.05] in G and U[-0.005, 0.005] in D, zero biases, G's output bias the
#   logit of the pixel marginals clipped to [1e-7, 1 - 1e-7]; no column-norm limit;
# - open-ended training, the validation Parzen estimate monitored (sigma chosen on the
#   first 1,000 validation images, as parzen_ll.py does).
_ORIGINAL = dict(
    optimizer="sgd", lr=0.1, lr_decay=1.000004, lr_min=1e-6, momentum_start=0.5,
    momentum_end=0.7, momentum_start_epoch=1, momentum_end_epoch=250, batch_size=100,
    max_col_norm=None, g_irange=0.05, d_irange=0.005, init="uniform", marginal_bias=True,
    marginal_clip=1e-7, noise="uniform_unit_variance", update="simultaneous",
    d_input_keep=0.8, d_hidden_keep=0.5, g_hidden_keep=1.0, epochs=300, patience=None,
    eval_valid_points=10_000, eval_sigma_points=1_000,
)
# The conditional extension of that code (hans/adversarial, conditional/) keeps the
# simultaneous update and draws the generated samples' labels uniformly at random.
_ORIGINAL_CGAN = dict(_ORIGINAL, fake_labels="uniform")

# The convolutional nets (docs/dcgan.md): the DCGAN paper's Adam (lr 2e-4, beta1 0.5), no
# dropout, no learning-rate decay, minibatch 64, Gaussian noise; "paper" for these models is
# Radford et al.'s own minibatch 128 and uniform noise on [-1, 1].
_DCGAN = dict(optimizer="adam", lr=2e-4, beta1=0.5, lr_decay=1.0, lr_min=1e-6, batch_size=64,
              noise="gaussian", d_input_keep=1.0, d_hidden_keep=1.0, g_hidden_keep=1.0,
              marginal_bias=False, epochs=5, eval_valid_points=2000)
_DCGAN_PAPER = dict(_DCGAN, batch_size=128, noise="uniform_pm1")
# The conditional DCGAN's default reads the label by projection in D (Miyato and Koyama
# 2018), which follows the label far sooner than ten input planes (docs/dcgan.md:
# validation label accuracy 0.969 against 0.947 at epoch 5), and trains 10 epochs.
_CDCGAN = dict(_DCGAN, d_condition="projection", epochs=10)

PRESETS: dict[str, dict[str, dict]] = {
    "original": {"cgan": _ORIGINAL_CGAN, "gan": _ORIGINAL},
    # The conditional paper's text (section 4.1) read as a description of that code: lr
    # divided by 1.00004 per update (ten times the original's decay), dropout 0.5 "to both
    # the generator and discriminator" (here on G's last hidden layer too), and training
    # stopped when the validation log-likelihood stops improving (patience 50 epochs).
    "paper": {
        "cgan": dict(_ORIGINAL_CGAN, lr_decay=1.00004, g_hidden_keep=0.5, patience=50),
        "gan": dict(_ORIGINAL, patience=50),
        "dcgan": _DCGAN_PAPER, "cdcgan": _DCGAN_PAPER,
    },
    # The quick recipe (docs/results.md): the original configuration for 30 epochs, with
    # dropout 0.5 on the conditional generator's last hidden layer (without it the
    # conditional networks collapse) and none on the discriminator's image input (that
    # dropout is where the salt noise of the samples comes from). About 8.5 minutes on the
    # project's 2-core CPU with two BLAS threads, about 13 with one.
    "default": {
        "cgan": dict(_ORIGINAL_CGAN, g_hidden_keep=0.5, d_input_keep=1.0, epochs=30),
        "gan": dict(_ORIGINAL, d_input_keep=1.0, epochs=30),
        "dcgan": _DCGAN, "cdcgan": _CDCGAN,
    },
    # The earlier short recipe: the papers' networks for 30 epochs with Adam (lr 2e-4, beta1
    # 0.5) instead of SGD, Gaussian noise, alternating updates, dropout 0.5 in both networks
    # (conditional), validation Parzen on 2,000 images. Its label accuracy at epoch 30
    # varied from run to run (0.97 and 0.66 in two runs of seed 0; docs/results.md).
    "adam": {
        "cgan": dict(optimizer="adam", lr=2e-4, lr_min=1e-6, momentum_start=0.5, momentum_end=0.7,
                     momentum_start_epoch=1, epochs=30, lr_decay=1.0, beta1=0.5,
                     noise="gaussian", d_input_keep=0.5, d_hidden_keep=0.5, g_hidden_keep=0.5,
                     eval_valid_points=2000),
        "gan": dict(optimizer="adam", lr=2e-4, lr_min=1e-6, momentum_start=0.5, momentum_end=0.7,
                    momentum_start_epoch=1, epochs=30, lr_decay=1.0, beta1=0.5,
                    noise="gaussian", d_input_keep=0.8, d_hidden_keep=0.5, g_hidden_keep=1.0,
                    eval_valid_points=2000),
        "dcgan": _DCGAN, "cdcgan": _DCGAN,
    },
}


# With --loss wasserstein, the WGAN paper's settings (Arjovsky et al., 2017, Algorithm 1:
# alpha = 0.00005, c = 0.01, m = 64, n_critic = 5, RMSProp) replace the preset's optimiser,
# on the preset's networks.
WGAN_DEFAULTS = dict(optimizer="rmsprop", lr=5e-5, lr_decay=1.0, rms_alpha=0.99, clip=0.01, update="alternating",
                     batch_size=64, k_steps=5)


def resolve_config(model: str = "cgan", preset: str = "default", **overrides) -> TrainConfig:
    """The preset's values for ``model`` (with WGAN_DEFAULTS on top when the loss is
    "wasserstein"), then any overrides that are not None."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    if model not in PRESETS[preset]:
        raise ValueError(f"unknown model {model!r} for the {preset} preset: choose one of "
                         f"{', '.join(PRESETS[preset])}")
    values = dict(PRESETS[preset][model], model=model, preset=preset)
    if overrides.get("loss") == "wasserstein":
        values.update(WGAN_DEFAULTS)
    values.update({k: v for k, v in overrides.items() if v is not None})
    config = TrainConfig.from_dict(values)
    config.validate()
    return config
