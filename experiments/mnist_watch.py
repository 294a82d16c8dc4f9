"""Follow training runs: score each new epoch's checkpoint on validation data.

Whenever a run's ``latest.npz`` holds an epoch not yet scored, this measures it as
experiments/mnist_ablation.py does (validation Parzen from the run's metrics, label
accuracy, Frechet distance to the validation images, spread, isolated bright pixels) and
appends the record to RUN/watch.jsonl. It never touches the test set, so its curves can
choose epochs.

    nice -n 10 python experiments/mnist_watch.py runs/mnist-cgan-original-gdrop-s0 runs/mnist-gan-original-s0
    python experiments/mnist_watch.py RUN --once      # score the latest checkpoint and stop
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mnist_ablation import measure  # noqa: E402


def latest_epoch(run: Path):
    from nn.checkpoint import CheckpointError, load

    try:
        _, meta = load(run / "latest.npz")
    except CheckpointError:
        return None  # being written, or not yet there
    return int(meta["epoch"])


def scored(run: Path) -> set[int]:
    log = run / "watch.jsonl"
    return {json.loads(x)["epoch"] for x in log.read_text().splitlines() if x.strip()} if log.exists() else set()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--once", action="store_true")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between looks")
    args = parser.parse_args(argv)
    import nn
    from cgan.data.mnist import load_mnist

    splits = load_mnist(progress=False)
    backend = nn.get_backend("numpy", seed=0)
    while True:
        for run in args.runs:
            epoch = latest_epoch(run)
            if epoch is None or epoch in scored(run):
                continue
            try:
                result = measure(run, splits, backend)
            except StopIteration:  # metrics.jsonl not yet written for this checkpoint
                continue
            with open(run / "watch.jsonl", "a") as f:
                f.write(json.dumps(result) + "\n")
            print(run.name, json.dumps(result), flush=True)
        if args.once:
            return
        time.sleep(args.every)


if __name__ == "__main__":
    main()
