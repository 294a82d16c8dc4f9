"""Adversarial training on MNIST: the papers' schedule, run directories, resume, evaluation.

One training iteration follows Algorithm 1 of Goodfellow et al. (2014):

1. discriminator step: a minibatch of real images and one of generated images (for the
   conditional model, generated with the real minibatch's labels); the discriminator
   descends 0.5 * (BCE(D(x), 1) + BCE(D(G(z)), 0)) = -V(D, G) / 2, the objective of the
   original code (AdversaryCost2);
2. every ``k_steps`` discriminator steps, one generator step on fresh noise: the
   generator descends -log D(G(z)) (non-saturating, the original code's choice) or
   log(1 - D(G(z))) (saturating, the minimax objective), backpropagated through the
   discriminator without touching the discriminator's gradients.

With ``loss="wasserstein"`` the same loop trains a WGAN (Arjovsky et al., 2017,
Algorithm 1): the discriminator's logit is read as the critic's linear output f, the
critic descends E f(G(z)) - E f(x) and has every parameter clipped to [-clip, clip] after
each update (``critic_step``), ``k_steps`` is the number of critic steps per generator
step (n_critic, 5), the generator descends -E f(G(z)) (``wasserstein_generator_step``),
and both use RMSProp with lr 5e-5 and minibatches of 64 unless told otherwise.

A run directory holds ``config.json`` (the resolved configuration), ``metrics.jsonl``
(one record per epoch), ``latest.npz`` and ``best.npz`` (checkpoints, atomic), and
``samples/`` (a grid per epoch from fixed noise) with ``curves.png``.
"""

from __future__ import annotations

import functools
import json
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import nn
from nn import checkpoint
from nn.backend import Backend, array_module
from nn.fileio import atomic_write

from .data.mnist import scale_pixels
from .models import IMAGE_DIM, N_CLASSES, ModelConfig, build_pair
from .progress import Progress

NOISES = ("uniform01", "uniform_pm1", "uniform_unit_variance", "gaussian")
UPDATES = ("alternating", "simultaneous")
FAKE_LABELS = ("batch", "uniform")
G_LOSSES = ("nonsaturating", "saturating")
LOSSES = ("bce", "wasserstein")
OPTIMIZERS = ("sgd", "adam", "rmsprop")


class ConfigFromDict:
    """``from_dict`` for configuration dataclasses: unknown keys are an error, not ignored."""

    @classmethod
    def from_dict(cls, values: dict):
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown configuration keys {unknown}")
        return cls(**values)


