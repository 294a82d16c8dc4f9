"""Adversarial training on MNIST: the papers' networks and schedule through the core loop.

What is MNIST's here: the data on the device (uint8 pixels scaled per minibatch), the
generated samples' labels (the real minibatch's, or drawn uniformly), and the evaluation
after every epoch (the validation Parzen log-likelihood, a fixed sample grid, the best
checkpoint, patience, figures). The iteration itself is cgan.core: the update rule of
the config (alternating, or simultaneous as the original code) with its objective (BCE,
or Wasserstein for WGAN), run by cgan.core.loop.train_epoch inside cgan.core.run.Run.

A run directory holds ``config.json`` (the resolved configuration), ``metrics.jsonl``
(one record per epoch), ``latest.npz`` and ``best.npz`` (checkpoints, atomic), and
``samples/`` (a grid per epoch from fixed noise) with ``curves.png``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import nn
from nn import checkpoint
from nn.backend import Backend
from nn.fileio import atomic_copy

from ...core.loop import Dataset, Draw, Training, critic_warmup_schedule
from ...core.noise import noise_sampler, one_hot, sample_noise, uniform_labels
from ...core.optim import Optimizers, make_optimizer
from ...core import run as core_run
from ...core.run import Run, RunDirError
from ...core.streams import Streams
from ...data.mnist import scale_pixels
from ...models import dcgan
from ...models.mnist import N_CLASSES, build_pair
from .config import STREAMS, TrainConfig

__all__ = ["Trainer", "DeviceData", "to_device", "train", "new_run", "load_config", "resume_config",
           "load_pair", "generate", "evaluation_labels", "labels_one_hot", "uniform_fake_labels",
           "build_networks"]


def build_networks(backend: Backend, config: TrainConfig, marginals=None):
    """The run's pair: the papers' MLPs (cgan.models.mnist) or the convolutional nets
    (cgan.models.dcgan), by ``config.model``."""
    options = config.model_config()
    if isinstance(options, dcgan.DCGANConfig):
        return dcgan.build_pair(backend, options)
    return build_pair(backend, options, marginals)


def labels_one_hot(backend: Backend, labels):
    return one_hot(backend, labels, N_CLASSES)


def uniform_fake_labels(backend: Backend):
    """The generated rows' labels drawn uniformly from the 10 classes, as the conditional
    extension of the original code drew them: ``y -> one-hot labels`` for y's rows."""
    def draw(y):
        return labels_one_hot(backend, uniform_labels(backend, y.shape[0], N_CLASSES))
    return draw


def generate(pair, backend: Backend, noise_backend: Backend, config: TrainConfig, labels=None,
             n: int | None = None, chunk: int = 1000, generator_dropout: bool = False):
    """Samples from the generator, in chunks.

    ``labels`` (int array) conditions the conditional model; the unconditional one takes ``n``.
    By default the generator runs in evaluation mode (no dropout). ``generator_dropout``
    runs it as in training instead, its dropout masks drawn from ``backend``'s stream: the
    distribution the discriminator was trained against, when G has dropout.
    """
    total = int(labels.shape[0]) if labels is not None else int(n)
    out = None  # filled chunk by chunk: a list of chunks plus their concatenation would
    # hold the samples twice (31 MB more at the peak of a training run's evaluation)
    for start in range(0, total, chunk):
        m = min(chunk, total - start)
        z = sample_noise(noise_backend, config.noise, m, pair.noise_dim)
        y = labels_one_hot(backend, labels[start:start + m]) if labels is not None else None
        x, _ = pair.generate(z, y, train=generator_dropout)
        if out is None:
            out = backend.xp.empty((total, x.shape[1]), dtype=x.dtype)
        out[start:start + m] = x
    return out


