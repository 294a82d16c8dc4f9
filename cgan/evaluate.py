"""Evaluate a trained MNIST run (Table 1 and beyond) and draw samples from it.

* Parzen-window log-likelihood of the test set, as in the original GAN code: 10,000
  generator samples (1,000 per class for the conditional model) as kernel centres, sigma
  chosen on the validation set from 10 values log-spaced in [0.1, 1], test mean and its
  standard error in nats.
* Beyond the papers: the label accuracy of conditional samples (does an MNIST classifier
  built with nn read the digit the generator was asked for?) and the Frechet distance
  between generated and test images in that classifier's penultimate features.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from nn.backend import Backend

from .train import evaluation_labels, generate, load_pair, write_json

# Evaluation noise comes from its own stream, so results do not depend on training's.
EVAL_SEED = 12345


def evaluate_run(run_dir, backend: Backend, splits, *, which: str = "best", n_samples: int = 10_000,
                 data_dir=None, progress: bool = True) -> dict:
    """Evaluate the ``which`` checkpoint of a run; writes eval.json and figure2.png into the run."""
    from . import plots
    from .classifier import features, load_or_train_classifier
    from .data.mnist import default_data_dir
    from .metrics import frechet_distance, label_accuracy
    from .parzen import parzen_evaluate

    run_dir = Path(run_dir)
    config, pair, meta = load_pair(run_dir, backend, which)
    noise = backend.with_seed(EVAL_SEED)
    start = time.perf_counter()
    labels = evaluation_labels(backend, n_samples) if pair.conditional else None
    if pair.conditional and n_samples % 10:
        raise ValueError(f"--samples must be a multiple of 10 for a conditional run, got {n_samples}")
    samples = generate(pair, backend, noise, config, labels=labels, n=n_samples)
    valid_x = backend.asarray(splits.valid_x)
    test_x = backend.asarray(splits.test_x)
    parzen = parzen_evaluate(samples, valid_x, test_x, backend)
    parzen_seconds = time.perf_counter() - start

    cache_dir = Path(data_dir) if data_dir else default_data_dir()
    classifier, classifier_info = load_or_train_classifier(backend, splits, cache_dir, progress=progress)
    result = {
        "run_dir": str(run_dir),
        "checkpoint": which,
        "epoch": meta["epoch"],
        "model": config.model,
        "parzen_ll": parzen.mean,
        "parzen_std_error": parzen.std_error,
        "parzen_sigma": parzen.sigma,
        "parzen_validation": {str(k): v for k, v in parzen.validation.items()},
        "parzen_seconds": parzen_seconds,
        "n_samples": n_samples,
        "frechet_distance": frechet_distance(features(classifier, samples), features(classifier, test_x)),
        "classifier_test_accuracy": classifier_info.get("test_accuracy"),
        "backend": backend.name,
    }
    if pair.conditional:
        result["label_accuracy"] = label_accuracy(classifier, samples, labels)

    figure_labels = evaluation_labels(backend, 100) if pair.conditional else None
    grid = generate(pair, backend, backend.with_seed(EVAL_SEED + 1), config, labels=figure_labels, n=100)
    plots.save_image_grid(backend.to_numpy(grid), run_dir / "figure2.png", nrow=10,
                          title=f"{config.model} samples, epoch {meta['epoch']}",
                          row_labels=list(range(10)) if pair.conditional else None)
    write_json(run_dir / "eval.json", result)
    return result


def sample_to_png(run_dir, backend: Backend, *, label=None, n: int = 64, output="samples.png",
                  which: str = "best", seed: int = 0) -> Path:
    """Draw n samples (of one digit, or one row per digit) from a run into a PNG grid."""
    from . import plots

    config, pair, _ = load_pair(run_dir, backend, which)
    xp = backend.xp
    if label is not None and not pair.conditional:
        raise ValueError("--label needs a conditional (cgan) run; this run is an unconditional GAN")
    noise = backend.with_seed(seed)
    if pair.conditional:
        if label is None:
            per_row = max(1, math.ceil(n / 10))
            labels = xp.repeat(xp.arange(10), per_row)
            nrow, row_labels = 10, list(range(10))
        else:
            labels = xp.full((n,), label)
            nrow, row_labels = max(1, int(math.sqrt(n))), None
        images = generate(pair, backend, noise, config, labels=labels)
    else:
        images = generate(pair, backend, noise, config, n=n)
        nrow, row_labels = max(1, int(math.sqrt(n))), None
    output = Path(output)
    plots.save_image_grid(backend.to_numpy(images), output, nrow=nrow, row_labels=row_labels,
                          title=None if label is None else f"digit {label}")
    return output

