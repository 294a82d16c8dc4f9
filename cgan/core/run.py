"""A run directory, its states, and :class:`Run`: the epoch loop around cgan.core.loop.train_epoch.

A run directory holds

* ``config.json``: the run's resolved configuration (the experiment's flat dataclass);
* ``latest.npz``: after every epoch, the networks (groups ``generator`` and
  ``discriminator``), their optimisers (``g_opt``, ``d_opt``) and meta (``epoch``,
  ``seconds``, ``rng_state``, ``config``, the epoch's ``record``), with nn.checkpoint
  (atomic);
* ``metrics.jsonl``: one record per epoch, written whole and atomically after the
  checkpoint of that epoch (so it never names an epoch that is not on disk);

and whatever an experiment adds (MNIST: ``best.npz``, sample grids, figures). A run
resumes from ``latest.npz``: the NumPy random stream's state is in the checkpoint, so a
resumed run continues exactly as an uninterrupted one would; CuPy's stream cannot be
saved, so there it restarts from the named stream ``resume`` (index: the epoch).

**States** (:func:`run_status`, docs/reliability.md): ``new`` (no directory, or an empty
one), ``not a run`` (a file, or a directory with files but no config.json), ``started``
(config.json but no checkpoint yet: stopped during its first epoch; a plain rerun
restarts it and ``--resume`` starts it from scratch), ``stopped`` (a checkpoint at epoch
k of N: ``--resume`` continues it), ``finished`` (N of N epochs, or stopped early).

**Crash safety**: the epoch's files are written in the order latest.npz (the commit),
the experiment's outputs (best.npz), metrics.jsonl; every start of :meth:`Run.fit`
reconciles the directory with latest.npz (:meth:`Run.reconcile`): records of epochs
after it are dropped, a record it holds but metrics.jsonl lacks is restored, the
experiment repairs its outputs, and temporary files of killed writes are removed. A
process lock (``.lock``) keeps a second process out of a directory in use.
"""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from nn import checkpoint
from nn.fileio import TEMPORARY_NAME, FileWriteError, atomic_write, remove_stale_temporaries

from .loop import Training, train_epoch
from .streams import Streams

__all__ = ["RunDirError", "Run", "RunStatus", "run_status", "new_run_dir", "load_config",
           "resume_config", "read_metrics", "write_json", "write_json_lines", "run_lock",
           "require_checkpoint", "recorded_path", "config_changes", "RESUME_MAY_CHANGE",
           "NEW", "NOT_A_RUN", "STARTED", "STOPPED", "FINISHED"]

# The states of a run directory.
NEW, NOT_A_RUN, STARTED, STOPPED, FINISHED = "new", "not a run", "started", "stopped", "finished"

# What --resume may change: where the run ends, its learning rate (the initial rate of its
# schedule), the device, where the data is read. Everything else fixes the networks, the
# objective or the data the run was trained on, and is refused.
RESUME_MAY_CHANGE = ("epochs", "lr", "backend", "data_dir")

LOCK_NAME = ".lock"


class RunDirError(ValueError):
    """The run directory cannot be used as asked (exists, has nothing to resume, is
    malformed); the message says which state it is in and what to do."""


