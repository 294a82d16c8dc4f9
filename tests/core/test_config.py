"""Configuration dataclasses (cgan.core.config): strict from_dict, retired keys, pick."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from cgan.core.config import ConfigFromDict, pick
from cgan.core.optim import OptimConfig
from cgan.experiments.mnist.config import resolve_config
from cgan.models.mnist import ModelConfig


@dataclass
class _Config(ConfigFromDict):
    RETIRED = {"old": "only"}

    a: int = 1
    b: str = "x"


def test_unknown_keys_are_an_error_and_retired_ones_are_dropped():
    assert _Config.from_dict({"a": 2}) == _Config(a=2)
    with pytest.raises(ValueError, match=r"unknown configuration keys \['c'\]"):
        _Config.from_dict({"c": 1})
    assert _Config.from_dict({"a": 3, "old": "only"}) == _Config(a=3)
    with pytest.raises(ValueError, match="retired"):
        _Config.from_dict({"old": "something else"})


def test_pick_takes_the_fields_of_the_same_name():
    config = resolve_config("gan", "original", width_scale=0.5, g_irange=0.3)
    model = config.model_config()
    assert model == pick(ModelConfig, config)
    assert (model.model, model.width_scale, model.g_irange, model.marginal_clip) == ("gan", 0.5, 0.3, 1e-7)
    assert model.image_dim == 784 and model.noise_dim == 100   # not in TrainConfig: defaults
    optim = pick(OptimConfig, config)
    assert (optim.optimizer, optim.lr_decay) == ("sgd", 1.000004)
    assert pick(OptimConfig, config, lr=0.5).lr == 0.5
