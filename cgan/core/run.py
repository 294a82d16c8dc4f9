"""A run directory, and :class:`Run`: the epoch loop around cgan.core.loop.train_epoch.

A run directory holds

* ``config.json``: the run's resolved configuration (the experiment's flat dataclass);
* ``metrics.jsonl``: one record per epoch (written whole and atomically each epoch);
* ``latest.npz``: after every epoch, the networks (groups ``generator`` and
  ``discriminator``), their optimisers (``g_opt``, ``d_opt``) and meta (``epoch``,
  ``seconds``, ``rng_state``, ``config``), with nn.checkpoint (atomic);

and whatever an experiment adds (MNIST: ``best.npz``, sample grids, figures). A run
resumes from ``latest.npz``: the NumPy random stream's state is in the checkpoint, so a
resumed run continues exactly as an uninterrupted one would; CuPy's stream cannot be
saved, so there it restarts from the named stream ``resume`` (index: the epoch).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from nn import checkpoint
from nn.fileio import atomic_write

from .loop import Training, train_epoch
from .streams import Streams

__all__ = ["RunDirError", "Run", "new_run_dir", "load_config", "resume_config", "read_metrics",
           "write_json", "write_json_lines"]


class RunDirError(ValueError):
    """The run directory cannot be used as asked (exists, or has nothing to resume)."""


def write_json(path, obj) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_write(Path(path), "w") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_json_lines(path, records: list[dict]) -> None:
    """Write one JSON record per line, atomically."""
    with atomic_write(Path(path), "w") as f:
        f.write("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))


def read_metrics(run_dir) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def new_run_dir(run_dir, config, *, exist_ok: bool = False, resumable: bool = True) -> Path:
    """Create a run directory and write its configuration. A directory holding only a
    config.json never trained (say, the data failed to load): it may be reused."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not exist_ok and any(p.name != "config.json" for p in run_dir.iterdir()):
        hint = "pass --resume to continue it, or choose another --out" if resumable else "choose another --out"
        raise RunDirError(f"run directory {run_dir} already exists and is not empty: {hint}")
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", asdict(config))
    return run_dir


def load_config(run_dir, cls):
    """The configuration in ``run_dir``/config.json, as ``cls`` (strict: see ConfigFromDict)."""
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise RunDirError(f"{run_dir} is not a run directory: it has no config.json")
    return cls.from_dict(json.loads(path.read_text()))


def resume_config(run_dir, cls, *, epochs: int | None = None, backend: str | None = None):
    """The configuration of the run in ``run_dir``; ``epochs`` may extend it, ``backend``
    move it. Validated, and written back."""
    run_dir = Path(run_dir)
    if not (run_dir / "latest.npz").exists():
        raise RunDirError(f"nothing to resume in {run_dir}: it has no latest.npz checkpoint")
    config = load_config(run_dir, cls)
    if epochs is not None:
        config.epochs = epochs
    if backend is not None:
        config.backend = backend
    config.validate()
    write_json(run_dir / "config.json", asdict(config))
    return config


class Run:
    """One training run in a directory. Experiments subclass it to add evaluation: the
    hooks :meth:`after_epoch`, :meth:`after_save`, :meth:`describe` and :meth:`should_stop`,
    and extra checkpoint content (:meth:`extra_groups`, :meth:`extra_meta`,
    :meth:`restored`)."""

    label = "epoch"  # the progress bar's label

    def __init__(self, training: Training, run_dir, config, streams: Streams, *, progress: bool = True):
        self.training = training
        self.run_dir = Path(run_dir)
        self.config = config
        self.streams = streams
        self.progress = progress
        self.epoch = 0      # epochs completed
        self.seconds = 0.0  # training and evaluation time so far, over every session

    # -- the objects a checkpoint holds ------------------------------------------------------
    def groups(self) -> dict:
        t = self.training
        return {"generator": t.pair.generator, "discriminator": t.pair.discriminator,
                "g_opt": t.opt.g, "d_opt": t.opt.d}

    def extra_groups(self) -> dict:
        return {}

    def extra_meta(self) -> dict:
        return {}

    def restored(self, state: dict, meta: dict) -> None:
        """Hook: read what extra_groups and extra_meta saved."""

    def save(self, name: str) -> Path:
        backend = self.training.backend
        rng = backend.rng_state() if backend.name == "numpy" else None
        meta = {"epoch": self.epoch, **self.extra_meta(), "seconds": self.seconds, "rng_state": rng,
                "config": asdict(self.config)}
        return checkpoint.save(self.run_dir / name, {**self.groups(), **self.extra_groups()}, meta=meta)

    def restore(self, path) -> None:
        """Load networks, optimisers, epoch and random stream from a checkpoint."""
        state, meta = checkpoint.load(path, self.groups())
        self.epoch = int(meta["epoch"])
        self.seconds = float(meta["seconds"])
        backend = self.training.backend
        if meta.get("rng_state") is not None and backend.name == "numpy":
            backend.set_rng_state(meta["rng_state"])
        else:  # CuPy's stream cannot be restored: continue from a stream tied to the epoch
            self.streams.reseed(backend, "resume", index=self.epoch)
        self.restored(state, meta)

    def resume(self) -> None:
        """Continue from latest.npz; metrics of epochs after it (an epoch logged but not
        checkpointed before a crash) are dropped."""
        self.restore(self.run_dir / "latest.npz")
        kept = [r for r in read_metrics(self.run_dir) if r["epoch"] <= self.epoch]
        write_json_lines(self.run_dir / "metrics.jsonl", kept)
        if self.progress:
            print(f"resuming {self.run_dir} after epoch {self.epoch}", flush=True)

    # -- hooks ---------------------------------------------------------------------------------
    def after_epoch(self, record: dict) -> dict:
        """Evaluation after an epoch (timed as eval_seconds); returns entries for the record."""
        return {}

    def after_save(self, record: dict, metrics: list[dict]) -> None:
        """After latest.npz is written: more checkpoints, figures."""

    def describe(self, record: dict) -> str:
        return (f"epoch {record['epoch']}: d_loss {record['d_loss']:.4f} g_loss {record['g_loss']:.4f} "
                f"[{record['train_seconds']:.1f}s]")

    def should_stop(self) -> bool:
        return False

    # -- the loop ------------------------------------------------------------------------------
    def train_epoch(self, epochs: int | None = None) -> dict:
        """One epoch of training (the next one); ``self.epoch`` is not advanced."""
        epoch = self.epoch + 1
        label = f"{self.label} {epoch}/{epochs or self.config.epochs}" if self.progress else None
        note = f"The last good checkpoint is {self.run_dir / 'latest.npz'} (epoch {self.epoch}); "
        return train_epoch(self.training, epoch, label=label, note=note)

    def fit(self, epochs: int) -> list[dict]:
        """Train until ``epochs`` epochs are complete (or should_stop); after each, evaluate,
        log the record, checkpoint. Returns the metrics of the whole run."""
        metrics = read_metrics(self.run_dir)
        while self.epoch < epochs:
            record = self.train_epoch(epochs)
            self.epoch += 1
            eval_start = time.perf_counter()
            record.update(self.after_epoch(record))
            record["eval_seconds"] = time.perf_counter() - eval_start
            self.seconds += record["train_seconds"] + record["eval_seconds"]
            record["seconds"] = self.seconds
            metrics.append(record)
            write_json_lines(self.run_dir / "metrics.jsonl", metrics)
            self.save("latest.npz")
            self.after_save(record, metrics)
            if self.progress:
                print(self.describe(record), flush=True)
            if self.should_stop():
                break
        return metrics
