"""The convolutional nets in the MNIST experiment: presets, the run directory, an exact
resume (BatchNorm's running statistics included), the Wasserstein critic without
BatchNorm, and `cgan train/eval/sample` on tiny synthetic data."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nn
from cgan.cli import main
from cgan.core.steps import BCE, Wasserstein
from cgan.experiments.mnist.config import resolve_config
from cgan.experiments.mnist.evaluate import evaluate_run, interpolation_figures, sample_to_png
from cgan.experiments.mnist.train import Trainer, load_pair, resume_config, train

from .test_train import fake_mnist


def dcgan_config(model="cdcgan", **overrides):
    values = dict(epochs=2, eval_samples=100, eval_valid_points=100, width_scale=0.1)
    values.update(overrides)
    return resolve_config(model, "default", **values)


def test_presets():
    for model in ("dcgan", "cdcgan"):
        c = resolve_config(model)
        assert (c.optimizer, c.lr, c.beta1, c.lr_decay, c.batch_size, c.noise) == \
            ("adam", 2e-4, 0.5, 1.0, 64, "gaussian")
        assert (c.d_input_keep, c.d_hidden_keep, c.g_hidden_keep) == (1.0, 1.0, 1.0)
        assert c.conditional == (model == "cdcgan")
        # the conditional D reads the label by projection, and trains 10 epochs
        assert (c.d_condition, c.epochs) == (("projection", 10) if model == "cdcgan" else ("planes", 5))
        assert resolve_config(model, "paper").d_condition == "planes"
        assert c.model_config().d_batchnorm
        # BatchNorm in D: the real and the generated rows in separate passes
        assert c.objective() == BCE(saturating=False, one_pass=False)
        paper = resolve_config(model, "paper")
        assert (paper.batch_size, paper.noise, paper.optimizer, paper.lr) == (128, "uniform_pm1", "adam", 2e-4)
        wgan = resolve_config(model, loss="wasserstein")
        assert (wgan.optimizer, wgan.lr, wgan.clip, wgan.k_steps, wgan.batch_size) == \
            ("rmsprop", 5e-5, 0.01, 5, 64)
        assert not wgan.model_config().d_batchnorm and wgan.objective() == Wasserstein(clip=0.01)
    assert resolve_config("cgan").objective().one_pass  # the MLPs keep their one pass
    with pytest.raises(ValueError, match="original preset: choose one of cgan, gan"):
        resolve_config("dcgan", "original")
    with pytest.raises(ValueError, match="no dropout"):
        resolve_config("dcgan", d_hidden_keep=0.5)
    assert resolve_config("cdcgan", d_condition="projection").model_config().d_condition == "projection"
    for model in ("dcgan", "cgan"):
        with pytest.raises(ValueError, match="conditional DCGAN \\(model cdcgan\\) only"):
            resolve_config(model, d_condition="projection")
    # the WGAN code's critic: BatchNorm kept (DCGANs only), its critic schedule (WGAN only)
    code = resolve_config("cdcgan", loss="wasserstein", critic_batchnorm=True, critic_warmup=True)
    assert code.model_config().d_batchnorm and code.critic_warmup
    with pytest.raises(ValueError, match="critic_batchnorm applies to the Wasserstein loss on the DCGAN"):
        resolve_config("cgan", loss="wasserstein", critic_batchnorm=True)
    with pytest.raises(ValueError, match="critic_batchnorm applies"):
        resolve_config("cdcgan", critic_batchnorm=True)
    with pytest.raises(ValueError, match="critic_warmup applies to the Wasserstein loss only"):
        resolve_config("cdcgan", critic_warmup=True)


@pytest.mark.parametrize("model", ["dcgan", "cdcgan"])
def test_run_directory_and_batchnorm_buffers_in_the_checkpoint(tmp_path, model):
    run = tmp_path / "run"
    summary = train(dcgan_config(model), run, fake_mnist(), progress=False)
    assert summary["epochs"] == 2
    assert json.loads((run / "config.json").read_text())["model"] == model
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(m[k]) for m in metrics for k in ("d_loss", "g_loss", "valid_ll"))
    saved = np.load(run / "latest.npz").files
    for group in ("generator", "discriminator"):  # BatchNorm's buffers are saved with the weights
        assert [k for k in saved if k.startswith(group) and k.endswith("running_mean")], group
    # the running statistics moved away from their initial 0 and 1
    _, pair, _ = load_pair(run, nn.get_backend("numpy"), "latest")
    assert all(np.any(v != (1.0 if k.endswith("var") else 0.0)) for k, v in pair.generator.buffers.items())
    assert (run / "samples" / "epoch_002.png").exists() and (run / "best.npz").exists()


@pytest.mark.parametrize("model, loss, d_condition", [("cdcgan", "bce", "planes"), ("dcgan", "bce", "planes"),
                                                     ("cdcgan", "wasserstein", "planes"),
                                                     ("cdcgan", "bce", "projection")])
def test_resume_is_bit_exact(tmp_path, model, loss, d_condition):
    """Two epochs straight, or one then a resume: the same parameters, BatchNorm buffers,
    optimiser state and epoch records, bit for bit."""
    splits = fake_mnist()
    extra = dict(loss=loss, batch_size=50, k_steps=2) if loss == "wasserstein" else {}
    extra["d_condition"] = d_condition
    train(dcgan_config(model, epochs=2, **extra), tmp_path / "straight", splits, progress=False)
    train(dcgan_config(model, epochs=1, **extra), tmp_path / "resumed", splits, progress=False)
    train(resume_config(tmp_path / "resumed", epochs=2), tmp_path / "resumed", splits, resume=True,
          progress=False)
    state = [np.load(tmp_path / d / "latest.npz") for d in ("straight", "resumed")]
    assert state[0].files == state[1].files
    assert any("running_mean" in k for k in state[0].files)
    for key in state[0].files:
        if key.startswith(("generator/", "discriminator/", "g_opt/", "d_opt/")):
            np.testing.assert_array_equal(state[0][key], state[1][key], err_msg=key)
    strip = lambda m: {k: v for k, v in m.items() if "seconds" not in k}  # noqa: E731
    lines = [[strip(json.loads(x)) for x in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
             for d in ("straight", "resumed")]
    assert lines[0] == lines[1] and len(lines[0]) == 2


def test_wasserstein_critic_has_no_batchnorm_and_is_clipped(tmp_path):
    trainer = Trainer(dcgan_config("dcgan", loss="wasserstein", batch_size=50, k_steps=2), tmp_path,
                      fake_mnist(), progress=False)
    d = trainer.pair.discriminator
    assert not any(isinstance(layer, nn.BatchNorm) for layer in d.layers) and not d.buffers
    trainer.train_epoch()
    assert trainer.opt.d.updates == 6 and trainer.opt.g.updates == 3
    assert max(float(np.abs(p).max()) for p in d.params.values()) <= np.float32(0.01)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("dcgan-runs")
    splits = fake_mnist()
    for model in ("cdcgan", "dcgan"):
        train(dcgan_config(model, epochs=1), root / model, splits, progress=False)
    return root, splits


def test_eval_sample_and_interpolate_a_conditional_run(runs, tmp_path):
    root, splits = runs
    b = nn.get_backend("numpy")
    result = evaluate_run(root / "cdcgan", b, splits, n_samples=100, data_dir=tmp_path, progress=False)
    assert {"parzen_ll", "frechet_distance", "label_accuracy"} <= set(result)
    assert result["model"] == "cdcgan"
    assert sample_to_png(root / "cdcgan", b, label=3, n=9, output=tmp_path / "s.png").exists()
    out = interpolation_figures(root / "cdcgan", b, output=tmp_path / "i.png", rows=2, steps=4)
    assert out["labels_grid"].shape == (2, 10, 784) and out["interpolation_grid"].shape == (10, 4, 784)
    assert main(["sample", str(root / "cdcgan"), "--interpolate", "-o", str(tmp_path / "c.png")]) == 0
    assert main(["sample", str(root / "dcgan"), "-n", "4", "-o", str(tmp_path / "u.png")]) == 0


def test_label_on_an_unconditional_dcgan_is_an_error(runs, capsys, tmp_path):
    root, _ = runs
    assert main(["sample", str(root / "dcgan"), "--label", "3", "-o", str(tmp_path / "x.png")]) == 1
    assert "needs a conditional (cgan or cdcgan) run" in capsys.readouterr().err


def test_cli_trains_a_dcgan(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("cgan.cli._load_mnist", lambda *args: fake_mnist())
    out = tmp_path / "run"
    assert main(["train", "mnist", "--model", "cdcgan", "--epochs", "1", "--out", str(out),
                 "--eval-samples", "100", "--eval-valid-points", "100", "--train-limit", "128",
                 "--quiet"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["model"], config["optimizer"], config["batch_size"]) == ("cdcgan", "adam", 64)
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert record["updates"] == 2
