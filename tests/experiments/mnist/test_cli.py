"""`cgan train/eval/sample`: end to end on tiny synthetic data, and their error paths."""

from __future__ import annotations

import json

import matplotlib.image
import pytest

import nn
from cgan.cli import main
from cgan.experiments.mnist.evaluate import evaluate_run, sample_to_png
from cgan.experiments.mnist.train import train

from .test_train import fake_mnist, tiny_config


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    splits = fake_mnist()
    for model in ("cgan", "gan"):
        train(tiny_config(model, epochs=1), root / model, splits, progress=False)
    return root, splits


def test_evaluate_run_writes_eval_json_and_figure(runs, tmp_path):
    root, splits = runs
    b = nn.get_backend("numpy")
    result = evaluate_run(root / "cgan", b, splits, n_samples=100, data_dir=tmp_path, progress=False)
    for key in ("parzen_ll", "parzen_std_error", "parzen_sigma", "frechet_distance", "label_accuracy"):
        assert key in result
    assert len(result["label_accuracy"]["per_class"]) == 10
    assert json.loads((root / "cgan" / "eval.json").read_text())["parzen_ll"] == result["parzen_ll"]
    assert matplotlib.image.imread(root / "cgan" / "figure2.png").shape[0] > 200
    assert (tmp_path / "mnist-classifier-v1.npz").exists()  # the classifier is cached


def test_sample_writes_a_png(runs, tmp_path):
    root, _ = runs
    b = nn.get_backend("numpy")
    out = sample_to_png(root / "cgan", b, label=7, n=16, output=tmp_path / "s.png")
    assert matplotlib.image.imread(out).shape[0] > 100
    assert main(["sample", str(root / "gan"), "-n", "9", "-o", str(tmp_path / "g.png")]) == 0


def test_sample_label_on_an_unconditional_run_is_an_error(runs, capsys, tmp_path):
    root, _ = runs
    assert main(["sample", str(root / "gan"), "--label", "3", "-o", str(tmp_path / "x.png")]) == 1
    assert "needs a conditional (cgan or cdcgan) run" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["sample", "RUN", "--label", "12"], "expected a digit 0-9"),
    (["train", "cifar"], "invalid choice"),
    (["train", "mnist", "--epochs", "-3"], "expected a positive integer"),
    (["train", "mnist", "--g-dropout-keep", "1.5"], "expected a probability"),
    (["eval"], "required"),
])
def test_usage_errors(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_run_dir_errors_are_messages_not_tracebacks(runs, capsys, tmp_path):
    root, _ = runs
    assert main(["sample", str(tmp_path / "nowhere")]) == 1
    assert "no config.json" in capsys.readouterr().err
    assert main(["train", "mnist", "--out", str(root / "cgan"), "--quiet"]) == 1
    assert "already exists" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["train", "mnist", "--out", str(tmp_path / "empty"), "--resume", "--quiet"]) == 1
    assert "nothing to resume" in capsys.readouterr().err


@pytest.fixture
def real_mnist():
    """Real MNIST in the cache (fetched and verified if missing), or the test is skipped."""
    from cgan.data.mnist import MnistError, load_mnist

    try:
        load_mnist(progress=False)
    except MnistError as exc:
        pytest.skip(f"MNIST could not be fetched here: {exc}")