# -- files ----------------------------------------------------------------------------------
def write_json(path, obj) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_write(Path(path), "w") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_json_lines(path, records: list[dict]) -> None:
    """Write one JSON record per line, atomically."""
    with atomic_write(Path(path), "w") as f:
        f.write("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))


def read_metrics(run_dir) -> list[dict]:
    """The records of metrics.jsonl ([] when there is none); a malformed line is an error
    naming the file and the line."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(_read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise RunDirError(f"{path}: line {number} is not valid JSON ({exc})") from None
        if not isinstance(record, dict) or not isinstance(record.get("epoch"), int):
            raise RunDirError(f"{path}: line {number} is not an epoch's record (a JSON object with "
                              "an integer 'epoch')")
        records.append(record)
    return records


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RunDirError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise RunDirError(f"{path}: cannot read it ({exc.strerror or exc})") from None


def _read_config_values(path: Path) -> dict:
    try:
        values = json.loads(_read_text(path))
    except ValueError as exc:
        raise RunDirError(f"{path}: not valid JSON ({exc}); fix the file, or start a new run "
                          "with another --out") from None
    if not isinstance(values, dict):
        raise RunDirError(f"{path}: expected a JSON object of configuration keys")
    return values


def load_config(run_dir, cls):
    """The configuration in ``run_dir``/config.json, as ``cls`` (strict: see ConfigFromDict),
    validated. Any problem is a RunDirError naming the file."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise RunDirError(f"{run_dir} is not a run directory: it has no config.json")
    values = _read_config_values(path)
    try:
        config = cls.from_dict(values)
        if hasattr(config, "validate"):
            config.validate()
    except (ValueError, TypeError) as exc:
        raise RunDirError(f"{path}: {exc}") from None
    return config


# -- states -----------------------------------------------------------------------------------
@dataclass
class RunStatus:
    """Where a run directory stands: ``state`` (NEW, NOT_A_RUN, STARTED, STOPPED, FINISHED),
    epochs checkpointed (``epoch``) of those planned (``epochs``), and why it ended early
    (``stopped``: a reason, or None)."""

    path: Path
    state: str
    epoch: int = 0
    epochs: int | None = None
    stopped: str | None = None
    detail: str = ""

    def predicate(self) -> str:
        """The state in words, after the directory's name: "is stopped after epoch 3 of 30"."""
        if self.state == NEW:
            return f"is new ({self.detail or 'no such directory'})"
        if self.state == NOT_A_RUN:
            return f"is not a run directory ({self.detail})"
        if self.state == STARTED:
            return "was started but stopped before its first checkpoint (the end of epoch 1)"
        of = f" of {self.epochs}" if self.epochs is not None else ""
        if self.state == STOPPED:
            return f"is stopped after epoch {self.epoch}{of}"
        if self.stopped:
            return f"is finished: it stopped after epoch {self.epoch}{of} ({self.stopped})"
        return f"is finished ({self.epoch}{of} epochs)"

    def describe(self) -> str:
        """The state in words, without advice."""
        return f"{self.path} {self.predicate()}"

    def advice(self, command: str, resumable: bool = True) -> str:
        """What to do next, for ``command``, the short form of the command that trains into
        this directory (``cgan train mnist --out DIR``)."""
        if self.state == NEW:
            return "run the same command to start it"
        if self.state == STARTED:
            return "rerun the same command to start it again" + \
                (f", or `{command} --resume` to start it as its config.json says" if resumable else "")
        if self.state == NOT_A_RUN:
            return "choose another --out"
        if not resumable:
            return "it cannot be resumed: choose another --out, or delete it to train again"
        if self.state == STOPPED:
            return f"continue it with `{command} --resume`"
        return f"train it longer with `{command} --resume --epochs N` (N above {self.epoch})"


def _entries(run_dir: Path) -> list[str]:
    """The names in a directory, without the lock and the temporaries of killed writes."""
    return [p.name for p in run_dir.iterdir()
            if p.name != LOCK_NAME and not TEMPORARY_NAME.match(p.name)]


def run_status(run_dir) -> RunStatus:
    """The state of ``run_dir``, read from its files: config.json (the epochs planned) and
    the meta of latest.npz (the epochs done, and whether the run stopped early).

    Raises RunDirError (naming the file) when a run with a checkpoint has an unreadable
    config.json, and CheckpointError when latest.npz is unreadable.
    """
    run_dir = Path(run_dir)
    if not run_dir.exists():
        return RunStatus(run_dir, NEW, detail="no such directory")
    if not run_dir.is_dir():
        return RunStatus(run_dir, NOT_A_RUN, detail="it is a file")
    try:
        names = _entries(run_dir)
    except OSError as exc:
        raise RunDirError(f"{run_dir}: cannot list it ({exc.strerror or exc})") from None
    if not names:
        return RunStatus(run_dir, NEW, detail="an empty directory")
    if "config.json" not in names:
        return RunStatus(run_dir, NOT_A_RUN, detail="it has files but no config.json")
    latest = run_dir / "latest.npz"
    if not latest.exists():
        epochs = None
        try:
            epochs = _read_config_values(run_dir / "config.json").get("epochs")
        except RunDirError:
            pass  # nothing was trained: a plain rerun rewrites config.json
        return RunStatus(run_dir, STARTED, epochs=epochs if isinstance(epochs, int) else None)
    epochs = _read_config_values(run_dir / "config.json").get("epochs")
    meta = _run_meta(latest)
    epoch = meta["epoch"]
    stopped = meta.get("stopped")
    done = stopped or (isinstance(epochs, int) and epoch >= epochs)
    return RunStatus(run_dir, FINISHED if done else STOPPED, epoch=epoch,
                     epochs=epochs if isinstance(epochs, int) else None, stopped=stopped)


def _run_meta(path: Path) -> dict:
    """A training checkpoint's meta, checked for what a run needs."""
    meta = checkpoint.read_meta(path)
    if meta is None or not isinstance(meta.get("epoch"), int) or "seconds" not in meta:
        raise checkpoint.CheckpointError(
            f"checkpoint {path} has no training metadata (epoch, seconds): it was not written "
            "by a training run of this project")
    return meta


def require_checkpoint(run_dir, name: str = "latest.npz", *, command: str | None = None) -> Path:
    """``run_dir/name``, or a RunDirError saying the directory's state and what to do."""
    run_dir = Path(run_dir)
    path = run_dir / name
    if path.is_file():
        return path
    status = run_status(run_dir)
    if status.state in (NEW, NOT_A_RUN):
        raise RunDirError(f"{run_dir} is not a run directory: "
                          f"{'it has no config.json' if status.state == NOT_A_RUN else status.detail}")
    if status.state == STARTED:
        hint = f"; {status.advice(command)}" if command else ""
        raise RunDirError(f"{run_dir} has no checkpoint yet: its training stopped before the end "
                          f"of epoch 1{hint}")
    raise RunDirError(f"{run_dir} has no {name} ({status.describe()})")


def recorded_path(run_dir, value):
    """A path recorded in a run's config.json, made usable from any directory: absolute
    paths as they are; a relative one (written by earlier versions, relative to where the
    run was trained) as found from here, else from the run directory or one of its
    parents; None stays None."""
    if value is None or Path(value).is_absolute():
        return value
    if Path(value).exists():
        return str(Path(value).resolve())
    for base in (Path(run_dir).resolve(), *Path(run_dir).resolve().parents):
        if (base / value).exists():
            return str(base / value)
    return value


# -- creating, resuming -----------------------------------------------------------------------
@contextmanager
def run_lock(run_dir):
    """Hold ``run_dir``'s lock (``.lock``, an advisory lock the system releases when the
    process ends, however it ends): a second process training into the same directory is
    refused. Re-entrant within a process; a no-op where locks are not available."""
    run_dir = Path(run_dir)
    key = str(run_dir.resolve())
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    lock_path = run_dir / LOCK_NAME
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FileWriteError(run_dir, exc) from exc
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise FileWriteError(lock_path, exc) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            raise RunDirError(f"{run_dir} is in use by another process{f' (pid {holder})' if holder else ''}: "
                              "wait for it to end, or choose another --out") from None
        except OSError:
            pass  # a file system without locks: go on unlocked
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass
        _HELD[key] = 1
        try:
            yield
        finally:
            del _HELD[key]
    finally:
        os.close(fd)  # releases the lock


_HELD: dict[str, int] = {}


def new_run_dir(run_dir, config, *, exist_ok: bool = False, resumable: bool = True,
                command: str | None = None) -> Path:
    """Create a run directory and write its configuration.

    A new directory (absent or empty) is created; one that was started but stopped before
    its first checkpoint is started again (its leftovers go at the first epoch, see
    :meth:`Run.reconcile`). A directory with checkpoints, or one that is not a run, is
    refused with its state and what to do (``exist_ok``: replace the run there: its
    latest.npz and metrics.jsonl are removed, so that the directory is in the state
    *started* until the new run's first checkpoint).
    ``command``: the command that trains into it, for the advice.
    """
    run_dir = Path(run_dir)
    status = run_status(run_dir)
    if status.state == NOT_A_RUN and not exist_ok:
        raise RunDirError(f"run directory {run_dir} already exists and {status.predicate()}: "
                          "choose another --out")
    if status.state in (STOPPED, FINISHED) and not exist_ok:
        if not resumable:
            hint = "choose another --out"
        elif status.state == STOPPED:
            hint = "pass --resume to continue it, or choose another --out"
        else:
            hint = (f"to train it longer pass --resume with --epochs above {status.epoch}, "
                    "or choose another --out")
        raise RunDirError(f"run directory {run_dir} already exists and {status.predicate()}; {hint}")
    if status.state == STARTED:
        print(f"cgan: {run_dir} stopped before its first checkpoint; starting it again",
              file=sys.stderr, flush=True)
    if status.state in (STOPPED, FINISHED):  # exist_ok: the run is replaced, not mixed with the new one
        for name in ("latest.npz", "metrics.jsonl"):
            (run_dir / name).unlink(missing_ok=True)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FileWriteError(run_dir, exc) from exc
    write_json(run_dir / "config.json", asdict(config))
    return run_dir


def resume_config(run_dir, cls, *, epochs: int | None = None, backend: str | None = None,
                  changes: dict | None = None, option_names: dict | None = None,
                  may_change=RESUME_MAY_CHANGE):
    """The configuration of the run in ``run_dir``, to resume it with ``changes``
    (``epochs`` and ``backend`` are two of them); validated, and written back when changed.

    Only the fields in ``may_change`` may take another value (the others are refused,
    each named by ``option_names[field]``, default ``field``); ``epochs`` may not fall
    below the epochs already done. A run started but stopped before its first checkpoint
    resumes from scratch.
    """
    run_dir = Path(run_dir)
    names = option_names or {}
    status = run_status(run_dir)
    if status.state == NEW:
        raise RunDirError(f"nothing to resume in {run_dir}: {status.detail}; run the same command "
                          "without --resume to start it")
    if status.state == NOT_A_RUN:
        raise RunDirError(f"nothing to resume in {run_dir}: it is not a run directory ({status.detail})")
    config = load_config(run_dir, cls)
    asked = {k: v for k, v in (changes or {}).items() if v is not None}
    asked.update({k: v for k, v in (("epochs", epochs), ("backend", backend)) if v is not None})
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(asked) - known)
    if unknown:
        raise ValueError(f"unknown configuration keys {unknown}")
    changed = {k: v for k, v in asked.items() if getattr(config, k) != v}
    refused = [k for k in changed if k not in may_change]
    if refused:
        listed = ", ".join(f"{names.get(k, k)} (the run has {getattr(config, k)!r}, asked {changed[k]!r})"
                           for k in refused)
        allowed = ", ".join(names.get(k, k) for k in may_change)
        raise RunDirError(f"--resume cannot change {listed}: they fix the networks, the objective or "
                          f"the data of the run in {run_dir / 'config.json'}. Leave them out to continue "
                          f"it, or start a new run with another --out (a resume may change {allowed})")
    if "epochs" in changed and changed["epochs"] < status.epoch:
        raise RunDirError(f"{names.get('epochs', 'epochs')} {changed['epochs']} is fewer than the "
                          f"{status.epoch} epochs {run_dir} has already done (a run is not shortened: "
                          f"its checkpoints are at epoch {status.epoch}); pass {status.epoch} or more")
    for key, value in changed.items():
        setattr(config, key, value)
    try:
        config.validate()
    except ValueError as exc:
        raise RunDirError(f"--resume: {exc}") from None
    if changed:
        write_json(run_dir / "config.json", asdict(config))
    return config


