"""From the conditional paper preset as this project first read it towards the original
code's configuration, one change at a time, measured on validation data.

Each row is a `cgan train mnist` run (conditional networks, seed 0) stopped and resumed at
the measured epochs (resume is bit-exact, so a row is one run). At each measured epoch
the latest checkpoint is scored without touching the test set:

* valid_ll: the run's own validation Parzen estimate (10,000 samples, sigma chosen on the
  first 1,000 validation images, mean over all 10,000), from metrics.jsonl;
* label_acc: how often the project's MNIST classifier reads the digit asked for, over
  10,000 samples (1,000 per label);
* frechet: Frechet distance to the 10,000 validation images in that classifier's features;
* spread: per-pixel standard deviation of the 1,000 samples of one label, averaged over
  pixels and labels (of all samples for an unconditional run; real validation digits:
  about 0.3; a collapsed generator: ~0);
* salt: isolated bright pixels per image (above 0.5, every neighbour below 0.2; real
  validation digits: 0.001 per image);
* for a generator with dropout, the same scores (and the validation Parzen estimate)
  again with G's dropout on, as in training (keys ending in ``_gdrop``).

    OPENBLAS_NUM_THREADS=1 python experiments/mnist_ablation.py --rows base noise
    OPENBLAS_NUM_THREADS=1 python experiments/mnist_ablation.py --rows update dropout
    python experiments/mnist_ablation.py --table       # the markdown table of what is done

Rows run one after the other in a process; start two processes for two cores. Results go
to runs/ablation/ROW/ablation.jsonl (one record per measured epoch); a stopped process
continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The conditional paper preset as first read here (U[0, 1] noise, Algorithm 1's alternating
# update with the real minibatch's labels on the generated one, dropout 0.5 on G's last
# hidden layer, decay 1.00004, marginals clipped at 1e-3), then each of the original code's
# choices alone, then all of them together (the `original` preset).
BASE = ["--preset", "paper", "--noise", "uniform01", "--update", "alternating",
        "--fake-labels", "batch", "--g-dropout-keep", "0.5", "--lr-decay", "1.00004",
        "--marginal-clip", "1e-3"]
CHANGES = {
    "base": [],
    "noise": ["--noise", "uniform_unit_variance"],
    "update": ["--update", "simultaneous"],
    "dropout": ["--g-dropout-keep", "1"],
    "decay": ["--lr-decay", "1.000004"],
    "clip": ["--marginal-clip", "1e-7"],
    "labels": ["--fake-labels", "uniform"],
}
ROWS = {name: BASE + change for name, change in CHANGES.items()}
ROWS["all"] = BASE + sum(CHANGES.values(), [])  # = --preset original
# Then single changes on top of the original configuration that might keep the conditional
# generator from collapsing.
ORIGINAL = ["--preset", "original"]
ROWS.update({
    "orig+gdrop": ORIGINAL + ["--g-dropout-keep", "0.5"],
    "orig+gauss": ORIGINAL + ["--noise", "gaussian"],
    "orig+adam": ORIGINAL + ["--optimizer", "adam", "--lr", "2e-4", "--lr-decay", "1"],
    # where the salt noise comes from: the discriminator's input dropout, or the
    # learning rate (the paper's faster decay)
    "orig+gdrop+dkeep1": ORIGINAL + ["--g-dropout-keep", "0.5", "--d-input-keep", "1"],
    "paper": ["--preset", "paper"],
})
EPOCHS = (5, 10, 20)
DESCRIPTION = {
    "base": "paper preset as first read: U[0,1] noise, alternating, G dropout 0.5, decay 1.00004, clip 1e-3, batch labels",
    "noise": "+ noise U[-sqrt 3, sqrt 3] (unit variance)",
    "update": "+ simultaneous update",
    "dropout": "+ no dropout in G (D only: input 0.8, hidden 0.5)",
    "decay": "+ lr decay 1.000004",
    "clip": "+ marginal clip 1e-7",
    "labels": "+ generated samples' labels drawn uniformly",
    "all": "all of the above (= --preset original)",
    "orig+gdrop": "original + dropout 0.5 on G's last hidden layer",
    "orig+gauss": "original + noise N(0, I)",
    "orig+adam": "original + Adam (lr 2e-4, beta1 0.5, no decay)",
    "orig+gdrop+dkeep1": "original + G dropout 0.5, no dropout on D's image input",
    "paper": "--preset paper (original + G dropout 0.5 + decay 1.00004)",
}


def command(row: str, epochs: int, resume: bool) -> list[str]:
    out = f"runs/ablation/{row}"
    if resume:
        return ["train", "mnist", "--out", out, "--resume", "--epochs", str(epochs), "--quiet"]
    return ["train", "mnist", "--model", "cgan", "--out", out, "--epochs", str(epochs), "--quiet",
            *ROWS[row]]


def measure(run_dir: Path, splits, backend) -> dict:
    from cgan.core.run import read_metrics
    from cgan.data.mnist import default_data_dir
    from cgan.evaluation.classifier import features, load_or_train_classifier
    from cgan.evaluation.metrics import frechet_distance, isolated_pixels, label_accuracy
    from cgan.experiments.mnist.evaluate import EVAL_SEED
    from cgan.experiments.mnist.train import evaluation_labels, generate, load_pair

    config, pair, meta = load_pair(run_dir, backend, "latest")
    epoch = int(meta["epoch"])
    record = next(r for r in read_metrics(run_dir) if r["epoch"] == epoch)
    classifier, _ = load_or_train_classifier(backend, splits, default_data_dir(), progress=False)
    labels = evaluation_labels(backend, 10_000) if pair.conditional else None
    valid = backend.asarray(splits.valid_x)
    valid_features = features(classifier, valid)

    def scores(samples) -> dict:
        groups = samples.reshape(10, 1000, -1) if pair.conditional else samples[None]
        return {
            "label_acc": label_accuracy(classifier, samples, labels)["overall"] if pair.conditional else None,
            "frechet": frechet_distance(features(classifier, samples), valid_features),
            "spread": float(groups.std(axis=1).mean()),
            "salt": isolated_pixels(samples),
        }

    # the game's state at the epoch's end: D's mean outputs, or the critic's (WGAN)
    game = ("d_real", "d_fake", "critic_real", "critic_fake", "wasserstein_estimate")
    result = {"epoch": epoch, "valid_ll": record["valid_ll"], "sigma": record["sigma"],
              "seconds": record["seconds"], **{k: record[k] for k in game if k in record}}
    result.update(scores(generate(pair, backend, backend.with_seed(EVAL_SEED), config, labels=labels,
                                  n=10_000)))
    if config.g_hidden_keep < 1:  # also as in training: the generator's dropout on
        from cgan.evaluation.parzen import parzen_evaluate

        samples = generate(pair, backend, backend.with_seed(EVAL_SEED), config, labels=labels,
                           n=10_000, generator_dropout=True)
        parzen = parzen_evaluate(samples, valid[:1000], valid, backend)
        result.update({f"{k}_gdrop": v for k, v in scores(samples).items()},
                      valid_ll_gdrop=parzen.mean, sigma_gdrop=parzen.sigma)
    return result


def run_row(row: str, splits, backend) -> None:
    from cgan.cli import main as cgan
    from cgan.core.run import read_metrics

    run_dir = ROOT / "runs" / "ablation" / row
    log = run_dir / "ablation.jsonl"
    done = {json.loads(line)["epoch"] for line in log.read_text().splitlines()} if log.exists() else set()
    for epochs in EPOCHS:
        if epochs in done:
            continue
        trained = len(read_metrics(run_dir)) if (run_dir / "latest.npz").exists() else 0
        if trained < epochs:
            code = cgan(command(row, epochs, resume=trained > 0))
            if code:
                raise SystemExit(f"{row}: cgan train exited with {code}")
        result = measure(run_dir, splits, backend)
        print(json.dumps({"row": row, **result}), flush=True)
        with open(log, "a") as f:
            f.write(json.dumps(result) + "\n")


def table() -> str:
    lines = ["| row | change | epoch | valid LL | label acc | Frechet (valid) | spread | salt | D(x) | D(G(z)) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in ROWS:
        log = ROOT / "runs" / "ablation" / row / "ablation.jsonl"
        if not log.exists():
            continue
        for line in log.read_text().splitlines():
            r = json.loads(line)
            salt = f"{r['salt']:.2f}" if "salt" in r else "-"
            lines.append(f"| {row} | {DESCRIPTION[row]} | {r['epoch']} | {r['valid_ll']:.0f} | "
                         f"{r['label_acc']:.3f} | {r['frechet']:.1f} | {r['spread']:.3f} | {salt} | "
                         f"{r['d_real']:.3f} | {r['d_fake']:.3f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", choices=list(ROWS), default=[])
    parser.add_argument("--table", action="store_true", help="print the table of measured rows")
    args = parser.parse_args(argv)
    if args.rows:
        import os

        import nn
        from cgan.data.mnist import load_mnist

        os.chdir(ROOT)
        splits = load_mnist(progress=False)
        backend = nn.get_backend("numpy", seed=0)
        for row in args.rows:
            run_row(row, splits, backend)
    if args.table or not args.rows:
        print(table())


if __name__ == "__main__":
    main()
