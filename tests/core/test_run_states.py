"""Run directories (cgan.core.run, docs/reliability.md): their states, the resume policy,
malformed files as messages naming the file, the reconciliation after a kill, the lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from cgan.core.config import ConfigFromDict
from cgan.core.run import (FINISHED, NEW, NOT_A_RUN, STARTED, STOPPED, Run, RunDirError, new_run_dir,
                           read_metrics, resume_config, run_lock, run_status)
from cgan.core.streams import Recorded, Streams
from nn import checkpoint

from .test_loop import toy

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class _Config(ConfigFromDict):
    epochs: int = 2
    lr: float = 0.05
    backend: str = "numpy"
    data_dir: str | None = None
    model: str = "toy"
    width: int = 4

    def validate(self):
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")


def _run(path, config=None, seed=4) -> Run:
    return Run(toy(seed=seed), path, config=config or _Config(),
               streams=Streams(seed, {"resume": Recorded(0, 7919)}), progress=False)


def _trained(path, epochs=1, planned=2) -> Run:
    new_run_dir(path, _Config(epochs=planned))
    run = _run(path, _Config(epochs=planned))
    run.fit(epochs)
    return run


# -- states ---------------------------------------------------------------------------------------
def test_the_states_of_a_run_directory(tmp_path):
    assert run_status(tmp_path / "absent").state == NEW
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".lock").write_text("1\n")                          # ignored
    (tmp_path / "empty" / ".config.json.0123456789abcdef.tmp").write_text("")   # ignored
    assert run_status(tmp_path / "empty").state == NEW
    (tmp_path / "file").write_text("x")
    assert run_status(tmp_path / "file").predicate() == "is not a run directory (it is a file)"
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    assert run_status(tmp_path / "other").state == NOT_A_RUN

    new_run_dir(tmp_path / "run", _Config())
    status = run_status(tmp_path / "run")
    assert status.state == STARTED and "stopped before its first checkpoint" in status.describe()
    assert "--resume" in status.advice("cgan train x --out run")

    run = _run(tmp_path / "run")
    run.fit(1)
    status = run_status(tmp_path / "run")
    assert (status.state, status.epoch, status.epochs) == (STOPPED, 1, 2)
    assert status.describe().endswith("is stopped after epoch 1 of 2")
    assert status.advice("cgan train x --out run") == "continue it with `cgan train x --out run --resume`"
    run.fit(2)
    status = run_status(tmp_path / "run")
    assert (status.state, status.epoch) == (FINISHED, 2)
    assert "--epochs N` (N above 2)" in status.advice("cgan train x --out run")
    assert "cannot be resumed" in status.advice("cgan train-tagging --out run", resumable=False)


def test_a_run_that_stopped_early_is_finished(tmp_path):
    new_run_dir(tmp_path, _Config(epochs=5))
    run = _run(tmp_path, _Config(epochs=5))
    run.stop_reason = lambda: "no better validation LL for 1 epochs"
    run.fit(5)
    assert run.epoch == 1
    status = run_status(tmp_path)
    assert status.state == FINISHED and status.describe().endswith(
        "is finished: it stopped after epoch 1 of 5 (no better validation LL for 1 epochs)")


def test_a_run_started_without_a_checkpoint_is_started_again(tmp_path):
    """Plain rerun: its config.json is rewritten and its leftovers (a metrics record and a
    sample written by earlier versions before their checkpoint) go at the first epoch."""
    new_run_dir(tmp_path, _Config(lr=1.0))
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "d_loss": 0.0}) + "\n")
    (tmp_path / "samples").mkdir()
    new_run_dir(tmp_path, _Config(lr=0.5))
    assert json.loads((tmp_path / "config.json").read_text())["lr"] == 0.5
    run = _run(tmp_path, _Config(lr=0.5))
    run.fit(1)
    assert [r["epoch"] for r in read_metrics(tmp_path)] == [1] and "d_loss" in read_metrics(tmp_path)[0]
    assert read_metrics(tmp_path)[0]["d_loss"] != 0.0


def test_exist_ok_replaces_a_run_instead_of_mixing_two(tmp_path):
    _trained(tmp_path, epochs=1)
    new_run_dir(tmp_path, _Config(lr=0.5), exist_ok=True)
    assert run_status(tmp_path).state == STARTED and not (tmp_path / "metrics.jsonl").exists()
    run = _run(tmp_path, _Config(lr=0.5))
    run.fit(1)
    assert [r["epoch"] for r in read_metrics(tmp_path)] == [1]


# -- resume -------------------------------------------------------------------------------------
NAMES = {"model": "--model", "width": "--width", "lr": "--lr", "epochs": "--epochs"}


def test_resume_refuses_what_fixes_the_run_naming_each_option(tmp_path):
    _trained(tmp_path)
    before = (tmp_path / "config.json").read_text()
    with pytest.raises(RunDirError) as info:
        resume_config(tmp_path, _Config, changes={"model": "other", "width": 8, "lr": 0.01},
                      option_names=NAMES)
    message = str(info.value)
    assert "--model (the run has 'toy', asked 'other')" in message and "--width (the run has 4, asked 8)" in message
    assert "--lr (" not in message.split("a resume may change")[0]   # lr may change: not listed as refused
    assert (tmp_path / "config.json").read_text() == before              # nothing written
    # the same value as the run's is no change
    assert resume_config(tmp_path, _Config, changes={"model": "toy"}).model == "toy"


def test_resume_does_not_shorten_a_run(tmp_path):
    _trained(tmp_path, epochs=2, planned=2)
    with pytest.raises(RunDirError, match="--epochs 1 is fewer than the 2 epochs .* already done"):
        resume_config(tmp_path, _Config, epochs=1, option_names=NAMES)
    assert json.loads((tmp_path / "config.json").read_text())["epochs"] == 2
    assert resume_config(tmp_path, _Config, epochs=2).epochs == 2
    with pytest.raises(RunDirError, match="nothing to resume in .*no such directory"):
        resume_config(tmp_path / "absent", _Config)


def test_a_change_on_resume_is_applied_and_recorded_in_the_next_record(tmp_path):
    _trained(tmp_path, epochs=1, planned=2)
    config = resume_config(tmp_path, _Config, changes={"lr": 0.01, "data_dir": "/data"})
    assert json.loads((tmp_path / "config.json").read_text())["lr"] == 0.01
    run = _run(tmp_path, config)
    run.resume()
    run.fit(2)
    records = read_metrics(tmp_path)
    assert "changes" not in records[0]
    assert records[1]["changes"] == {"data_dir": [None, "/data"], "lr": [0.05, 0.01]}
    config = resume_config(tmp_path, _Config, epochs=3)   # epochs only: where the run stops
    run = _run(tmp_path, config)
    run.resume()
    run.fit(3)
    assert "changes" not in read_metrics(tmp_path)[2]


def test_resuming_a_run_without_a_checkpoint_starts_it_from_scratch(tmp_path):
    straight = _trained(tmp_path / "a", epochs=2)
    new_run_dir(tmp_path / "b", _Config())
    run = _run(tmp_path / "b", resume_config(tmp_path / "b", _Config))
    run.resume()
    run.fit(2)
    for key, p in straight.training.pair.generator.params.items():
        np.testing.assert_array_equal(p, run.training.pair.generator.params[key])


# -- malformed files --------------------------------------------------------------------------------
def test_malformed_run_files_are_messages_naming_the_file(tmp_path):
    _trained(tmp_path)
    config = tmp_path / "config.json"
    good = config.read_text()
    config.write_text("{not json")
    with pytest.raises(RunDirError, match=rf"{config}: not valid JSON"):
        resume_config(tmp_path, _Config)
    config.write_text(good.replace('"lr": 0.05', '"lr": "0.05"'))
    with pytest.raises(RunDirError, match=rf"{config}: configuration key 'lr' must be a number, got '0.05'"):
        resume_config(tmp_path, _Config)
    config.write_text(good.replace('"lr": 0.05', '"lr": 0.05, "typo": 1'))
    with pytest.raises(RunDirError, match=rf"{config}: unknown configuration keys \['typo'\]"):
        resume_config(tmp_path, _Config)
    config.write_text(good.replace('"epochs": 2', '"epochs": null'))
    with pytest.raises(RunDirError, match="'epochs' must be an integer, got None"):
        resume_config(tmp_path, _Config)
    config.write_text(good)

    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text(metrics.read_text() + "{oops\n")
    with pytest.raises(RunDirError, match=rf"{metrics}: line 2 is not valid JSON"):
        read_metrics(tmp_path)
    metrics.write_text("[1, 2]\n")
    with pytest.raises(RunDirError, match=r"line 1 is not an epoch's record"):
        read_metrics(tmp_path)


def test_a_checkpoint_without_its_metadata_is_a_message(tmp_path):
    run = _trained(tmp_path)
    latest = tmp_path / "latest.npz"
    checkpoint.save(latest, run.groups())                      # arrays, no meta
    with pytest.raises(checkpoint.CheckpointError, match=rf"{latest} has no training metadata"):
        run_status(tmp_path)
    with pytest.raises(checkpoint.CheckpointError, match="no training metadata"):
        _run(tmp_path).resume()
    checkpoint.save(latest, run.groups(), meta={"epoch": "one", "seconds": 0})
    with pytest.raises(checkpoint.CheckpointError, match="no training metadata"):
        _run(tmp_path).resume()
    latest.write_bytes(latest.read_bytes()[:100])                 # truncated by hand
    with pytest.raises(checkpoint.CheckpointError, match="not a readable .npz"):
        run_status(tmp_path)


# -- after a kill ---------------------------------------------------------------------------------
def test_reconcile_makes_the_directory_agree_with_latest(tmp_path):
    run = _trained(tmp_path, epochs=2, planned=3)
    records = read_metrics(tmp_path)
    # killed after latest.npz (epoch 2) and before metrics.jsonl: its record is in the meta
    (tmp_path / "metrics.jsonl").write_text(json.dumps(records[0]) + "\n")
    # and a temporary of a killed write, and a record of an epoch never checkpointed
    (tmp_path / ".latest.npz.0123456789abcdef.tmp").write_bytes(b"x" * 100)
    resumed = _run(tmp_path, _Config(epochs=3))
    resumed.resume()
    assert resumed.reconcile() == records
    assert read_metrics(tmp_path) == records
    assert not list(tmp_path.glob(".*.tmp"))
    with (tmp_path / "metrics.jsonl").open("a") as f:
        f.write(json.dumps({"epoch": 3, "d_loss": 1.0}) + "\n")
    assert [r["epoch"] for r in resumed.reconcile()] == [1, 2]
    assert run.epoch == 2


def test_a_second_process_is_kept_out_of_a_run_directory(tmp_path):
    code = ("import sys\nfrom cgan.core.run import run_lock\n"
            "with run_lock(sys.argv[1]):\n    print('held', flush=True)\n    sys.stdin.read()\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunDirError, match=rf"in use by another process \(pid {holder.pid}\)"):
            with run_lock(tmp_path):
                pass
    finally:
        holder.communicate("", timeout=60)
    with run_lock(tmp_path):          # released when the holder ended
        with run_lock(tmp_path):      # and re-entrant within a process
            pass
    assert run_status(tmp_path).state == NEW      # the lock file is not a run's content
    time.sleep(0)
