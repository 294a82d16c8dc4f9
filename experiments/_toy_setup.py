"""The set-up shared by the small minimax experiments (experiments/minimax_*.py,
experiments/mode_collapse.py). Import it first, before NumPy or matplotlib:

* one BLAS thread (the matrices are tiny: threads only contend, and the thread count
  changes the order of sums and so the trajectory of an adversarial run, docs/minimax.md);
* matplotlib's file-only Agg backend;
* the repository root on the import path, so `cgan` imports from a source checkout.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def parser(doc: str, figure: str) -> argparse.ArgumentParser:
    """An argument parser described by the script's docstring, with ``--out`` (default
    docs/figures/FIGURE)."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--out", default=str(ROOT / "docs" / "figures" / figure))
    return p
