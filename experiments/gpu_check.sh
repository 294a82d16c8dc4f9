#!/usr/bin/env bash
# The GPU check (experiments/gpu_check.py): CuPy tests, the quick benchmark, timed training
# epochs and their evaluation, and one report, in under about 8 minutes. Needs CUDA and
# CuPy (cupy-cuda12x or cupy-cuda13x) already installed; PyTorch is optional. No network,
# no pip install: it runs from this source tree.
#
#   experiments/gpu_check.sh [--data-dir DIR] [--out DIR] [--epochs N]
#
# MNIST: DIR holds the four IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte,
# t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, or their .gz). To bring them to a machine
# without network, copy them from ~/.cache/cgan-numpy/mnist into data/mnist/ in the
# checkout (ignored by git) and pass --data-dir data/mnist.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec python3 experiments/gpu_check.py "$@"
