"""The original code's training options in MNIST runs: the simultaneous update, uniformly
drawn labels for generated samples, the `original` preset, the Parzen protocol of
parzen_ll.py, and `cgan sample --npz` (the steps themselves: tests/core/test_steps.py; the
noises: tests/core/test_noise.py; the marginal clip: tests/models/test_mnist.py)."""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np
import pytest

import nn
from cgan.experiments.mnist.config import PRESETS, resolve_config
from cgan.experiments.mnist.train import Trainer

from ...evaluation.test_parzen import brute_force
from .test_train import fake_mnist, tiny_config


# -- the simultaneous update in a run --------------------------------------------------


def test_a_simultaneous_epoch_trains_and_resumes(tmp_path):
    splits = fake_mnist(n_train=300)
    config = tiny_config("cgan", update="simultaneous", fake_labels="uniform",
                         noise="uniform_unit_variance", epochs=2)
    trainer = Trainer(config, tmp_path, splits, progress=False)
    record = trainer.train_epoch()
    assert record["updates"] == 3 and math.isfinite(record["g_loss"]) and record["g_loss"] > 0
    assert trainer.opt.g.updates == trainer.opt.d.updates == 3


def test_simultaneous_needs_one_step_each_and_the_bce_loss():
    with pytest.raises(ValueError, match="simultaneous"):
        resolve_config("gan", "original", k_steps=2)
    config = resolve_config("gan", "original", loss="wasserstein")  # WGAN alternates
    assert config.update == "alternating"


# -- generated labels, the preset ------------------------------------------------------


def test_uniform_fake_labels_are_drawn_evenly_and_batch_labels_are_the_real_ones(tmp_path):
    splits = fake_mnist(n_train=100)
    trainer = Trainer(tiny_config("cgan", fake_labels="uniform"), tmp_path, splits, progress=False)
    y = trainer.backend.xp.eye(10, dtype=np.float32)[np.zeros(20000, dtype=np.int64)]
    drawn = trainer.draw.generated_condition(y)
    assert drawn.shape == y.shape and drawn.dtype == np.float32
    assert (drawn.sum(axis=1) == 1).all()
    counts = drawn.sum(axis=0)
    assert counts.min() > 1800 and counts.max() < 2200  # 2000 each, +- 4.7 sd
    same = Trainer(tiny_config("cgan"), tmp_path / "b", splits, progress=False)
    assert same.draw.generated_condition(y) is y


def test_the_original_preset_is_the_original_code():
    config = resolve_config("gan", "original")
    expected = dict(optimizer="sgd", lr=0.1, lr_decay=1.000004, lr_min=1e-6, momentum_start=0.5,
                    momentum_end=0.7, momentum_start_epoch=1, momentum_end_epoch=250, batch_size=100,
                    max_col_norm=None, g_irange=0.05, d_irange=0.005, init="uniform",
                    marginal_bias=True, marginal_clip=1e-7, noise="uniform_unit_variance",
                    update="simultaneous", d_input_keep=0.8, d_hidden_keep=0.5, g_hidden_keep=1.0,
                    k_steps=1, g_loss="nonsaturating", loss="bce", fake_labels="batch",
                    eval_sigma_points=1000, patience=None)
    assert {k: getattr(config, k) for k in expected} == expected
    assert resolve_config("cgan", "original").fake_labels == "uniform"
    paper = resolve_config("cgan", "paper")
    assert (paper.lr_decay, paper.g_hidden_keep, paper.update) == (1.00004, 0.5, "simultaneous")
    assert set(PRESETS) == {"default", "paper", "original", "adam"}
    # the default: the original configuration, 30 epochs, dropout in the conditional G,
    # none on D's image input
    default = resolve_config("cgan", "default")
    assert {**asdict(default), "preset": "original"} == asdict(
        resolve_config("cgan", "original", g_hidden_keep=0.5, d_input_keep=1.0, epochs=30))
    assert {**asdict(resolve_config("gan", "default")), "preset": "original"} == asdict(
        resolve_config("gan", "original", d_input_keep=1.0, epochs=30))


# -- Parzen: parzen_ll.py's protocol -------------------------------------------------------
def test_training_validation_uses_sigma_from_the_first_points_then_scores_all(tmp_path):
    """eval_sigma_points=k: sigma chosen on the first k validation images, the mean over
    all of them at that sigma: the float64 brute force of the same protocol."""
    splits = fake_mnist(n_valid=60)
    config = tiny_config("gan", eval_samples=50, eval_valid_points=60, eval_sigma_points=20)
    trainer = Trainer(config, tmp_path, splits, progress=False,
                      backend=nn.get_backend("numpy", dtype="float64", seed=0))
    ll, sigma = trainer.validation_ll()
    from cgan.experiments.mnist.train import generate

    noise = trainer.backend.with_seed(config.seed + 2_000_003)  # the validation stream
    samples = trainer.backend.to_numpy(generate(trainer.pair, trainer.backend, noise, config, n=50))
    valid = np.asarray(splits.valid_x[:60], np.float64)
    sigmas = np.logspace(-1, 0, 10)
    on_first = [brute_force(samples, valid[:20], s).mean() for s in sigmas]
    best = sigmas[int(np.argmax(on_first))]
    assert sigma == pytest.approx(best)
    assert ll == pytest.approx(brute_force(samples, valid, best).mean(), abs=1e-6)


# -- cgan sample --npz -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from cgan.experiments.mnist.train import train

    root = tmp_path_factory.mktemp("npz-runs")
    splits = fake_mnist()
    for model in ("cgan", "gan"):
        train(tiny_config(model, epochs=1), root / model, splits, progress=False)
    return root


@pytest.mark.parametrize("model, label, labels", [
    ("cgan", None, np.arange(25) % 10), ("cgan", "4", np.full(25, 4)), ("gan", None, np.full(25, -1)),
])
def test_sample_npz_writes_raw_samples_and_labels(runs, tmp_path, model, label, labels):
    from cgan.cli import main

    out = tmp_path / "s.npz"
    argv = ["sample", str(runs / model), "-n", "25", "--npz", str(out)] + (["--label", label] if label else [])
    assert main(argv) == 0
    assert not (tmp_path / "samples.png").exists()
    with np.load(out) as f:
        x, y = f["x"], f["y"]
    assert x.shape == (25, 784) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_array_equal(y, labels)
    assert y.dtype == np.int64


def test_generator_dropout_samples_as_in_training(runs, tmp_path):
    """--generator-dropout runs G as in training: with dropout in G (the tiny conditional
    default run keeps 0.5 of its last hidden layer) the samples change and are
    reproducible; without dropout in G (the unconditional one) nothing changes."""
    from cgan.cli import main

    def draw(model, *flags):
        out = tmp_path / f"{model}{len(flags)}{len(list(tmp_path.iterdir()))}.npz"
        assert main(["sample", str(runs / model), "-n", "20", "--npz", str(out), *flags]) == 0
        with np.load(out) as f:
            return f["x"]

    plain, dropped, again = draw("cgan"), draw("cgan", "--generator-dropout"), draw("cgan", "--generator-dropout")
    assert not np.allclose(plain, dropped)
    np.testing.assert_array_equal(dropped, again)
    np.testing.assert_array_equal(draw("gan"), draw("gan", "--generator-dropout"))
