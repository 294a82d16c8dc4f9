"""MNIST training runs (cgan.experiments.mnist.train) on tiny synthetic data: the run
directory, resume, the NaN guard, the configuration, the Wasserstein option."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

import nn
from cgan.core.loop import TrainingDiverged
from cgan.core.run import RunDirError
from cgan.experiments.mnist.config import resolve_config
from cgan.experiments.mnist.train import Trainer, load_pair, resume_config, train


# -- training on tiny data ------------------------------------------------------------------
def fake_mnist(n_train=300, n_valid=100, n_test=100, seed=0):
    """Blurry class prototypes plus noise: enough structure to learn from, in milliseconds."""
    rng = np.random.default_rng(seed)
    prototypes = rng.random((10, 784)) ** 3

    def make(n):
        y = rng.integers(0, 10, n)
        x = np.clip(prototypes[y] + 0.1 * rng.standard_normal((n, 784)), 0, 1).astype(np.float32)
        return x, y

    (tx, ty), (vx, vy), (sx, sy) = make(n_train), make(n_valid), make(n_test)
    return SimpleNamespace(train_x=tx, train_y=ty, valid_x=vx, valid_y=vy, test_x=sx, test_y=sy)


def tiny_config(model="cgan", **overrides):
    """The default preset on tiny data; with SGD (the papers' optimiser) unless overridden."""
    values = dict(epochs=2, eval_samples=100, eval_valid_points=100, width_scale=0.1,
                  optimizer="sgd", lr=0.1, lr_decay=1.00004)
    values.update(overrides)
    return resolve_config(model, "adam", **values)


def test_discriminator_learns(tmp_path):
    splits = fake_mnist(n_train=500)
    # The papers' U[-0.005, 0.005] discriminator needs hundreds of updates before its tiny
    # output moves; a wider initialisation shows the loop's effect within 15 updates.
    config = tiny_config(epochs=1, d_irange=0.2)
    trainer = Trainer(config, tmp_path, splits, progress=False)
    b = trainer.backend

    def d_loss():
        real = b.asarray(splits.valid_x[:100])
        y = b.xp.eye(10, dtype=b.dtype)[b.asarray(splits.valid_y[:100], dtype="int64")]
        fake, _ = trainer.pair.generate(b.uniform((100, 100)), y, train=False)
        real_logits, _ = trainer.pair.discriminate(real, y, train=False)
        fake_logits, _ = trainer.pair.discriminate(fake, y, train=False)
        return float(nn.discriminator_loss(real_logits, fake_logits)[0])

    before = d_loss()
    for _ in range(3):
        trainer.train_epoch()
        trainer.epoch += 1
    assert d_loss() < before - 0.1


@pytest.mark.parametrize("model", ["cgan", "gan"])
def test_run_directory_contents(tmp_path, model):
    run = tmp_path / "run"
    summary = train(tiny_config(model), run, fake_mnist(), progress=False)
    assert summary["epochs"] == 2
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == model and config["lr"] == 0.1
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1, 2]
    for key in ("d_loss", "g_loss", "d_real", "d_fake", "lr", "momentum", "valid_ll", "seconds"):
        assert all(np.isfinite(m[key]) for m in metrics), key
    assert metrics[1]["lr"] < metrics[0]["lr"] < 0.1
    for name in ("latest.npz", "best.npz", "curves.png", "samples/epoch_001.png",
                 "samples/epoch_002.png", "samples_over_training.png"):
        assert (run / name).stat().st_size > 0, name


def _params(path):
    b = nn.get_backend("numpy")
    _, pair, meta = load_pair(path, b, "latest")
    return {k: v.copy() for k, v in pair.generator.params.items()}, meta


