"""Run directories written by the code before the reshape into cgan/core still load, train
and resume: their config.json (tests/golden/old_runs, verbatim) is accepted, the
checkpoints written now have the same arrays (names, shapes, dtypes) and meta, and an old
metrics.jsonl is continued."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import nn
from cgan.experiments.mnist.train import load_config, load_pair, resume_config, train

from ...golden.runs import mnist_like

OLD = Path(__file__).resolve().parents[2] / "golden" / "old_runs"
# TrainConfig's options newer than those run directories: the conditional DCGAN's label
# reading, the WGAN critic's BatchNorm (both DCGAN-only) and the WGAN critic schedule
ADDED_SINCE = {"d_condition": "planes", "critic_batchnorm": False, "critic_warmup": False}


def manifest(path) -> dict:
    with np.load(path) as f:
        meta = json.loads(str(f["__meta__"]))
        return {"arrays": {k: f"{tuple(f[k].shape)} {f[k].dtype}" for k in f.files if not k.startswith("__")},
                "meta_keys": sorted(meta), "format": int(f["__nn_format__"])}


@pytest.mark.parametrize("model", ["cgan", "gan"])
def test_an_old_run_directory_trains_and_resumes(tmp_path, model):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(OLD / model / "config.json", run / "config.json")
    config = load_config(run)                                   # every key of the old file
    assert json.loads((OLD / model / "config.json").read_text())["update"] == config.update == "simultaneous"
    splits = mnist_like()
    train(config, run, splits, progress=False, prepared=True)
    old = json.loads((OLD / model / "latest.manifest.json").read_text())
    new = manifest(run / "latest.npz")
    assert (new["arrays"], new["format"]) == (old["arrays"], old["format"])  # the same checkpoint, array for array
    # the same meta, plus the epoch's record (docs/reliability.md): what old code reads is there
    assert set(new.pop("meta_keys")) - set(old.pop("meta_keys")) == {"record"}
    # continue from an old metrics.jsonl, as `cgan train --resume` does
    shutil.copy(OLD / model / "metrics.jsonl", run / "metrics.jsonl")
    train(resume_config(run, epochs=2), run, splits, resume=True, progress=False)
    epochs = [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]
    config, pair, meta = load_pair(run, nn.get_backend("numpy"), "latest")
    assert meta["epoch"] == 2 and pair.conditional == (model == "cgan")
    # written back with the same keys and values, plus the options added since, at the
    # values that reproduce the old behaviour
    written = json.loads((run / "config.json").read_text())
    before = json.loads((OLD / model / "config.json").read_text())
    added = {key: written[key] for key in set(written) - set(before)}
    assert added == ADDED_SINCE
    assert {key: written[key] for key in before} == {**before, "epochs": 2}
