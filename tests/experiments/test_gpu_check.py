"""The GPU check's report reads the benchmark's JSON as `cgan bench` writes it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from cgan.experiments.mnist.bench import summarize

ROOT = Path(__file__).resolve().parents[2]


def load_gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "experiments" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_report_shows_the_benchmark_figures():
    gpu_check = load_gpu_check()
    ours, theirs = [1.0, 1.2, 1.1], [0.5, 0.6, 0.55]
    entry = {"ours_ms": summarize(ours), "torch_ms": summarize(theirs),
             "ratio_ours_over_torch": summarize([a / b for a, b in zip(ours, theirs)])}
    report = {"date": "2026-12-02 12:00", "seconds": 400.0,
              "versions": {"device": "NVIDIA H200", "gpu": "NVIDIA H200, 550.0, 143771 MiB"},
              "steps": {"tests_cupy": {"summary": "600 passed", "seconds": 100, "exit": 0},
                        "bench": {"result": {"models": {"cgan": entry, "gan": {
                            "ours_ms": summarize([2.0]), "torch_note": "PyTorch is not installed"}}}},
                        "fused": {"result": {"backend": "cupy", "rows": {
                            "whole conditional iteration (median of rounds)": {"fused": 1.5, "plain": 2.0}}}},
                        "train_original": {"median_train_seconds_per_epoch": 2.0, "ms_per_iteration": 4.0,
                                           "projected_300_epochs_minutes": 10.0,
                                           "eval": {"seconds": 3, "result": {"parzen_ll": 1.0,
                                                                            "label_accuracy": {"overall": 0.5}}}}}}
    text = gpu_check.markdown(report)
    assert "NVIDIA H200" in text
    assert "bench cgan: ours 1.100 ms per iteration, PyTorch CUDA 0.550 ms, ours / PyTorch 2.00" in text
    assert "bench gan: ours 2.000 ms per iteration, PyTorch: PyTorch is not installed" in text
    assert "300 epochs projected 10.0 min" in text
    assert ("one-kernel updates, whole conditional iteration (median of rounds): 1.500 ms against "
            "2.000 ms with the array expressions") in text


def test_a_rehearsal_on_the_cpu_says_so():
    gpu_check = load_gpu_check()
    report = {"date": "2026-12-03 13:00", "seconds": 900.0, "backend": "numpy",
              "versions": {"gpu": None, "cupy_error": "ModuleNotFoundError('cupy')"},
              "steps": {"tests_cupy": {"summary": "650 passed", "seconds": 80, "exit": 0}}}
    text = gpu_check.markdown(report)
    assert text.startswith("# GPU check rehearsed on the CPU (numpy backend), 2026-12-03 13:00")
    assert "- tests on NumPy: 650 passed (80 s, exit 0)" in text
    assert "bench" not in text  # not run yet: no line


def test_the_steps_fit_eight_minutes():
    limits = load_gpu_check().LIMITS
    assert limits["tests"] + limits["bench"] + limits["fused"] + 2 * (limits["train"] + limits["eval"]) <= 480


def test_mnist_missing_from_the_data_dir_stops_before_any_step(tmp_path, capsys):
    """Nothing is downloaded on the GPU machine: a data directory without the four files is
    refused at once, by name."""
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"")
    code = load_gpu_check().main(["--data-dir", str(tmp_path), "--out", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert "lacks train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte" in err
    assert not (tmp_path / "out" / "gpu-check.json").exists()