@pytest.mark.parametrize("model, optimizer", [("cgan", "sgd"), ("gan", "sgd"), ("cgan", "adam")])
def test_resume_equals_uninterrupted(tmp_path, model, optimizer):
    splits = fake_mnist()
    opt = dict(optimizer=optimizer) if optimizer == "sgd" else dict(optimizer="adam", lr=2e-4, lr_decay=1.0)
    train(tiny_config(model, epochs=3, **opt), tmp_path / "straight", splits, progress=False)

    train(tiny_config(model, epochs=1, **opt), tmp_path / "resumed", splits, progress=False)
    config = resume_config(tmp_path / "resumed", epochs=3)
    train(config, tmp_path / "resumed", splits, resume=True, progress=False)

    straight, meta_a = _params(tmp_path / "straight")
    resumed, meta_b = _params(tmp_path / "resumed")
    for key in straight:
        np.testing.assert_array_equal(straight[key], resumed[key], err_msg=key)
    assert meta_a["epoch"] == meta_b["epoch"] == 3
    strip = lambda m: {k: v for k, v in m.items() if "seconds" not in k}  # noqa: E731
    lines = [[strip(json.loads(x)) for x in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
             for d in ("straight", "resumed")]
    assert lines[0] == lines[1]


def test_resume_drops_metrics_of_an_unfinished_epoch(tmp_path):
    run = tmp_path / "run"
    splits = fake_mnist()
    train(tiny_config(epochs=1), run, splits, progress=False)
    with (run / "metrics.jsonl").open("a") as f:  # as if killed after logging epoch 2
        f.write(json.dumps({"epoch": 2, "d_loss": 0.0}) + "\n")
    train(resume_config(run, epochs=2), run, splits, resume=True, progress=False)
    epochs = [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]


def test_nan_stops_with_a_message_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    run = tmp_path / "run"
    splits = fake_mnist()
    train(tiny_config(epochs=1), run, splits, progress=False)
    good = (run / "latest.npz").read_bytes()

    original = Trainer.restore

    def poisoned_restore(self, path):
        original(self, path)
        self.pair.discriminator.params["4.W"][...] = np.nan

    monkeypatch.setattr(Trainer, "restore", poisoned_restore)
    with pytest.raises(TrainingDiverged, match=r"discriminator loss became nan at epoch 2.*latest.npz \(epoch 1\)"):
        train(resume_config(run, epochs=3), run, splits, resume=True, progress=False)
    assert (run / "latest.npz").read_bytes() == good


def test_run_directory_errors(tmp_path):
    splits = fake_mnist()
    run = tmp_path / "run"
    train(tiny_config(epochs=1), run, splits, progress=False)
    with pytest.raises(RunDirError, match="already exists.*--resume"):
        train(tiny_config(epochs=1), run, splits, progress=False)
    with pytest.raises(RunDirError, match="nothing to resume"):
        resume_config(tmp_path / "empty")
    with pytest.raises(RunDirError, match="no config.json"):
        load_pair(tmp_path, nn.get_backend("numpy"))


def test_config_validation():
    with pytest.raises(ValueError, match="unknown preset"):
        resolve_config("cgan", "fast")
    with pytest.raises(ValueError, match="noise must be one of"):
        resolve_config("cgan", "adam", noise="cauchy")
    with pytest.raises(ValueError, match="keep probability"):
        resolve_config("cgan", "adam", g_hidden_keep=1.5)
    with pytest.raises(ValueError, match="optimizer must be"):
        resolve_config("cgan", "adam", optimizer="lbfgs")
    paper = resolve_config("cgan", "paper")
    assert (paper.optimizer, paper.lr, paper.lr_decay, paper.lr_min, paper.momentum_start,
            paper.momentum_end, paper.batch_size, paper.d_hidden_keep, paper.g_hidden_keep) == \
        ("sgd", 0.1, 1.00004, 1e-6, 0.5, 0.7, 100, 0.5, 0.5)
    assert resolve_config("gan", "paper").lr_decay == 1.000004


def test_training_pixels_stay_uint8_and_batches_match_the_float_splits():
    """The trainer keeps MNIST's uint8 pixels (a quarter of the memory) and scales each
    minibatch: the batch must equal the float32 split's rows exactly."""
    from cgan.data.mnist import make_splits
    from cgan.experiments.mnist.train import to_device

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(30, 28, 28), dtype=np.uint8)
    images[0, 0, :2] = (0, 255)
    labels = rng.integers(0, 10, size=30)
    splits = make_splits(images, labels, images[:5], labels[:5], n_train=20)
    config = resolve_config("cgan", "adam", eval_valid_points=10)
    data = to_device(nn.get_backend("numpy"), splits, config)
    assert data.train_x.dtype == np.uint8 and data.train_x.nbytes == 20 * 784
    idx = np.array([3, 0, 19])
    batch = data.train_batch(idx, np.dtype("float32"))
    assert batch.dtype == np.float32
    np.testing.assert_array_equal(batch, splits.train_x[idx])
    assert batch[1, 0] == 0.0 and batch[1, 1] == 1.0
    np.testing.assert_array_equal(data.valid_x, splits.valid_x)
    np.testing.assert_allclose(data.marginals, splits.train_x.mean(axis=0), rtol=1e-6)


# -- the Wasserstein GAN option ---------------------------------------------------------------
def test_wasserstein_defaults_are_the_wgan_papers():
    config = resolve_config("cgan", "adam", loss="wasserstein")
    assert (config.optimizer, config.lr, config.lr_decay, config.rms_alpha, config.clip,
            config.batch_size, config.k_steps) == ("rmsprop", 5e-5, 1.0, 0.99, 0.01, 64, 5)
    # the preset's networks stay; explicit options win over the WGAN defaults
    assert config.d_hidden_keep == resolve_config("cgan", "adam").d_hidden_keep
    assert resolve_config("cgan", "adam", loss="wasserstein", k_steps=2, clip=0.05).k_steps == 2
    assert resolve_config("cgan", "adam").loss == "bce"
    with pytest.raises(ValueError, match="loss must be one of"):
        resolve_config("cgan", "adam", loss="hinge")
    with pytest.raises(ValueError, match="bce loss only"):
        resolve_config("cgan", "adam", loss="wasserstein", g_loss="saturating")