def config_changes(before: dict | None, after: dict, *, ignore=("epochs",)) -> dict:
    """{key: [before, after]} for the configuration values that differ (keys in both);
    ``epochs`` only says where the run stops, so it is not a change of the run."""
    if not before:
        return {}
    return {k: [before[k], v] for k, v in sorted(after.items())
            if k in before and k not in ignore and before[k] != v}


# -- the run ----------------------------------------------------------------------------------
class Run:
    """One training run in a directory. Experiments subclass it to add evaluation: the
    hooks :meth:`after_epoch`, :meth:`after_save`, :meth:`describe`, :meth:`stop_reason`
    and :meth:`reconcile_outputs`, and extra checkpoint content (:meth:`extra_groups`,
    :meth:`extra_meta`, :meth:`restored`)."""

    label = "epoch"  # the progress bar's label

    def __init__(self, training: Training, run_dir, config, streams: Streams, *, progress: bool = True):
        self.training = training
        self.run_dir = Path(run_dir)
        self.config = config
        self.streams = streams
        self.progress = progress
        self.epoch = 0      # epochs completed
        self.seconds = 0.0  # training and evaluation time so far, over every session
        self.record = None  # the last epoch's record (kept in latest.npz's meta)
        self.stopped = None  # why the run stopped before its epochs (kept in the meta)
        self.changes = {}   # options changed on resume, for the next record
        self.checkpoint_meta = None  # the meta of the checkpoint restored

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
        if self.record is not None:
            meta["record"] = self.record
        if self.stopped:
            meta["stopped"] = self.stopped
        return checkpoint.save(self.run_dir / name, {**self.groups(), **self.extra_groups()}, meta=meta)

    def restore(self, path) -> dict:
        """Load networks, optimisers, epoch and random stream from a checkpoint; returns its meta."""
        path = Path(path)
        _run_meta(path)
        state, meta = checkpoint.load(path, self.groups())
        self.checkpoint_meta = meta
        self.epoch = int(meta["epoch"])
        self.seconds = float(meta["seconds"])
        self.record = meta.get("record")
        self.stopped = meta.get("stopped")
        backend = self.training.backend
        if meta.get("rng_state") is not None and backend.name == "numpy":
            backend.set_rng_state(meta["rng_state"])
        else:  # CuPy's stream cannot be restored: continue from a stream tied to the epoch
            self.streams.reseed(backend, "resume", index=self.epoch)
        try:
            self.restored(state, meta)
        except (KeyError, TypeError, ValueError) as exc:
            raise checkpoint.CheckpointError(f"checkpoint {path}: its metadata lacks what this run "
                                             f"needs ({exc!r})") from None
        return meta

    def resume(self) -> None:
        """Continue from latest.npz (or, when the run stopped before its first checkpoint,
        start it from scratch). Options changed since the checkpoint (config.json against
        the checkpoint's) go into the next epoch's record as ``changes``."""
        latest = self.run_dir / "latest.npz"
        if not latest.exists():
            if self.progress:
                print(f"{self.run_dir} stopped before its first checkpoint: starting it from scratch",
                      flush=True)
            return
        self.restore(latest)
        self.changes = config_changes(self.checkpoint_meta.get("config"), asdict(self.config))
        if self.progress:
            changed = "".join(f"; {k} {a!r} -> {b!r}" for k, (a, b) in self.changes.items())
            print(f"resuming {self.run_dir} after epoch {self.epoch}{changed}", flush=True)

    def reconcile(self) -> list[dict]:
        """Make the directory agree with the checkpoint of ``self.epoch`` (after any kill):
        remove temporaries of killed writes, keep the records of epochs up to it (restoring
        its own record from the checkpoint if metrics.jsonl lacks it), and let the
        experiment repair its outputs (:meth:`reconcile_outputs`). Returns the metrics."""
        for directory in (self.run_dir, *[p for p in self.run_dir.iterdir() if p.is_dir()]):
            remove_stale_temporaries(directory)
        found = read_metrics(self.run_dir)
        kept = [r for r in found if r["epoch"] <= self.epoch]
        if self.record is not None and self.record.get("epoch") == self.epoch and \
                not any(r["epoch"] == self.epoch for r in kept):
            kept.append(self.record)
        if kept != found:
            write_json_lines(self.run_dir / "metrics.jsonl", kept)
        self.reconcile_outputs()
        return kept

    # -- hooks ---------------------------------------------------------------------------------
    def after_epoch(self, record: dict) -> dict:
        """Evaluation after an epoch (timed as eval_seconds); returns entries for the record."""
        return {}

    def after_save(self, record: dict, metrics: list[dict]) -> None:
        """After latest.npz is written and before metrics.jsonl is: more checkpoints, figures."""

    def reconcile_outputs(self) -> None:
        """Hook: make the experiment's own files agree with the checkpoint of ``self.epoch``."""

    def describe(self, record: dict) -> str:
        return (f"epoch {record['epoch']}: d_loss {record['d_loss']:.4f} g_loss {record['g_loss']:.4f} "
                f"[{record['train_seconds']:.1f}s]")

    def stop_reason(self) -> str | None:
        """Why the run should stop before its epochs (checked after each epoch), or None."""
        return "stopped" if self.should_stop() else None

    def should_stop(self) -> bool:
        return False

    # -- the loop ------------------------------------------------------------------------------
    def train_epoch(self, epochs: int | None = None) -> dict:
        """One epoch of training (the next one); ``self.epoch`` is not advanced."""
        epoch = self.epoch + 1
        label = f"{self.label} {epoch}/{epochs or self.config.epochs}" if self.progress else None
        if self.epoch:
            note = f"The last good checkpoint is {self.run_dir / 'latest.npz'} (epoch {self.epoch}); "
        else:
            note = "No checkpoint was written yet (one is written at the end of every epoch); "
        return train_epoch(self.training, epoch, label=label, note=note)

    def fit(self, epochs: int) -> list[dict]:
        """Train until ``epochs`` epochs are complete (or stop_reason); after each, evaluate,
        checkpoint, then log the record. Returns the metrics of the whole run."""
        with run_lock(self.run_dir):
            metrics = self.reconcile()
            while self.epoch < epochs:
                record = self.train_epoch(epochs)
                self.epoch += 1
                eval_start = time.perf_counter()
                record.update(self.after_epoch(record))
                record["eval_seconds"] = time.perf_counter() - eval_start
                self.seconds += record["train_seconds"] + record["eval_seconds"]
                record["seconds"] = self.seconds
                if self.changes:
                    record["changes"] = self.changes
                    self.changes = {}
                self.record = _json_safe(record)
                self.stopped = self.stop_reason()
                self.save("latest.npz")
                metrics.append(self.record)
                self.after_save(self.record, metrics)
                write_json_lines(self.run_dir / "metrics.jsonl", metrics)
                if self.progress:
                    print(self.describe(self.record), flush=True)
                    if self.stopped:
                        print(f"stopping: {self.stopped}", flush=True)
                if self.stopped:
                    break
            return metrics


def _json_safe(record: dict) -> dict:
    """The record as JSON writes it (NumPy scalars as Python numbers)."""
    out = {}
    for key, value in record.items():
        if hasattr(value, "item") and not isinstance(value, (dict, list)):
            value = value.item()
        out[key] = value
    return out