def evaluation_labels(backend: Backend, n: int):
    """n labels, n / 10 of each class (the conditional paper's 1,000 per class for 10,000)."""
    return backend.xp.repeat(backend.xp.arange(N_CLASSES), n // N_CLASSES)


@dataclass
class DeviceData(Dataset):
    """The splits on the device, as the core loop reads them (``rows(idx)`` -> (x, y))."""

    train_x: object     # uint8 pixels (MnistSplits.train_images), or floats in [0, 1]
    train_y: object
    valid_x: object
    valid_y: object
    marginals: object
    backend: Backend = None
    conditional: bool = True

    @property
    def n(self) -> int:
        return int(self.train_x.shape[0])

    def train_batch(self, idx, dtype):
        """Training rows ``idx`` as ``dtype`` in [0, 1].

        Memory: the training set stays uint8 on the device (39 MB for MNIST's 50,000
        digits, not 157 MB as float32) and each minibatch is scaled when it is drawn.
        """
        x = self.train_x[idx]
        return scale_pixels(x, dtype) if x.dtype.kind == "u" else x

    def rows(self, idx):
        x = self.train_batch(idx, self.backend.dtype)
        y = labels_one_hot(self.backend, self.train_y[idx]) if self.conditional else None
        return x, y


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
        backend=backend,
        conditional=config.conditional,
    )


