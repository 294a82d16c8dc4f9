"""Training a tagging run through the core loop, and loading one.

The conditional adversarial net trains with the ``alternating`` update rule and the BCE
objective (one discriminator step and one generator step per minibatch of (image, tag)
pairs, Gaussian noise); the regression baseline trains the same generator with the
``regression`` rule (mean squared error to the tag's word vector); the multi-label
classifier trains with the same rule on minibatches of images, its loss the cross-entropy
of one sigmoid per tag (:class:`MultiLabelBCE`). All run in cgan.core.run.Run:
config.json, metrics.jsonl (one record per epoch), latest.npz, then results.json with the
test images' tags and scores.

With a validation setting (``patience``, ``valid_limit`` or ``valid_samples``: every
preset) each epoch ends with the validation precision@10 (cgan.experiments.tagging.evaluate.validate)
in the epoch's record; the best epoch so far is kept as best.npz, training stops after
``patience`` epochs without improvement, and the test images are tagged by the best epoch.
A run resumes from latest.npz (``resume=True``, ``cgan train-tagging --resume``).
"""

from __future__ import annotations

from pathlib import Path

import nn
from nn import checkpoint
from nn.backend import Backend
from nn.fileio import atomic_copy

from ...core import run as core_run
from ...core.loop import Draw, Training
from ...core.noise import noise_sampler
from ...core.optim import Optimizers, make_optimizer
from ...core.steps import BCE, UPDATES
from ...core.streams import Streams
from ...models.tagging import VOCAB_OUTPUTS, build_classifier, build_pair
from .config import DEFAULT_VECTORS, STREAMS, TaggingConfig
from .data import ImageRows, TaggingData, load_data
from .evaluate import evaluate as evaluate_generator
from .evaluate import validate

__all__ = ["MultiLabelBCE", "TaggingRun", "train_tagging", "load_run", "build_networks"]


class MultiLabelBCE:
    """The classifier's loss for the ``regression`` rule: binary cross-entropy of one
    sigmoid per tag, summed over the tags and averaged over the images (nn.bce_with_logits
    averages over both, so its value and gradient are scaled by the number of tags)."""

    @staticmethod
    def regression(logits, targets):
        loss, grad = nn.bce_with_logits(logits, targets)
        n_tags = logits.shape[1]
        grad *= n_tags
        return loss * n_tags, grad

    @staticmethod
    def record(record: dict) -> dict:
        return record


def build_networks(config: TaggingConfig, backend: Backend, data: TaggingData):
    """The run's pair: G and D for cgan and regression, the classifier for classifier."""
    cond_dim = int(data.train_cond.shape[1])
    if config.method == "classifier":
        return build_classifier(backend, config.net_config(), cond_dim, len(data.vocab))
    mixes = config.g_output in VOCAB_OUTPUTS
    frequencies = backend.xp.bincount(data.pair_tag, minlength=len(data.vocab)) if mixes else None
    return build_pair(backend, config.net_config(), cond_dim, int(data.word_vectors.shape[1]),
                      data.word_vectors if mixes else None, frequencies)


class TaggingRun(core_run.Run):
    """One tagging run: the pair, its optimisers and the (image, tag) pairs on the device."""

    def __init__(self, config: TaggingConfig, run_dir, data: TaggingData, backend: Backend, *,
                 progress: bool = True):
        pair = build_networks(config, backend, data)
        opt = Optimizers(d=make_optimizer(config, pair.discriminator), g=make_optimizer(config, pair.generator))
        adversarial = config.method == "cgan"
        objective = BCE() if adversarial else (MultiLabelBCE() if config.method == "classifier" else None)
        rows = ImageRows(data, backend) if config.method == "classifier" else data
        # the same noise as G adds to its samples, on the real vectors
        data.instance_noise = (backend, config.instance_noise) if adversarial and config.instance_noise > 0 else None
        update = ("alternating_score" if config.g_estimator == "score" else "alternating") if adversarial \
            else "regression"
        training = Training(pair=pair, opt=opt, update=UPDATES[update],
                            objective=objective, data=rows,
                            draw=Draw(noise_sampler(backend, "gaussian", config.noise_dim)), backend=backend,
                            batch_size=config.batch_size, max_updates=config.max_updates)
        super().__init__(training, run_dir, config, Streams(config.seed, STREAMS), progress=progress)
        self.data = data
        self.label = f"{config.condition}/{config.method} epoch"
        self.best_epoch = 0
        self.best_valid = -1.0
        self._improved = False

    # -- validation, the best epoch, stopping -----------------------------------------------
    def after_epoch(self, record: dict) -> dict:
        if not self.config.validates:
            return {}
        out = validate(self.training.pair.generator, self.data, self.config, self.training.backend)
        self._improved = out["valid_precision@10"] > self.best_valid
        if self._improved:
            self.best_epoch, self.best_valid = self.epoch, out["valid_precision@10"]
        out["best_epoch"] = self.best_epoch
        return out

    def extra_meta(self) -> dict:
        return {"best_epoch": self.best_epoch, "best_valid": self.best_valid}

    def restored(self, state: dict, meta: dict) -> None:
        self.best_epoch = int(meta.get("best_epoch", 0))
        self.best_valid = float(meta.get("best_valid", -1.0))

    def after_save(self, record: dict, metrics: list[dict]) -> None:
        if self._improved:  # after latest.npz: best.npz is then latest.npz's copy
            atomic_copy(self.run_dir / "latest.npz", self.run_dir / "best.npz")

    def reconcile_outputs(self) -> None:
        """best.npz after any kill: it can be stale only when latest.npz's epoch is the
        best one; then it is latest.npz's copy."""
        best = self.run_dir / "best.npz"
        if self.best_epoch and self.best_epoch == self.epoch:
            try:
                epoch = (checkpoint.read_meta(best) or {}).get("epoch")
            except checkpoint.CheckpointError:
                epoch = None
            if epoch != self.epoch:
                atomic_copy(self.run_dir / "latest.npz", best)

    def should_stop(self) -> bool:
        patience = self.config.patience
        return patience is not None and self.epoch - self.best_epoch >= patience

    def describe(self, record: dict) -> str:
        tail = (f"d_loss {record['d_loss']:.4f} D(x) {record['d_real']:.3f} D(G(z)) {record['d_fake']:.3f} "
                if self.config.method == "cgan" else "")
        valid = (f"valid P@10 {record['valid_precision@10']:.4f} R@10 {record['valid_recall@10']:.4f} "
                 f"(best epoch {record['best_epoch']}) " if "valid_precision@10" in record else "")
        return (f"epoch {record['epoch']}: {tail}g_loss {record['g_loss']:.4f} {valid}"
                f"[{record['train_seconds']:.1f}s + {record['eval_seconds']:.1f}s]")


