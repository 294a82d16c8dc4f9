"""Benchmark of the Parzen-window protocol on MNIST-sized data (cgan.experiments.mnist.bench_parzen).

    python3 experiments/bench_parzen.py                    # numpy, 10,000 x 10,000 x 10,000
    python3 experiments/bench_parzen.py --backend cupy
    python3 experiments/bench_parzen.py --n 2000 --check 200 --repeat 1   # a quick look

What it measures and prints: see cgan/experiments/mnist/bench_parzen.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cgan.experiments.mnist.bench_parzen import run  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("numpy", "cupy"), default="numpy")
    parser.add_argument("--n", type=int, default=10_000, help="centres and test points (10,000)")
    parser.add_argument("--n-valid", type=int, default=None, help="validation points (default --n)")
    parser.add_argument("--check", type=int, default=500, help="test points checked by brute force")
    parser.add_argument("--original-points", type=int, default=20,
                        help="points timed with the original approach (one sigma)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing; the best is shown")
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                        help="before each timed run wait up to this long for idle CPUs (a "
                             "shared machine); the output says if it never came")
    parser.add_argument("--json", default=None, help="also write the key figures to this JSON file")
    args = parser.parse_args(argv)
    return run(backend=args.backend, n=args.n, n_valid=args.n_valid, check=args.check,
               original_points=args.original_points, repeat=args.repeat, chunk_size=args.chunk_size,
               seed=args.seed, wait_idle=args.wait_idle, json_path=args.json)


if __name__ == "__main__":
    sys.exit(main())