class Trainer(Run):
    """One MNIST run: networks, optimisers, data on the device, the run directory, and
    the evaluation after every epoch."""

    def __init__(self, config: TrainConfig, run_dir, splits, *, progress: bool = True,
                 backend: Backend | None = None):
        config.validate()
        streams = Streams(config.seed, STREAMS)
        backend = backend or nn.get_backend(config.backend, seed=streams.seed("train"))
        data = to_device(backend, splits, config)
        pair = build_networks(backend, config, data.marginals)
        opt = Optimizers(d=make_optimizer(config, pair.discriminator), g=make_optimizer(config, pair.generator))
        objective = config.objective()
        if config.loss == "wasserstein":  # the critic starts inside the clipping box
            objective.after_discriminator_update(pair.discriminator)
        uniform = pair.conditional and config.fake_labels == "uniform"
        draw = Draw(noise=noise_sampler(backend, config.noise, pair.noise_dim),
                    condition=uniform_fake_labels(backend) if uniform else None)
        schedule = critic_warmup_schedule(config.k_steps) if config.critic_warmup else None
        training = Training(pair=pair, opt=opt, update=config.update_rule(), objective=objective, data=data,
                            draw=draw, backend=backend, batch_size=config.batch_size, k_steps=config.k_steps,
                            critic_schedule=schedule)
        super().__init__(training, run_dir, config, streams, progress=progress)
        self.grids: dict[str, object] = {}  # "epoch_N" -> uint8 host grid, a few epochs kept
        self.best_valid_ll = -math.inf
        self.best_epoch = 0

    # the objects tests and scripts reach for
    @property
    def backend(self) -> Backend:
        return self.training.backend

    @property
    def pair(self):
        return self.training.pair

    @property
    def opt(self) -> Optimizers:
        return self.training.opt

    @property
    def data(self) -> DeviceData:
        return self.training.data

    @property
    def draw(self) -> Draw:
        return self.training.draw

    # -- checkpoints ---------------------------------------------------------------------
    def extra_groups(self) -> dict:
        return {"grids": self.grids} if self.grids else {}

    def extra_meta(self) -> dict:
        return {"best_valid_ll": self.best_valid_ll, "best_epoch": self.best_epoch}

    def restored(self, state: dict, meta: dict) -> None:
        self.grids = dict(state.get("grids", {}))
        self.best_valid_ll = float(meta["best_valid_ll"])
        self.best_epoch = int(meta["best_epoch"])

    # -- evaluation ------------------------------------------------------------------------
    def fixed_grid(self):
        """100 samples from fixed noise: one row per label for the conditional model."""
        noise = self.streams.backend("grid", like=self.backend)
        labels = evaluation_labels(self.backend, 100) if self.pair.conditional else None
        return generate(self.pair, self.backend, noise, self.config, labels=labels, n=100)

    def validation_samples(self):
        """The generator's samples that the validation Parzen estimate uses as centres."""
        noise = self.streams.backend("validation", like=self.backend)
        n = self.config.eval_samples
        labels = evaluation_labels(self.backend, n) if self.pair.conditional else None
        return generate(self.pair, self.backend, noise, self.config, labels=labels, n=n)

    def validation_ll(self) -> tuple[float, float]:
        """Parzen log-likelihood of the validation points under the generator's samples."""
        from ...evaluation.parzen import parzen_evaluate, select_sigma

        samples = self.validation_samples()
        sigma_points = self.config.eval_sigma_points
        if sigma_points is None:  # sigma chosen on the points it scores
            sigma, by_sigma = select_sigma(samples, self.data.valid_x, self.backend)
            return by_sigma[sigma], sigma
        # parzen_ll.py's protocol: sigma from the first images, then every image scored
        result = parzen_evaluate(samples, self.data.valid_x[:sigma_points], self.data.valid_x,
                                 self.backend)
        return result.mean, result.sigma

    # -- the run's hooks ------------------------------------------------------------------------
    def after_epoch(self, record: dict) -> dict:
        from ...evaluation import plots

        cfg, out = self.config, {}
        if self.epoch % cfg.eval_every == 0 or self.epoch == cfg.epochs:
            ll, sigma = self.validation_ll()
            out.update(valid_ll=ll, sigma=sigma)
            if ll > self.best_valid_ll:
                self.best_valid_ll, self.best_epoch = ll, self.epoch
        grid = self.fixed_grid()
        if _keeps_grid(self.epoch):
            self.grids[f"epoch_{self.epoch}"] = self.backend.to_numpy(
                (grid * 255).round().astype(self.backend.xp.uint8))
        plots.save_image_grid(self.backend.to_numpy(grid), self.run_dir / "samples" / f"epoch_{self.epoch:03d}.png",
                              nrow=10, title=f"epoch {self.epoch}",
                              row_labels=list(range(10)) if self.pair.conditional else None)
        out["best_epoch"] = self.best_epoch
        return out

    def after_save(self, record: dict, metrics: list[dict]) -> None:
        from ...evaluation import plots

        if self.best_epoch == self.epoch:  # after latest.npz: best.npz is then latest.npz's copy
            self.save("best.npz")
        plots.plot_training_curves(metrics, self.run_dir / "curves.png")

    def reconcile_outputs(self) -> None:
        """best.npz after any kill: it is written right after latest.npz, so it can be
        stale only when latest.npz's epoch is the best one; then it is latest.npz's copy.
        Without a best epoch (nothing evaluated yet) there is no best.npz."""
        best = self.run_dir / "best.npz"
        if self.best_epoch == 0:
            if best.exists():
                best.unlink()
        elif self.best_epoch == self.epoch and _checkpoint_epoch(best) != self.epoch:
            atomic_copy(self.run_dir / "latest.npz", best)

    def describe(self, record: dict) -> str:
        ll = record.get("valid_ll")
        outputs = (f"D(x) {record['d_real']:.3f} D(G(z)) {record['d_fake']:.3f}" if "d_real" in record
                   else f"W estimate {record['wasserstein_estimate']:.4g}")
        return (f"epoch {self.epoch}: d_loss {record['d_loss']:.4f} g_loss {record['g_loss']:.4f} "
                + outputs
                + (f" valid LL {ll:.1f} (sigma {record['sigma']:.3f})" if ll is not None else "")
                + f" [{record['train_seconds']:.0f}s + {record['eval_seconds']:.0f}s]")

    def stop_reason(self) -> str | None:
        patience = self.config.patience
        if patience and self.epoch - self.best_epoch >= patience:
            return (f"no better validation LL for {patience} epochs "
                    f"(best {self.best_valid_ll:.1f} at epoch {self.best_epoch})")
        return None

    def run(self) -> dict:
        from ...evaluation import plots

        (self.run_dir / "samples").mkdir(parents=True, exist_ok=True)
        self.fit(self.config.epochs)
        final = self.backend.to_numpy(self.fixed_grid())
        kept = sorted((int(k.split("_")[1]), g / 255.0) for k, g in self.grids.items())
        kept = [(e, g) for e, g in kept if e != self.epoch][-5:] + [(self.epoch, final)]
        plots.save_samples_over_training(kept, self.run_dir / "samples_over_training.png", nrow=10)
        return {"epochs": self.epoch, "best_valid_ll": self.best_valid_ll,
                "best_epoch": self.best_epoch, "seconds": self.seconds, "run_dir": str(self.run_dir)}


