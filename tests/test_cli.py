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
