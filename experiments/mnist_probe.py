"""Short conditional-MNIST runs that measure mode collapse (docs/mnist.md, "Probes").

Trains the exact conditional networks for a few epochs on the first TRAIN_LIMIT training
images with the default preset plus JSON overrides, and after each epoch prints the
losses and two spreads of 1,000 samples (100 per label, fixed noise): the per-pixel
standard deviation within a label (real MNIST: about 0.3) and across the 10 label means.

    OPENBLAS_NUM_THREADS=1 python experiments/mnist_probe.py '{"noise": "uniform_pm1", "optimizer": "sgd", "lr": 0.1}' 6
"""

from __future__ import annotations

import json
import sys

from cgan.data.mnist import load_mnist
from cgan.evaluation import plots
from cgan.experiments.mnist.config import resolve_config
from cgan.experiments.mnist.train import Trainer, evaluation_labels, generate


def spreads(trainer, config):
    b = trainer.backend
    labels = evaluation_labels(b, 1000)
    x = generate(trainer.pair, b, b.with_seed(5), config, labels=labels).reshape(10, 100, 784)
    return round(float(x.std(axis=1).mean()), 4), round(float(x.mean(axis=1).std(axis=0).mean()), 4)


def main() -> None:
    overrides = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    train_limit = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000
    config = resolve_config("cgan", "default", train_limit=train_limit, **overrides)
    trainer = Trainer(config, "runs/probe", load_mnist(progress=False), progress=False)
    print("init", "spread within, across labels:", spreads(trainer, config), flush=True)
    for epoch in range(1, epochs + 1):
        record = trainer.train_epoch()
        trainer.epoch += 1
        losses = {k: round(record[k], 3) for k in ("d_loss", "g_loss", "d_real", "d_fake")}
        print(epoch, losses, "spread within, across labels:", spreads(trainer, config), flush=True)
    plots.save_image_grid(trainer.backend.to_numpy(trainer.fixed_grid()), "runs/probe/grid.png",
                          nrow=10, row_labels=list(range(10)))


if __name__ == "__main__":
    main()
