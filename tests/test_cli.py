"""The `cgan` command line: the demo, and clean errors instead of tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cgan.cli import main


def test_demo_learns_the_data_mean(capsys):
    assert main(["demo", "--steps", "1500", "--seed", "0", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert abs(result["generated_mean"] - result["data_mean"]) < 0.5
    assert 0.3 < result["d_real"] < 0.7 and 0.3 < result["d_fake"] < 0.7


def test_demo_text_output(capsys):
    assert main(["demo", "--steps", "20"]) == 0
    out = capsys.readouterr().out
    assert "generated  mean" in out and "backend numpy, seed 0, 20 steps" in out


@pytest.mark.parametrize("argv, message", [
    (["demo", "--steps", "0"], "expected a positive integer"),
    (["demo", "--steps", "many"], "expected a positive integer"),
    (["demo", "--backend", "torch"], "invalid choice"),
    (["fly"], "invalid choice"),
    ([], "required"),
])
def test_bad_arguments_are_usage_errors(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "usage:" in err and "Traceback" not in err


def test_cupy_backend_without_cupy_is_a_clear_error():
    import nn

    if "cupy" in nn.available_backends():
        pytest.skip("CuPy and a GPU are present here")
    proc = subprocess.run([sys.executable, "-m", "cgan", "demo", "--backend", "cupy", "--steps", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "cgan: error:" in proc.stderr and "pip install" in proc.stderr


def test_every_subcommand_is_defined_by_the_cli():
    from cgan.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == {"demo", "train", "eval", "sample", "bench", "train-tagging",
                                "eval-tagging", "tag", "features"}


def test_train_help_describes_the_default_preset(capsys):
    with pytest.raises(SystemExit):
        main(["train", "mnist", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert ("default: the original configuration for 30 epochs, with dropout in the conditional "
            "generator and none on the discriminator's image input (about 8.5 minutes on a 2-core "
            "CPU)") in out


def test_features_without_the_extra_is_a_clear_error(tmp_path):
    """`cgan features ...` and the documented `python -m cgan.features ...` are one command."""
    import importlib.util

    if importlib.util.find_spec("efficientnet_lite_pytorch") is not None:
        pytest.skip("the features extra is installed here")
    for command in (["-m", "cgan", "features"], ["-m", "cgan.features"]):
        proc = subprocess.run([sys.executable, *command, str(tmp_path / "photo.jpg")],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and "pip install 'cgan-numpy[features]'" in proc.stderr


@pytest.mark.parametrize("argv, message", [
    (["demo", "--seed", "-1"], "expected a non-negative integer"),
    (["train", "mnist", "--lr", "0"], "expected a positive number"),
    (["train", "mnist", "--lr", "inf"], "expected a positive number"),
    (["train", "mnist", "--clip", "nan"], "expected a positive number"),
    (["train", "mnist", "--seed", "-1"], "expected a non-negative integer"),
    (["train", "mnist", "--batch-size", "0"], "expected a positive integer"),
    (["eval", "RUN", "--samples", "0"], "expected a positive integer"),
    (["eval", "RUN", "--sigma-points", "-4"], "expected a positive integer"),
    (["sample", "RUN", "-n", "0"], "expected a positive integer"),
    (["sample", "RUN", "--seed", "x"], "expected a non-negative integer"),
    (["sample", "RUN", "-o", "out.jpg"], "only PNG images are written"),
    (["bench", "--rounds", "0"], "expected a positive integer"),
    (["bench", "--pause", "-1"], "expected a non-negative number"),
    (["features", "verify", "--limit", "0"], "expected a positive integer"),
])
def test_every_command_validates_its_numbers(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_batch_larger_than_the_training_set_is_refused_before_anything_is_made(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "mnist", "--out", str(out), "--train-limit", "300", "--batch-size", "500",
                 "--quiet"]) == 1
    assert "--batch-size 500 is larger than the 300 training images" in capsys.readouterr().err
    assert not out.exists()