def wgan_config(model="cgan", **overrides):
    values = dict(loss="wasserstein", batch_size=20, clip=0.02, lr=1e-3)
    values.update(overrides)
    return tiny_config(model, optimizer="rmsprop", lr_decay=1.0, **values)


@pytest.mark.parametrize("model", ["cgan", "gan"])
def test_wasserstein_run_clips_the_critic_and_logs_its_estimate(tmp_path, model):
    run = tmp_path / "run"
    config = wgan_config(model, d_irange=0.5)  # starts outside the box: clipped at once
    trainer = Trainer(config, run, fake_mnist(), progress=False)
    d = trainer.pair.discriminator
    assert max(float(np.abs(p).max()) for p in d.params.values()) <= np.float32(0.02)
    before = {k: v.copy() for k, v in d.params.items()}
    record = trainer.train_epoch()
    # 300 examples / 20 = 15 critic steps, a generator step after every 5th
    assert trainer.opt.d.updates == 15 and trainer.opt.g.updates == 3
    assert isinstance(trainer.opt.d, nn.RMSProp) and isinstance(trainer.opt.g, nn.RMSProp)
    for key, p in d.params.items():
        assert p.dtype == np.float32
        assert float(np.abs(p).max()) <= np.float32(0.02), key
    assert any(not np.array_equal(before[k], d.params[k]) for k in before)
    assert "d_real" not in record and "d_fake" not in record
    assert record["wasserstein_estimate"] == pytest.approx(record["critic_real"] - record["critic_fake"])
    assert record["d_loss"] == pytest.approx(-record["wasserstein_estimate"], rel=1e-4, abs=1e-7)


def test_wasserstein_critic_learns_to_separate(tmp_path):
    """With the generator frozen, critic steps raise E f(x) - E f(G(z)) on held-out data."""
    splits = fake_mnist(n_train=500)
    trainer = Trainer(wgan_config(epochs=1, clip=0.05), tmp_path, splits, progress=False)
    b, pair = trainer.backend, trainer.pair
    real = b.asarray(splits.valid_x[:100])
    y = b.xp.eye(10, dtype=b.dtype)[b.asarray(splits.valid_y[:100], dtype="int64")]
    fake, _ = pair.generate(b.normal((100, 100)), y, train=False)

    def estimate():
        return float(pair.discriminate(real, y, train=False)[0].mean()
                     - pair.discriminate(fake, y, train=False)[0].mean())

    from cgan.core.optim import Optimizers
    from cgan.core.steps import Minibatch, Wasserstein, discriminator_step

    before = estimate()
    for i in range(20):
        idx = b.xp.arange(i * 20, (i + 1) * 20) % 500
        x = b.asarray(splits.train_x[b.to_numpy(idx)])
        yy = b.xp.eye(10, dtype=b.dtype)[b.asarray(splits.train_y[b.to_numpy(idx)], dtype="int64")]
        discriminator_step(pair, Optimizers(d=trainer.opt.d), Minibatch(x, yy, b.normal((20, 100)), yy),
                           Wasserstein(clip=0.05))
    assert estimate() > before + 1e-3


def test_wasserstein_resume_equals_uninterrupted(tmp_path):
    splits = fake_mnist()
    fast = dict(batch_size=50, k_steps=2)
    train(wgan_config(epochs=2, **fast), tmp_path / "straight", splits, progress=False)
    train(wgan_config(epochs=1, **fast), tmp_path / "resumed", splits, progress=False)
    train(resume_config(tmp_path / "resumed", epochs=2), tmp_path / "resumed", splits, resume=True,
          progress=False)
    straight, meta_a = _params(tmp_path / "straight")
    resumed, meta_b = _params(tmp_path / "resumed")
    for key in straight:
        np.testing.assert_array_equal(straight[key], resumed[key], err_msg=key)
    state = [np.load(tmp_path / d / "latest.npz") for d in ("straight", "resumed")]
    keys = [k for k in state[0].files if k.startswith("d_opt/square_avg.")]
    assert keys
    for k in keys:
        np.testing.assert_array_equal(state[0][k], state[1][k], err_msg=k)
    assert meta_a["config"]["loss"] == "wasserstein" and meta_a["epoch"] == meta_b["epoch"] == 2
    strip = lambda m: {k: v for k, v in m.items() if "seconds" not in k}  # noqa: E731
    lines = [[strip(json.loads(x)) for x in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
             for d in ("straight", "resumed")]
    assert lines[0] == lines[1] and "wasserstein_estimate" in lines[0][-1]
    assert (tmp_path / "resumed" / "curves.png").stat().st_size > 0
