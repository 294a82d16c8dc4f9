"""The tagging commands' error paths (docs/reliability.md): every one a message, never a
traceback; runs record absolute paths and older runs' relative ones are found from any
directory; an interrupted first epoch restarts with the same command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import nn
from cgan.cli import main
from cgan.core.run import FINISHED, run_status
from cgan.experiments.tagging import train as tagging_train
from cgan.experiments.tagging.config import make_config
from cgan.experiments.tagging.data import prepare_data
from cgan.models.wordvec import save_word2vec

from ...golden.runs import mirflickr_like


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A checkout-like tree: data/ (MIR Flickr, faked: the loader below is given the tiny
    dataset), runs/wordvec/vec.txt; the loader checks the paths it is given exist."""
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    dataset, vectors = mirflickr_like()
    save_word2vec(root / "runs" / "wordvec" / "vec.txt", dataset.vocab, vectors)

    def load_data(config, backend, stream=None):
        assert Path(config.data_dir).is_dir(), config.data_dir
        assert Path(config.vectors).is_file(), config.vectors
        return prepare_data(dataset, vectors, config.condition, backend, split_seed=config.split_seed)

    monkeypatch.setattr(tagging_train, "load_data", load_data)
    return root


TINY = ["--epochs", "1", "--quiet"]


def _config_tiny(monkeypatch):
    """make_config with tiny networks and few samples, whatever the command line says."""
    original = make_config

    def tiny(condition="features", **overrides):
        return original(condition, **overrides, width_scale=0.05, n_samples=5, k_nearest=3)

    monkeypatch.setattr("cgan.experiments.tagging.config.make_config", tiny)


def test_missing_word_vectors_are_a_message_before_anything_is_made(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train-tagging", "--condition", "labels", "--vectors", str(tmp_path / "none.txt"),
                 "--data-dir", str(tmp_path), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"cgan: error: word vectors {tmp_path / 'none.txt'}: no such file")
    assert "python experiments/train_wordvec.py" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("argv, message", [
    (["train-tagging", "--lr", "-1"], "expected a positive number"),
    (["train-tagging", "--lr", "nan"], "expected a positive number"),
    (["train-tagging", "--epochs", "0"], "expected a positive integer"),
    (["train-tagging", "--seed", "-2"], "expected a non-negative integer"),
    (["eval-tagging", "RUN", "--backend", "gpu"], "invalid choice"),
])
def test_bad_numbers_are_usage_errors(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_cupy_without_cupy_is_a_message(tmp_path, capsys):
    if "cupy" in nn.available_backends():
        pytest.skip("CuPy and a GPU are present here")
    for argv in (["train-tagging", "--backend", "cupy", "--out", str(tmp_path / "r")],
                 ["eval-tagging", str(tmp_path), "--backend", "cupy"],
                 ["tag", "photo.jpg", "--run", str(tmp_path), "--backend", "cupy"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        err = capsys.readouterr().err
        assert info.value.code == 2 and err.startswith("cgan: error:") and "CuPy" in err
    assert not (tmp_path / "r").exists()


def test_an_interrupted_first_epoch_restarts_and_a_finished_run_is_kept(project, monkeypatch, capsys):
    _config_tiny(monkeypatch)
    monkeypatch.chdir(project)
    out = project / "runs" / "tag"
    argv = ["train-tagging", "--vectors", "runs/wordvec/vec.txt", "--data-dir", "data", "--out", str(out), *TINY]
    original = tagging_train.TaggingRun.train_epoch

    def interrupted(self, epochs=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(tagging_train.TaggingRun, "train_epoch", interrupted)
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert f"cgan: interrupted; {out} was started but stopped before its first checkpoint" in err
    # tagging runs resume, so both ways on are offered
    assert "rerun the same command" in err and f"--out {out} --resume" in err
    assert main(["eval-tagging", str(out)]) == 1
    assert "has no checkpoint yet" in capsys.readouterr().err

    monkeypatch.setattr(tagging_train.TaggingRun, "train_epoch", original)
    assert main(argv) == 0                                    # the same command, no delete
    assert run_status(out).state == FINISHED
    config = json.loads((out / "config.json").read_text())
    assert config["vectors"] == str(project / "runs" / "wordvec" / "vec.txt")   # recorded absolute
    assert config["data_dir"] == str(project / "data")
    assert main(argv) == 1
    assert (f"{out} already exists and is finished (1 of 1 epochs); to train it longer pass --resume "
            "with --epochs above 1, or choose another --out") in capsys.readouterr().err


def test_a_run_with_relative_paths_is_evaluated_from_another_directory(project, tmp_path, monkeypatch, capsys):
    """Runs of earlier versions recorded the paths as given, relative to where they were trained."""
    dataset, vectors = mirflickr_like()
    config = make_config("features", epochs=1, width_scale=0.05, n_samples=5, k_nearest=3,
                         data_dir="data", vectors="runs/wordvec/vec.txt")
    data = prepare_data(dataset, vectors, "features", nn.get_backend("numpy", seed=0))
    run = project / "runs" / "old"
    tagging_train.train_tagging(config, run, data=data, progress=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["eval-tagging", str(run)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert 0.0 <= result["precision@10"] <= 1.0
