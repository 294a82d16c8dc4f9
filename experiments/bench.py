"""``cgan bench`` from a source checkout: ``python experiments/bench.py [OPTIONS]``.

The benchmark is cgan.experiments.mnist.bench, its options are cgan/cli.py's (``cgan bench
--help``); docs/performance.md describes what it measures.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cgan.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
