"""A tagging run directory written by the code before the reshape: its config.json (with the
retired key model="cgan") loads, and a run trained now writes a checkpoint with the same
arrays (tests/golden/old_runs/tagging)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import nn
from cgan.core.run import load_config
from cgan.experiments.tagging.config import TaggingConfig
from cgan.experiments.tagging.data import prepare_data
from cgan.experiments.tagging.train import train_tagging

from ...golden.runs import mirflickr_like

OLD = Path(__file__).resolve().parents[2] / "golden" / "old_runs" / "tagging"


def test_an_old_tagging_config_loads_and_the_checkpoint_layout_is_kept(tmp_path):
    config = load_config(OLD, TaggingConfig)
    old_values = json.loads((OLD / "config.json").read_text())
    assert old_values.pop("model") == "cgan"
    from dataclasses import asdict

    values = asdict(config)
    assert {k: values[k] for k in old_values} == old_values   # every other key kept, with its value
    # keys added since, with what the old runs did: the 730-image features file, no validation
    assert {k: values[k] for k in set(values) - set(old_values)} == {
        "features_file": "features/efficientnet_lite0.npz", "g_output": "linear", "patience": None,
        "valid_limit": None, "valid_samples": None, "preset": None, "instance_noise": 0.0,
        "temperature": 1.0, "marginal_bias": False, "g_estimator": "straight_through"}
    assert not config.validates
    dataset, vectors = mirflickr_like()
    data = prepare_data(dataset, vectors, config.condition, nn.get_backend("numpy", seed=config.seed))
    train_tagging(config, tmp_path / "run", data=data, progress=False)
    old = json.loads((OLD / "latest.manifest.json").read_text())
    with np.load(tmp_path / "run" / "latest.npz") as f:
        arrays = {k: f"{tuple(f[k].shape)} {f[k].dtype}" for k in f.files if not k.startswith("__")}
        meta = json.loads(str(f["__meta__"]))
    assert arrays == old["arrays"]
    assert set(old["meta_keys"]) <= set(meta)


def test_a_retired_key_with_another_value_is_an_error():
    values = json.loads((OLD / "config.json").read_text())
    values["model"] = "gan"
    with pytest.raises(ValueError, match="retired"):
        TaggingConfig.from_dict(values)