def test_real_mnist_smoke(real_mnist, tmp_path, capsys):
    """The real command on real MNIST (fetched and verified if missing), cut to a few batches."""
    out = tmp_path / "run"
    assert main(["train", "mnist", "--out", str(out), "--epochs", "1", "--train-limit", "300",
                 "--eval-samples", "200", "--eval-valid-points", "200", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["epochs"] == 1 and summary["best_epoch"] == 1
    assert (out / "best.npz").exists() and (out / "samples" / "epoch_001.png").exists()


@pytest.mark.parametrize("spherical", [False, True])
def test_sample_interpolate_writes_both_grids(runs, tmp_path, spherical):
    import numpy as np

    from cgan.experiments.mnist.evaluate import interpolation_figures
    from cgan.experiments.mnist.train import load_pair

    root, _ = runs
    b = nn.get_backend("numpy")
    out = interpolation_figures(root / "cgan", b, output=tmp_path / "c.png", rows=3, steps=5,
                                spherical=spherical, seed=4)
    assert out["labels_grid"].shape == (3, 10, 784)
    assert out["interpolation_grid"].shape == (10, 5, 784)
    # PNG sizes follow the grids: (rows * 30 + 2) * 2 px high plus a 24 px title, and so on
    assert matplotlib.image.imread(out["labels"]).shape[:2] == ((3 * 30 + 2) * 2 + 24, (10 * 30 + 2) * 2)
    assert matplotlib.image.imread(out["interpolation"]).shape[:2] == ((10 * 30 + 2) * 2 + 24,
                                                                        (5 * 30 + 2) * 2 + 24)
    # Seeded: the same call gives the same images; cell (r, c) of the labels grid is G(z_r, c)
    again = interpolation_figures(root / "cgan", b, output=tmp_path / "d.png", rows=3, steps=5,
                                  spherical=spherical, seed=4)
    np.testing.assert_array_equal(again["labels_grid"], out["labels_grid"])
    config, pair, _ = load_pair(root / "cgan", b)
    z = b.with_seed(4).normal((3, 100))
    y = b.xp.eye(10, dtype=b.dtype)[[7]]
    image, _ = pair.generate(z[1:2], y, train=False)
    np.testing.assert_allclose(out["labels_grid"][1, 7], image[0], rtol=1e-5, atol=1e-6)
    assert main(["sample", str(root / "cgan"), "--interpolate", "-o", str(tmp_path / "cli.png")]) == 0
    assert (tmp_path / "cli-labels.png").exists() and (tmp_path / "cli-interpolation.png").exists()


def test_interpolate_noise_paths():
    import numpy as np

    from cgan.experiments.mnist.evaluate import interpolate_noise

    z0, z1 = np.array([3.0, 0.0], dtype=np.float32), np.array([0.0, 3.0], dtype=np.float32)
    lin = interpolate_noise(z0, z1, 5)
    np.testing.assert_allclose(lin[[0, -1]], [z0, z1])
    np.testing.assert_allclose(lin[2], [1.5, 1.5])
    slerp = interpolate_noise(z0, z1, 5, spherical=True)
    assert slerp.dtype == np.float32
    np.testing.assert_allclose(slerp[[0, -1]], [z0, z1], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(slerp, axis=1), 3.0, rtol=1e-6)  # stays on the circle


def test_interpolate_on_an_unconditional_run_is_an_error(runs, capsys, tmp_path):
    root, _ = runs
    assert main(["sample", str(root / "gan"), "--interpolate", "-o", str(tmp_path / "x.png")]) == 1
    assert "needs a conditional" in capsys.readouterr().err


def test_real_mnist_wasserstein_smoke(real_mnist, tmp_path, capsys):
    """`cgan train mnist --loss wasserstein` with its options, on real MNIST cut to a few batches."""
    out = tmp_path / "wgan"
    assert main(["train", "mnist", "--loss", "wasserstein", "--n-critic", "2", "--clip", "0.05",
                 "--out", str(out), "--epochs", "1", "--train-limit", "256", "--eval-samples", "200",
                 "--eval-valid-points", "200", "--quiet"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["loss"], config["k_steps"], config["clip"], config["optimizer"], config["lr"],
            config["batch_size"]) == ("wasserstein", 2, 0.05, "rmsprop", 5e-5, 64)
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert record["updates"] == 4 and "wasserstein_estimate" in record


def test_evaluate_and_sample_a_wasserstein_run(tmp_path):
    from .test_train import wgan_config

    splits = fake_mnist()
    run = tmp_path / "wgan"
    train(wgan_config(epochs=1, batch_size=50, k_steps=2), run, splits, progress=False)
    b = nn.get_backend("numpy")
    result = evaluate_run(run, b, splits, n_samples=100, data_dir=tmp_path, progress=False)
    assert {"parzen_ll", "frechet_distance", "label_accuracy"} <= set(result)
    assert main(["sample", str(run), "--interpolate", "--rows", "2", "-o", str(tmp_path / "w.png")]) == 0
    assert (tmp_path / "w-labels.png").exists()