def _keeps_grid(epoch: int) -> bool:
    """Epochs whose sample grid goes into the checkpoint: 1, 2, 5, 10, 20, 50, 100, ..."""
    if epoch < 1:
        return False
    while epoch % 10 == 0:
        epoch //= 10
    return epoch in (1, 2, 5)


def new_run(config: TrainConfig, run_dir) -> None:
    """Create a run directory and write its resolved configuration."""
    core_run.new_run_dir(run_dir, config)


def load_config(run_dir) -> TrainConfig:
    """The configuration of the run in ``run_dir`` (any config.json cgan train wrote)."""
    return core_run.load_config(run_dir, TrainConfig)


def resume_config(run_dir, *, epochs: int | None = None, backend: str | None = None,
                  changes: dict | None = None, option_names: dict | None = None) -> TrainConfig:
    """The configuration of the run in ``run_dir``, to resume it: ``epochs`` may extend it,
    ``changes`` change what a resume may change (cgan.core.run.RESUME_MAY_CHANGE)."""
    return core_run.resume_config(run_dir, TrainConfig, epochs=epochs, backend=backend,
                                  changes=changes, option_names=option_names)


def train(config: TrainConfig, run_dir, splits, *, resume: bool = False, progress: bool = True,
          prepared: bool = False, backend: Backend | None = None) -> dict:
    """Train a new run, or resume the one in ``run_dir`` (then ``config`` comes from
    resume_config).

    ``prepared``: ``new_run`` already created the directory (the CLI does that before
    loading the data, so that a bad --out fails at once).
    """
    if not resume and not prepared:
        new_run(config, run_dir)
    trainer = Trainer(config, run_dir, splits, progress=progress, backend=backend)
    if resume:
        trainer.resume()
    return trainer.run()


def checkpoint_path(run_dir, which: str = "best") -> Path:
    """The file that holds the run's ``which`` ("best" or "latest") checkpoint.

    "best" is best.npz, except when a kill came between latest.npz and best.npz: then
    latest.npz's meta names its own epoch as the best one, and latest.npz is it.
    """
    run_dir = Path(run_dir)
    latest = core_run.require_checkpoint(run_dir, "latest.npz", command=f"cgan train mnist --out {run_dir}")
    if which == "latest":
        return latest
    meta = checkpoint.read_meta(latest) or {}
    best_epoch = meta.get("best_epoch")
    if best_epoch is not None and best_epoch == meta.get("epoch") and \
            _checkpoint_epoch(run_dir / "best.npz") != best_epoch:
        return latest
    if not (run_dir / "best.npz").exists():
        raise RunDirError(f"{run_dir} has no best.npz: no epoch has been evaluated yet "
                          "(use --checkpoint latest)")
    return run_dir / "best.npz"


def load_pair(run_dir, backend: Backend, which: str = "best"):
    """The trained networks of a run: (config, pair, checkpoint meta)."""
    config = load_config(run_dir)
    path = checkpoint_path(run_dir, which)
    pair = build_networks(backend, config)
    _, meta = checkpoint.load(path, {"generator": pair.generator, "discriminator": pair.discriminator})
    if not isinstance((meta or {}).get("epoch"), int):
        raise checkpoint.CheckpointError(f"checkpoint {path} has no training metadata (epoch): it "
                                         "was not written by cgan train")
    return config, pair, meta


def _checkpoint_epoch(path: Path) -> int | None:
    """The epoch in a checkpoint's meta; None if it is missing or unreadable."""
    try:
        return (checkpoint.read_meta(path) or {}).get("epoch")
    except checkpoint.CheckpointError:
        return None
