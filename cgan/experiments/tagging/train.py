"""Training a tagging run through the core loop, and loading one.

The conditional adversarial net trains with the ``alternating`` update rule and the BCE
objective (one discriminator step and one generator step per minibatch of (image, tag)
pairs, Gaussian noise); the regression baseline trains the same generator with the
``regression`` rule (mean squared error to the tag's word vector). Both run in
cgan.core.run.Run: config.json, metrics.jsonl (one record per epoch), latest.npz, then
results.json with the test images' tags and scores.
"""

from __future__ import annotations

from pathlib import Path

import nn
from nn import checkpoint
from nn.backend import Backend

from ...core import run as core_run
from ...core.loop import Draw, Training
from ...core.noise import noise_sampler
from ...core.optim import Optimizers, make_optimizer
from ...core.steps import BCE, UPDATES
from ...core.streams import Streams
from ...models.tagging import build_pair
from .config import STREAMS, TaggingConfig
from .data import TaggingData, load_data
from .evaluate import evaluate as evaluate_generator

__all__ = ["TaggingRun", "train_tagging", "load_run"]


class TaggingRun(core_run.Run):
    """One tagging run: the pair, its optimisers and the (image, tag) pairs on the device."""

    def __init__(self, config: TaggingConfig, run_dir, data: TaggingData, backend: Backend, *,
                 progress: bool = True):
        cond_dim, word_dim = int(data.train_cond.shape[1]), int(data.word_vectors.shape[1])
        pair = build_pair(backend, config.net_config(), cond_dim, word_dim)
        opt = Optimizers(d=make_optimizer(config, pair.discriminator), g=make_optimizer(config, pair.generator))
        adversarial = config.method == "cgan"
        training = Training(pair=pair, opt=opt, update=UPDATES["alternating" if adversarial else "regression"],
                            objective=BCE() if adversarial else None, data=data,
                            draw=Draw(noise_sampler(backend, "gaussian", config.noise_dim)), backend=backend,
                            batch_size=config.batch_size, max_updates=config.max_updates)
        super().__init__(training, run_dir, config, Streams(config.seed, STREAMS), progress=progress)
        self.label = f"{config.condition}/{config.method} epoch"

    def describe(self, record: dict) -> str:
        tail = (f"d_loss {record['d_loss']:.4f} D(x) {record['d_real']:.3f} D(G(z)) {record['d_fake']:.3f} "
                if self.config.method == "cgan" else "")
        return f"epoch {record['epoch']}: {tail}g_loss {record['g_loss']:.4f} [{record['train_seconds']:.1f}s]"


def train_tagging(config: TaggingConfig, run_dir, *, data: TaggingData | None = None,
                  progress: bool = True, exist_ok: bool = False, evaluate: bool = True,
                  backend: Backend | None = None) -> dict:
    """Train one tagging run into ``run_dir`` and (by default) evaluate it on the test images.

    Writes config.json, metrics.jsonl (one record per epoch), latest.npz (atomic) and
    results.json. Returns the results dict. ``backend``: the training stream's backend
    (default: the config's backend and seed).
    """
    config.validate()
    core_run.new_run_dir(run_dir, config, exist_ok=exist_ok, resumable=False)
    streams = Streams(config.seed, STREAMS)
    b = backend or nn.get_backend(config.backend, seed=streams.seed("train"))
    if data is None:
        data = load_data(config, b)
    run = TaggingRun(config, run_dir, data, b, progress=progress)
    metrics = run.fit(config.epochs)
    results = {"train_seconds": sum(r["train_seconds"] for r in metrics), "epochs": config.epochs,
               "pairs": data.n, "train_images": len(data.train_rows), "updates": run.training.opt.g.updates}
    if evaluate:
        results.update(evaluate_generator(run.training.pair.generator, data, config, progress=progress,
                                          backend=b))
    core_run.write_json(Path(run_dir) / "results.json", results)
    return results


def load_run(run_dir, *, backend: str | None = None):
    """A run's config, data split and networks (from latest.npz)."""
    run_dir = Path(run_dir)
    config = core_run.load_config(run_dir, TaggingConfig)
    if backend is not None:
        config.backend = backend
    core_run.require_checkpoint(run_dir, "latest.npz", command=f"cgan train-tagging --out {run_dir}")
    config.data_dir = core_run.recorded_path(run_dir, config.data_dir)  # usable from any directory
    config.vectors = core_run.recorded_path(run_dir, config.vectors)
    b = nn.get_backend(config.backend, seed=Streams(config.seed, STREAMS).seed("train"))
    data = load_data(config, b)
    pair = build_pair(b, config.net_config(), int(data.train_cond.shape[1]), int(data.word_vectors.shape[1]))
    checkpoint.load(run_dir / "latest.npz", {"generator": pair.generator, "discriminator": pair.discriminator})
    return config, data, pair, b