@dataclass
class OptimConfig(ConfigFromDict):
    """The optimiser fields every adversarial experiment shares (see make_optimizer).

    SGD: lr divided by lr_decay each update down to lr_min, momentum ramped linearly from
    momentum_start (epoch momentum_start_epoch) to momentum_end (epoch momentum_end_epoch).
    Adam: the same lr schedule, beta1. RMSProp: the same lr schedule, rms_alpha (PyTorch's
    smoothing constant). Weights start in U[-irange, irange] per network.
    """

    batch_size: int = 100
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
    g_irange: float = 0.05
    d_irange: float = 0.005

    def validate_optimizer(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")


@dataclass
class TrainConfig(OptimConfig):
    """Everything that determines a run. Presets fill these; the CLI can override some."""

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
    width_scale: float = 1.0   # tests only: the same networks, narrower

    def validate(self) -> None:
        if self.noise not in NOISES:
            raise ValueError(f"noise must be one of {', '.join(NOISES)}, got {self.noise!r}")
        self.validate_optimizer()
        if self.g_loss not in G_LOSSES:
            raise ValueError(f"g_loss must be one of {', '.join(G_LOSSES)}, got {self.g_loss!r}")
        if self.update not in UPDATES:
            raise ValueError(f"update must be one of {', '.join(UPDATES)}, got {self.update!r}")
        if self.fake_labels not in FAKE_LABELS:
            raise ValueError(f"fake_labels must be one of {', '.join(FAKE_LABELS)}, got {self.fake_labels!r}")
        if self.update == "simultaneous" and (self.loss != "bce" or self.k_steps != 1):
            raise ValueError("the simultaneous update takes one step of each network per minibatch "
                             "on the bce loss: use --update alternating with --k or --loss wasserstein")
        if not 0.0 < self.marginal_clip < 0.5:
            raise ValueError(f"marginal_clip must be in (0, 0.5), got {self.marginal_clip}")
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
        if self.model == "cgan" and self.eval_samples % N_CLASSES:
            raise ValueError(f"eval_samples must be a multiple of {N_CLASSES} for the conditional model")
        self.model_config()  # checks the architecture options

    def model_config(self) -> ModelConfig:
        return ModelConfig(model=self.model, init=self.init, g_irange=self.g_irange, d_irange=self.d_irange,
                           d_input_keep=self.d_input_keep, d_hidden_keep=self.d_hidden_keep,
                           g_hidden_keep=self.g_hidden_keep, marginal_bias=self.marginal_bias,
                           marginal_clip=self.marginal_clip, width_scale=self.width_scale, image_dim=IMAGE_DIM)



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

PRESETS: dict[str, dict[str, dict]] = {
    "original": {"cgan": _ORIGINAL_CGAN, "gan": _ORIGINAL},
    # The conditional paper's text (section 4.1) read as a description of that code: lr
    # divided by 1.00004 per update (ten times the original's decay), dropout 0.5 "to both
    # the generator and discriminator" (here on G's last hidden layer too), and training
    # stopped when the validation log-likelihood stops improving (patience 50 epochs).
    "paper": {
        "cgan": dict(_ORIGINAL_CGAN, lr_decay=1.00004, g_hidden_keep=0.5, patience=50),
        "gan": dict(_ORIGINAL, patience=50),
    },
    # About 26 minutes on a 2-core CPU: the papers' networks, 30 epochs, dropout 0.5,
    # Gaussian noise, and Adam (lr 2e-4, beta1 0.5) instead of SGD (docs/mnist.md).
    "default": {
        "cgan": dict(optimizer="adam", lr=2e-4, lr_min=1e-6, momentum_start=0.5, momentum_end=0.7,
                     momentum_start_epoch=1, epochs=30, lr_decay=1.0, beta1=0.5,
                     noise="gaussian", d_input_keep=0.5, d_hidden_keep=0.5, g_hidden_keep=0.5,
                     eval_valid_points=2000),
        "gan": dict(optimizer="adam", lr=2e-4, lr_min=1e-6, momentum_start=0.5, momentum_end=0.7,
                    momentum_start_epoch=1, epochs=30, lr_decay=1.0, beta1=0.5,
                    noise="gaussian", d_input_keep=0.8, d_hidden_keep=0.5, g_hidden_keep=1.0,
                    eval_valid_points=2000),
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
        raise ValueError(f"unknown model {model!r}: choose cgan or gan")
    values = dict(PRESETS[preset][model], model=model, preset=preset)
    if overrides.get("loss") == "wasserstein":
        values.update(WGAN_DEFAULTS)
    values.update({k: v for k, v in overrides.items() if v is not None})
    config = TrainConfig.from_dict(values)
    config.validate()
    return config


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class RunDirError(ValueError):
    """The run directory cannot be used as asked (exists, or has nothing to resume)."""


# -- pieces of a run ---------------------------------------------------------------------
_SQRT3 = math.sqrt(3.0)


def sample_noise(backend: Backend, kind: str, n: int, dim: int):
    """n noise vectors: U[0, 1]^dim (the conditional paper's "unit hypercube"), U[-1, 1]^dim,
    U[-sqrt 3, sqrt 3]^dim (mean 0, variance 1: what the original code's ``uniform`` drew),
    or N(0, I)."""
    if kind == "uniform01":
        return backend.uniform((n, dim))
    if kind == "uniform_pm1":
        return backend.uniform((n, dim), -1.0, 1.0)
    if kind == "uniform_unit_variance":
        return backend.uniform((n, dim), -_SQRT3, _SQRT3)
    return backend.normal((n, dim))


def one_hot(backend: Backend, labels):
    return backend.xp.eye(N_CLASSES, dtype=backend.dtype)[labels]


def generate(pair, backend: Backend, noise_backend: Backend, config: TrainConfig, labels=None,
             n: int | None = None, chunk: int = 1000):
    """Samples from the generator in evaluation mode (no dropout), in chunks.

    ``labels`` (int array) conditions the conditional model; the unconditional one takes ``n``.
    """
    total = int(labels.shape[0]) if labels is not None else int(n)
    out = None  # filled chunk by chunk: a list of chunks plus their concatenation would
    # hold the samples twice (31 MB more at the peak of a training run's evaluation)
    for start in range(0, total, chunk):
        m = min(chunk, total - start)
        z = sample_noise(noise_backend, config.noise, m, pair.config.noise_dim)
        y = one_hot(backend, labels[start:start + m]) if labels is not None else None
        x, _ = pair.generate(z, y, train=False)
        if out is None:
            out = backend.xp.empty((total, x.shape[1]), dtype=x.dtype)
        out[start:start + m] = x
    return out


def evaluation_labels(backend: Backend, n: int):
    """n labels, n / 10 of each class (the conditional paper's 1,000 per class for 10,000)."""
    return backend.xp.repeat(backend.xp.arange(N_CLASSES), n // N_CLASSES)


@dataclass
class DeviceData:
    train_x: object     # uint8 pixels (MnistSplits.train_images), or floats in [0, 1]
    train_y: object
    valid_x: object
    valid_y: object
    marginals: object

    def train_batch(self, idx, dtype):
        """Training rows ``idx`` as ``dtype`` in [0, 1].

        Memory: the training set stays uint8 on the device (39 MB for MNIST's 50,000
        digits, not 157 MB as float32) and each minibatch is scaled when it is drawn.
        """
        x = self.train_x[idx]
        return scale_pixels(x, dtype) if x.dtype.kind == "u" else x


def to_device(backend: Backend, splits, config: TrainConfig) -> DeviceData:
    images = getattr(splits, "train_images", None)
    if images is None:  # float pixels (tests' synthetic splits)
        images = splits.train_x
    n = config.train_limit or images.shape[0]
    xp = backend.xp
    train_x = xp.asarray(images[:n]) if images.dtype.kind == "u" else backend.asarray(images[:n])
    valid_x = splits.valid_x  # float32 in [0, 1] (MnistSplits scales its uint8 pixels)
    valid_n = min(config.eval_valid_points, valid_x.shape[0])
    marginals = train_x.mean(axis=0, dtype=xp.float64)
    if train_x.dtype.kind == "u":
        marginals /= 255.0
    return DeviceData(
        train_x=train_x,
        train_y=backend.asarray(splits.train_y[:n], dtype="int64"),
        valid_x=backend.asarray(valid_x[:valid_n]),
        valid_y=backend.asarray(splits.valid_y[:valid_n], dtype="int64"),
        marginals=marginals.astype(backend.dtype),
    )


def write_json(path: Path, obj) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_write(path, "w") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_metrics(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


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


# -- one adversarial iteration, shared by every experiment ------------------------------------
def discriminator_step(pair, opt, x, y, z, y_fake=None):
    """One discriminator update on a real minibatch x and a generated one G(z, y_fake).

    Descends 0.5 (BCE(D(x), 1) + BCE(D(G(z)), 0)) = -V(D, G) / 2, the original code's
    objective. ``y_fake`` (one-hot) conditions the generated minibatch; by default it is
    the real minibatch's ``y``. Returns (loss, mean D(x), mean D(G(z))) as 0-d arrays (no
    host sync).
    """
    d = pair.discriminator
    xp = array_module(x)
    n = x.shape[0]
    y_fake = y if y_fake is None else y_fake
    fake, _ = pair.generate(z, y_fake)
    # Speed: the real and the generated minibatch go through D as one batch of 2n rows.
    # Every layer works row by row (dropout draws a mask per row), so this is the same
    # function and gradient as two passes, but each matrix product is twice as tall, which
    # BLAS and the GPU run more efficiently, and D's kernels launch once instead of twice
    # (docs/performance.md). tests/test_train.py checks it against two separate passes.
    logits, cache = pair.discriminate(xp.concatenate([x, fake]),
                                      None if y is None else xp.concatenate([y, y_fake]))
    real_logits, fake_logits = logits[:n], logits[n:]
    loss, real_grad, fake_grad = nn.discriminator_loss(real_logits, fake_logits)
    grad = xp.concatenate([real_grad, fake_grad])
    grad *= 0.5
    d.zero_grads()
    d.backward(grad, cache, input_grad=False)
    opt.step()
    return (0.5 * loss, nn.functional.sigmoid(real_logits).mean(),
            nn.functional.sigmoid(fake_logits).mean())


def generator_step(pair, opt, y, z, saturating: bool = False):
    """One generator update through the discriminator, whose gradients stay untouched.

    Descends -log D(G(z)) (or log(1 - D(G(z))) when ``saturating``). Returns the loss.
    """
    fake, g_cache = pair.generate(z, y)
    fake_logits, fake_cache = pair.discriminate(fake, y)
    loss, logit_grad = nn.generator_loss(fake_logits, saturating=saturating)
    dx = pair.discriminator.backward(logit_grad, fake_cache, param_grads=False)
    pair.generator.zero_grads()
    pair.generator.backward(pair.discriminator_input_grad(dx), g_cache, input_grad=False)
    opt.step()
    return loss


def simultaneous_step(pair, d_opt, g_opt, x, y, z, y_fake=None, saturating: bool = False):
    """One update of both networks from one pass, as the original code trained them.

    The original code (goodfeli/adversarial, ``AdversaryCost2.get_gradients``) takes, from
    one minibatch, the discriminator's gradient of 0.5 (BCE(D(x), 1) + BCE(D(G(z)), 0))
    and the generator's gradient of -log D(G(z)) (or log(1 - D(G(z))) when
    ``saturating``), both at the current parameters and through the *same* dropped-out
    discriminator pass over G(z), and applies them in one SGD step. So here:

    1. G(z) once; D on x and on G(z) (dropout masks drawn per row, as in training);
    2. D's parameter gradients from its loss (real and generated rows);
    3. the generator's loss backpropagated through that same pass over G(z) to G's
       parameters, with D's gradients untouched;
    4. only then both optimisers step, so neither gradient sees the other's update.

    ``y_fake`` conditions the generated rows (default: the real minibatch's ``y``).
    Returns (D loss, G loss, mean D(x), mean D(G(z))) as 0-d arrays.
    """
    d, g = pair.discriminator, pair.generator
    y_fake = y if y_fake is None else y_fake
    fake, g_cache = pair.generate(z, y_fake)
    # Two passes rather than one over [x; G(z)]: the generator's gradient needs D's input
    # gradient on the generated rows only, and a backward pass over 2n rows would spend
    # half its work on the real rows' zeros.
    real_logits, real_cache = pair.discriminate(x, y)
    fake_logits, fake_cache = pair.discriminate(fake, y_fake)
    d_loss, real_grad, fake_grad = nn.discriminator_loss(real_logits, fake_logits)
    g_loss, g_logit_grad = nn.generator_loss(fake_logits, saturating=saturating)
    real_grad *= 0.5
    fake_grad *= 0.5
    d.zero_grads()
    d.backward(real_grad, real_cache, input_grad=False)
    d.backward(fake_grad, fake_cache, input_grad=False)
    dx = d.backward(g_logit_grad, fake_cache, param_grads=False)
    g.zero_grads()
    g.backward(pair.discriminator_input_grad(dx), g_cache, input_grad=False)
    d_opt.step()
    g_opt.step()
    return (0.5 * d_loss, g_loss, nn.functional.sigmoid(real_logits).mean(),
            nn.functional.sigmoid(fake_logits).mean())


def critic_step(pair, opt, x, y, z, y_fake=None, *, clip: float):
    """One WGAN critic update, then every critic parameter clipped to [-clip, clip].

    The discriminator's logit is the critic's linear output f; the critic descends
    E f(G(z)) - E f(x) (nn.wasserstein_critic_loss). Returns (loss, mean f(x), mean f(G(z)))
    as 0-d arrays; mean f(x) - mean f(G(z)) is the critic's estimate of the Wasserstein
    distance (times the Lipschitz constant that clipping allows).
    """
    d = pair.discriminator
    y_fake = y if y_fake is None else y_fake
    fake, _ = pair.generate(z, y_fake)
    real_scores, real_cache = pair.discriminate(x, y)
    fake_scores, fake_cache = pair.discriminate(fake, y_fake)
    loss, real_grad, fake_grad = nn.wasserstein_critic_loss(real_scores, fake_scores)
    d.zero_grads()
    d.backward(real_grad, real_cache, input_grad=False)
    d.backward(fake_grad, fake_cache, input_grad=False)
    opt.step()
    nn.clip_values(d.params, clip)
    return loss, real_scores.mean(), fake_scores.mean()


def wasserstein_generator_step(pair, opt, y, z):
    """One WGAN generator update: descends -E f(G(z)) through the critic, whose gradients
    stay untouched. Returns the loss."""
    fake, g_cache = pair.generate(z, y)
    scores, cache = pair.discriminate(fake, y)
    loss, score_grad = nn.wasserstein_generator_loss(scores)
    dx = pair.discriminator.backward(score_grad, cache, param_grads=False)
    pair.generator.zero_grads()
    pair.generator.backward(pair.discriminator_input_grad(dx), g_cache, input_grad=False)
    opt.step()
    return loss


def adversarial_steps(config: TrainConfig):
    """The (discriminator or critic step, generator step) pair of ``config.loss``, both with
    the signatures of discriminator_step(pair, opt, x, y, z) and generator_step(pair, opt, y, z)."""
    if config.loss == "wasserstein":
        return functools.partial(critic_step, clip=config.clip), wasserstein_generator_step
    return discriminator_step, functools.partial(generator_step,
                                                 saturating=config.g_loss == "saturating")


def wasserstein_record(record: dict) -> dict:
    """An epoch record of a WGAN run: the critic's mean outputs (not probabilities) under
    critic_real / critic_fake, and their difference, the critic's Wasserstein estimate."""
    record["critic_real"] = record.pop("d_real")
    record["critic_fake"] = record.pop("d_fake")
    record["wasserstein_estimate"] = record["critic_real"] - record["critic_fake"]
    return record


# -- the trainer -------------------------------------------------------------------------
class Trainer:
    """Owns one run: networks, optimisers, data on the device, and the run directory."""

    def __init__(self, config: TrainConfig, run_dir, splits, *, progress: bool = True,
                 backend: Backend | None = None):
        config.validate()
        self.config = config
        self.run_dir = Path(run_dir)
        self.progress = progress
        self.backend = backend or nn.get_backend(config.backend, seed=config.seed)
        # A stream of its own for evaluation and sample grids: the same noise every epoch,
        # and evaluating never shifts the training stream.
        self.eval_backend = self.backend.with_seed(config.seed + 1_000_003)
        self.data = to_device(self.backend, splits, config)
        self.pair = build_pair(self.backend, config.model_config(), self.data.marginals)
        g, d = self.pair.generator, self.pair.discriminator
        self.g_opt = make_optimizer(config, g)
        self.d_opt = make_optimizer(config, d)
        self.d_step, self.g_step = adversarial_steps(config)
        if config.loss == "wasserstein":  # the critic starts inside the clipping box
            nn.clip_values(d.params, config.clip)
        self.epoch = 0  # epochs completed
        self.grids: dict[str, object] = {}  # "epoch_N" -> uint8 host grid, a few epochs kept
        self.best_valid_ll = -math.inf
        self.best_epoch = 0
        self.seconds = 0.0

    # -- checkpoints ---------------------------------------------------------------------
    def _groups(self) -> dict:
        return {"generator": self.pair.generator, "discriminator": self.pair.discriminator,
                "g_opt": self.g_opt, "d_opt": self.d_opt}

    def save(self, name: str) -> Path:
        groups = self._groups()
        if self.grids:
            groups["grids"] = self.grids
        return checkpoint.save(self.run_dir / name, groups, meta=self._meta())

    def _meta(self) -> dict:
        rng = self.backend.rng_state() if self.backend.name == "numpy" else None
        return {"epoch": self.epoch, "best_valid_ll": self.best_valid_ll,
                "best_epoch": self.best_epoch, "seconds": self.seconds, "rng_state": rng,
                "config": asdict(self.config)}

    def restore(self, path) -> None:
        state, meta = checkpoint.load(path, self._groups())
        self.grids = dict(state.get("grids", {}))
        self.epoch = int(meta["epoch"])
        self.best_valid_ll = float(meta["best_valid_ll"])
        self.best_epoch = int(meta["best_epoch"])
        self.seconds = float(meta["seconds"])
        if meta.get("rng_state") is not None and self.backend.name == "numpy":
            self.backend.set_rng_state(meta["rng_state"])
        else:  # CuPy's stream cannot be restored: continue from a seed tied to the epoch
            self.backend.reseed(self.config.seed + 7919 * self.epoch)

    # -- one epoch -----------------------------------------------------------------------
    def train_epoch(self) -> dict:
        cfg, b, xp = self.config, self.backend, self.backend.xp
        pair = self.pair
        epoch = self.epoch + 1
        self.g_opt.set_epoch(epoch)
        self.d_opt.set_epoch(epoch)
        n = int(self.data.train_x.shape[0])
        batches = n // cfg.batch_size
        order = xp.argsort(b.uniform((n,)))
        sums = {"d_loss": 0.0, "g_loss": 0.0, "d_real": 0.0, "d_fake": 0.0}
        d_steps = g_steps = 0
        start = time.perf_counter()
        bar = Progress(range(batches), f"epoch {epoch}/{cfg.epochs}", every_s=15.0) \
            if self.progress else range(batches)
        for i in bar:
            idx = order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            x = self.data.train_batch(idx, b.dtype)
            labels = self.data.train_y[idx]
            y = one_hot(b, labels) if pair.conditional else None

            z = sample_noise(b, cfg.noise, cfg.batch_size, pair.config.noise_dim)
            y_fake = self._fake_labels(y)
            if cfg.update == "simultaneous":
                d_loss, g_loss, d_real, d_fake = simultaneous_step(
                    pair, self.d_opt, self.g_opt, x, y, z, y_fake,
                    saturating=cfg.g_loss == "saturating")
                sums["g_loss"] += g_loss
                g_steps += 1
            else:
                d_loss, d_real, d_fake = self.d_step(pair, self.d_opt, x, y, z, y_fake)
            d_steps += 1
            sums["d_loss"] += d_loss
            sums["d_real"] += d_real
            sums["d_fake"] += d_fake

            if cfg.update == "alternating" and d_steps % cfg.k_steps == 0:
                z = sample_noise(b, cfg.noise, cfg.batch_size, pair.config.noise_dim)
                sums["g_loss"] += self.g_step(pair, self.g_opt, self._fake_labels(y), z)
                g_steps += 1

            if self.progress and (i + 1) % 50 == 0:
                self._check_finite(sums, epoch, i + 1)
                bar.set(d_loss=float(sums["d_loss"]) / d_steps, g_loss=float(sums["g_loss"]) / max(g_steps, 1),
                        D_x=float(sums["d_real"]) / d_steps, D_G_z=float(sums["d_fake"]) / d_steps)
        self._check_finite(sums, epoch, batches)
        record = {
            "epoch": epoch,
            "d_loss": float(sums["d_loss"]) / d_steps,
            "g_loss": float(sums["g_loss"]) / max(g_steps, 1),
            "d_real": float(sums["d_real"]) / d_steps,
            "d_fake": float(sums["d_fake"]) / d_steps,
            "lr": self.d_opt.current_lr,
            "momentum": self.d_opt.current_momentum,
            "updates": self.d_opt.updates,
            "train_seconds": time.perf_counter() - start,
        }
        return wasserstein_record(record) if cfg.loss == "wasserstein" else record

    def _fake_labels(self, y):
        """The one-hot labels that condition a generated minibatch: the real minibatch's
        ``y`` ("batch"), or labels drawn uniformly from the 10 classes ("uniform", as the
        conditional extension of the original code drew them)."""
        if y is None or self.config.fake_labels == "batch":
            return y
        labels = self.backend.xp.floor(self.backend.uniform((y.shape[0],)) * N_CLASSES)
        return one_hot(self.backend, labels.astype("int64"))

    def _check_finite(self, sums: dict, epoch: int, iteration: int) -> None:
        for key in ("d_loss", "g_loss"):
            if not math.isfinite(float(sums[key])):
                raise TrainingDiverged(
                    f"the {'discriminator' if key == 'd_loss' else 'generator'} loss became "
                    f"{float(sums[key])} at epoch {epoch}, iteration {iteration}. The last good "
                    f"checkpoint is {self.run_dir / 'latest.npz'} (epoch {self.epoch}); lower the "
                    "learning rate (--lr) and resume or start again."
                )

    # -- evaluation ------------------------------------------------------------------------
    def fixed_grid(self):
        """100 samples from fixed noise: one row per label for the conditional model."""
        self.eval_backend.reseed(self.config.seed + 1_000_003)
        labels = evaluation_labels(self.backend, 100) if self.pair.conditional else None
        return generate(self.pair, self.backend, self.eval_backend, self.config, labels=labels, n=100)

    def validation_ll(self) -> tuple[float, float]:
        """Parzen log-likelihood of the validation points under the generator's samples."""
        from .parzen import parzen_evaluate, select_sigma

        self.eval_backend.reseed(self.config.seed + 2_000_003)
        n = self.config.eval_samples
        labels = evaluation_labels(self.backend, n) if self.pair.conditional else None
        samples = generate(self.pair, self.backend, self.eval_backend, self.config, labels=labels, n=n)
        sigma_points = self.config.eval_sigma_points
        if sigma_points is None:  # sigma chosen on the points it scores
            sigma, by_sigma = select_sigma(samples, self.data.valid_x, self.backend)
            return by_sigma[sigma], sigma
        # parzen_ll.py's protocol: sigma from the first images, then every image scored
        result = parzen_evaluate(samples, self.data.valid_x[:sigma_points], self.data.valid_x,
                                 self.backend)
        return result.mean, result.sigma

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> dict:
        from . import plots

        cfg = self.config
        (self.run_dir / "samples").mkdir(parents=True, exist_ok=True)
        metrics = read_metrics(self.run_dir)
        while self.epoch < cfg.epochs:
            record = self.train_epoch()
            self.epoch += 1
            eval_start = time.perf_counter()
            if self.epoch % cfg.eval_every == 0 or self.epoch == cfg.epochs:
                ll, sigma = self.validation_ll()
                record.update(valid_ll=ll, sigma=sigma)
                if ll > self.best_valid_ll:
                    self.best_valid_ll, self.best_epoch = ll, self.epoch
            grid = self.fixed_grid()
            if _keeps_grid(self.epoch):
                self.grids[f"epoch_{self.epoch}"] = self.backend.to_numpy(
                    (grid * 255).round().astype(self.backend.xp.uint8))
            plots.save_image_grid(self.backend.to_numpy(grid), self.run_dir / "samples" / f"epoch_{self.epoch:03d}.png",
                                  nrow=10, title=f"epoch {self.epoch}",
                                  row_labels=list(range(10)) if self.pair.conditional else None)
            record["eval_seconds"] = time.perf_counter() - eval_start
            self.seconds += record["train_seconds"] + record["eval_seconds"]
            record["seconds"] = self.seconds
            record["best_epoch"] = self.best_epoch
            metrics.append(record)
            write_json_lines(self.run_dir / "metrics.jsonl", metrics)
            self.save("latest.npz")
            if self.best_epoch == self.epoch:
                self.save("best.npz")
            plots.plot_training_curves(metrics, self.run_dir / "curves.png")
            if self.progress:
                ll = record.get("valid_ll")
                outputs = (f"D(x) {record['d_real']:.3f} D(G(z)) {record['d_fake']:.3f}" if "d_real" in record
                           else f"W estimate {record['wasserstein_estimate']:.4g}")
                print(f"epoch {self.epoch}: d_loss {record['d_loss']:.4f} g_loss {record['g_loss']:.4f} "
                      + outputs
                      + (f" valid LL {ll:.1f} (sigma {record['sigma']:.3f})" if ll is not None else "")
                      + f" [{record['train_seconds']:.0f}s + {record['eval_seconds']:.0f}s]",
                      flush=True)
            if cfg.patience and self.epoch - self.best_epoch >= cfg.patience:
                if self.progress:
                    print(f"stopping: no better validation LL for {cfg.patience} epochs "
                          f"(best {self.best_valid_ll:.1f} at epoch {self.best_epoch})", flush=True)
                break
        self._samples_over_training(self.backend.to_numpy(self.fixed_grid()))
        return {"epochs": self.epoch, "best_valid_ll": self.best_valid_ll,
                "best_epoch": self.best_epoch, "seconds": self.seconds, "run_dir": str(self.run_dir)}

    def _samples_over_training(self, final_grid) -> None:
        from . import plots

        kept = sorted((int(k.split("_")[1]), g / 255.0) for k, g in self.grids.items())
        kept = [(e, g) for e, g in kept if e != self.epoch][-5:] + [(self.epoch, final_grid)]
        plots.save_samples_over_training(kept, self.run_dir / "samples_over_training.png", nrow=10)


def _keeps_grid(epoch: int) -> bool:
    """Epochs whose sample grid goes into the checkpoint: 1, 2, 5, 10, 20, 50, 100, ..."""
    if epoch < 1:
        return False
    while epoch % 10 == 0:
        epoch //= 10
    return epoch in (1, 2, 5)


def write_json_lines(path: Path, records: list[dict]) -> None:
    """Write one JSON record per line, atomically."""
    with atomic_write(path, "w") as f:
        f.write("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))


def new_run(config: TrainConfig, run_dir) -> None:
    """Create a run directory and write its resolved configuration."""
    run_dir = Path(run_dir)
    # A directory holding only a config.json never trained (say, the data failed to load):
    # it may be reused.
    if run_dir.exists() and any(p.name != "config.json" for p in run_dir.iterdir()):
        raise RunDirError(
            f"run directory {run_dir} already exists and is not empty: pass --resume to continue "
            "it, or choose another --out"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", asdict(config))


def load_config(run_dir) -> TrainConfig:
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise RunDirError(f"{run_dir} is not a run directory: it has no config.json")
    return TrainConfig.from_dict(json.loads(path.read_text()))


def resume_config(run_dir, *, epochs: int | None = None, backend: str | None = None) -> TrainConfig:
    """The configuration of the run in ``run_dir``; ``epochs`` may extend it."""
    run_dir = Path(run_dir)
    if not (run_dir / "latest.npz").exists():
        raise RunDirError(f"nothing to resume in {run_dir}: it has no latest.npz checkpoint")
    config = load_config(run_dir)
    if epochs is not None:
        config.epochs = epochs
    if backend is not None:
        config.backend = backend
    config.validate()
    write_json(run_dir / "config.json", asdict(config))
    return config


def train(config: TrainConfig, run_dir, splits, *, resume: bool = False, progress: bool = True,
          prepared: bool = False) -> dict:
    """Train a new run, or resume the one in ``run_dir`` (then ``config`` comes from resume_config).

    ``prepared``: ``new_run`` already created the directory (the CLI does that before
    loading the data, so that a bad --out fails at once).
    """
    if not resume and not prepared:
        new_run(config, run_dir)
    trainer = Trainer(config, run_dir, splits, progress=progress)
    if resume:
        trainer.restore(Path(run_dir) / "latest.npz")
        metrics = [r for r in read_metrics(run_dir) if r["epoch"] <= trainer.epoch]
        write_json_lines(Path(run_dir) / "metrics.jsonl", metrics)
        if progress:
            print(f"resuming {run_dir} after epoch {trainer.epoch}", flush=True)
    return trainer.run()


def load_pair(run_dir, backend: Backend, which: str = "best"):
    """The trained networks of a run: (config, pair, checkpoint meta)."""
    config = load_config(run_dir)
    path = Path(run_dir) / f"{which}.npz"
    if not path.exists():
        raise RunDirError(f"{run_dir} has no {which}.npz checkpoint (has training run one epoch?)")
    pair = build_pair(backend, config.model_config())
    _, meta = checkpoint.load(path, {"generator": pair.generator, "discriminator": pair.discriminator})
    return config, pair, meta


__all__ = ["TrainConfig", "PRESETS", "WGAN_DEFAULTS", "critic_step", "wasserstein_generator_step", "resolve_config", "resume_config", "train", "Trainer",
           "TrainingDiverged", "RunDirError", "load_pair", "load_config", "IMAGE_DIM"]