def train_tagging(config: TaggingConfig, run_dir, *, data: TaggingData | None = None,
                  progress: bool = True, exist_ok: bool = False, evaluate: bool = True,
                  backend: Backend | None = None, resume: bool = False) -> dict:
    """Train one tagging run into ``run_dir`` and (by default) evaluate it on the test images.

    Writes config.json, metrics.jsonl (one record per epoch), latest.npz (atomic), best.npz
    (with validation) and results.json. Returns the results dict. ``backend``: the training
    stream's backend (default: the config's backend and seed). ``resume``: continue the
    run in ``run_dir`` from its latest.npz (its config.json, with ``config.epochs``).
    """
    run_dir = Path(run_dir)
    if resume and (run_dir / "latest.npz").exists():
        epochs = config.epochs
        config = core_run.resume_config(run_dir, TaggingConfig, epochs=epochs)
    else:
        resume = False
        config.validate()
        core_run.new_run_dir(run_dir, config, exist_ok=exist_ok)
    streams = Streams(config.seed, STREAMS)
    b = backend or nn.get_backend(config.backend, seed=streams.seed("train"))
    if data is None:
        data = load_data(config, b)
    run = TaggingRun(config, run_dir, data, b, progress=progress)
    if resume:
        run.resume()
    metrics = run.fit(config.epochs)
    pair = run.training.pair
    results = {"train_seconds": sum(r["train_seconds"] for r in metrics), "epochs": run.epoch,
               "pairs": data.n, "train_images": len(data.train_rows), "updates": run.training.opt.g.updates}
    if config.validates:
        best = metrics[run.best_epoch - 1] if run.best_epoch else {}
        results.update(best_epoch=run.best_epoch, stopped_early=run.epoch < config.epochs,
                       valid_images=best.get("valid_images"),
                       **{k: best.get(k) for k in ("valid_precision@10", "valid_recall@10")},
                       validation_seconds=sum(r["eval_seconds"] for r in metrics))
        if (run_dir / "best.npz").exists():
            checkpoint.load(run_dir / "best.npz", {"generator": pair.generator, "discriminator": pair.discriminator})
    if evaluate:
        results.update(evaluate_generator(pair.generator, data, config, progress=progress, backend=b))
    core_run.write_json(run_dir / "results.json", results)
    return results


def load_run(run_dir, *, backend: str | None = None, which: str | None = None):
    """A run's config, data split and networks (from best.npz where it has one, else
    latest.npz; or ``which``)."""
    run_dir = Path(run_dir)
    config = core_run.load_config(run_dir, TaggingConfig)
    if backend is not None:
        config.backend = backend
    name = which or ("best.npz" if (Path(run_dir) / "best.npz").exists() else "latest.npz")
    core_run.require_checkpoint(run_dir, name, command=f"cgan train-tagging --out {run_dir}")
    config.data_dir = core_run.recorded_path(run_dir, config.data_dir)  # usable from any directory
    if config.vectors != DEFAULT_VECTORS:
        config.vectors = core_run.recorded_path(run_dir, config.vectors)
    b = nn.get_backend(config.backend, seed=Streams(config.seed, STREAMS).seed("train"))
    data = load_data(config, b)
    pair = build_networks(config, b, data)
    checkpoint.load(run_dir / name, {"generator": pair.generator, "discriminator": pair.discriminator})
    return config, data, pair, b
