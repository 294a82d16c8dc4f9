"""Guard: model array math goes through the backend's xp, never `numpy` directly.

Only nn/backend.py imports CuPy, and only the modules listed in ALLOWED_NUMPY import
NumPy (the backend itself, and plain file I/O). Everything else reaches NumPy or CuPy
through a Backend (``backend.xp``) or ``nn.backend.array_module``, so the same code runs
on both.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("nn", "cgan")

# module path -> why it may import numpy
ALLOWED_NUMPY = {
    "nn/backend.py": "the backend: wraps numpy as an array module",
    "nn/blas.py": "the NumPy backend's products and in-place updates on SciPy's BLAS; every "
                  "other array (CuPy included) gets the xp expression",
    "nn/checkpoint.py": "file I/O: reads and writes .npz on the host",
    "cgan/data/mnist.py": "file I/O: reads IDX files and splits them on the host",
    "cgan/data/mirflickr.py": "file I/O: reads the list files and the features .npz on the host",
    "cgan/evaluation/plots.py": "figures: arranges host copies of samples for matplotlib",
    "cgan/evaluation/metrics.py": "host linear algebra: scipy's matrix square root for the Frechet distance",
    "cgan/experiments/mnist/bench_parzen.py": "benchmark: the float64 brute force and the original "
                                              "code's approach, on the host",
}
ALLOWED_CUPY = {"nn/backend.py"}


def imported_modules(source: str) -> set[str]:
    """Top-level names of every module imported anywhere in the source (functions too)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            if node.args and isinstance(node.args[0], ast.Constant):
                names.add(str(node.args[0].value).split(".")[0])
    return names


def violations() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            modules = imported_modules(path.read_text())
            if "numpy" in modules and rel not in ALLOWED_NUMPY:
                found.append(f"{rel} imports numpy: use backend.xp (or nn.backend.array_module)")
            if "cupy" in modules and rel not in ALLOWED_CUPY:
                found.append(f"{rel} imports cupy: only nn/backend.py may")
    return found


def test_only_the_backend_and_file_io_import_numpy():
    assert violations() == []


def test_the_allowed_modules_exist():
    for rel in ALLOWED_NUMPY:
        assert (ROOT / rel).exists(), f"stale allowance: {rel}"



@pytest.mark.parametrize("source", [
    "import numpy as np",
    "import numpy.linalg",
    "from numpy import zeros",
    "def f():\n    import numpy\n    return numpy.zeros(3)",
    "np = __import__('numpy')",
])
def test_the_guard_sees_every_way_of_importing(source):
    assert "numpy" in imported_modules(source)


def test_the_guard_ignores_relative_and_other_imports():
    assert "numpy" not in imported_modules("from .backend import array_module\nimport numbers")
