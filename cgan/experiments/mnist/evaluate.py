"""Evaluate a trained MNIST run (Table 1 and beyond) and draw samples from it.

* Parzen-window log-likelihood of the test set, as the original GAN code's parzen_ll.py
  computes it: 10,000 generator samples (1,000 per class for the conditional model) as
  kernel centres, sigma chosen from 10 values log-spaced in [0.1, 1] on the first 1,000
  validation images (``sigma_points``; 10,000 uses the whole validation set), test mean
  and its standard error in nats.
* Beyond the papers: the label accuracy of conditional samples (does an MNIST classifier
  built with nn read the digit the generator was asked for?) and the Frechet distance
  between generated and test images in that classifier's penultimate features.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from nn.backend import Backend, array_module

from ...core.noise import sample_noise
from ...core.run import write_json
from ...core.streams import Recorded, Streams
from .train import evaluation_labels, generate, labels_one_hot, load_pair

# Evaluation noise comes from streams of its own, rooted at a fixed seed rather than the
# run's, so that every run and checkpoint is scored on the same noise.
EVAL_SEED = 12345
EVAL_STREAMS = Streams(EVAL_SEED, {
    "samples": Recorded(0),   # the samples scored (Parzen, label accuracy, Frechet)
    "figure": Recorded(1),    # the figure2.png grid
})


# parzen_ll.py chose sigma on the first 1,000 validation images (its --limit_size).
SIGMA_POINTS = 1_000


def evaluate_run(run_dir, backend: Backend, splits, *, which: str = "best", n_samples: int = 10_000,
                 sigma_points: int = SIGMA_POINTS, data_dir=None, progress: bool = True,
                 generator_dropout: bool = False, write_errors: list | None = None) -> dict:
    """Evaluate the ``which`` checkpoint of a run; writes eval.json and figure2.png into the
    run (and the classifier into ``data_dir``'s cache).

    ``generator_dropout``: sample with the generator's dropout on, as in training (see
    ``generate``); the figure and eval.json say so. ``write_errors``: a list that collects
    the files that could not be written (nn.fileio.FileWriteError), after everything is
    computed; without it they raise.
    """
    from ...data.mnist import default_data_dir
    from ...evaluation import plots
    from ...evaluation.classifier import features, load_or_train_classifier
    from ...evaluation.metrics import frechet_distance, isolated_pixels, label_accuracy
    from ...evaluation.parzen import parzen_evaluate

    run_dir = Path(run_dir)
    config, pair, meta = load_pair(run_dir, backend, which)
    noise = EVAL_STREAMS.backend("samples", like=backend)
    start = time.perf_counter()
    labels = evaluation_labels(backend, n_samples) if pair.conditional else None
    if pair.conditional and n_samples % 10:
        raise ValueError(f"--samples must be a multiple of 10 for a conditional run, got {n_samples}")
    samples = generate(pair, backend, noise, config, labels=labels, n=n_samples,
                       generator_dropout=generator_dropout)
    if sigma_points < 1:
        raise ValueError(f"--sigma-points must be at least 1, got {sigma_points}")
    valid_x = backend.asarray(splits.valid_x[:sigma_points])
    test_x = backend.asarray(splits.test_x)
    parzen = parzen_evaluate(samples, valid_x, test_x, backend)
    parzen_seconds = time.perf_counter() - start

    cache_dir = Path(data_dir) if data_dir else default_data_dir()
    classifier, classifier_info = load_or_train_classifier(backend, splits, cache_dir, progress=progress,
                                                           write_errors=write_errors)
    result = {
        "run_dir": str(run_dir),
        "checkpoint": which,
        "epoch": meta["epoch"],
        "model": config.model,
        "parzen_ll": parzen.mean,
        "parzen_std_error": parzen.std_error,
        "parzen_sigma": parzen.sigma,
        "parzen_sigma_points": int(valid_x.shape[0]),
        "parzen_protocol": (f"{n_samples} samples as centres, sigma chosen on the first "
                            f"{int(valid_x.shape[0])} validation images, mean over the "
                            f"{int(test_x.shape[0])} test images"),
        "parzen_validation": {str(k): v for k, v in parzen.validation.items()},
        "parzen_seconds": parzen_seconds,
        "n_samples": n_samples,
        "frechet_distance": frechet_distance(features(classifier, samples), features(classifier, test_x)),
        "classifier_test_accuracy": classifier_info.get("test_accuracy"),
        "isolated_pixels_per_image": isolated_pixels(samples),
        "generator_dropout": bool(generator_dropout),
        "backend": backend.name,
    }
    if pair.conditional:
        result["label_accuracy"] = label_accuracy(classifier, samples, labels)

    figure_labels = evaluation_labels(backend, 100) if pair.conditional else None
    grid = generate(pair, backend, EVAL_STREAMS.backend("figure", like=backend), config, labels=figure_labels, n=100,
                    generator_dropout=generator_dropout)
    _write(lambda: plots.save_image_grid(backend.to_numpy(grid), run_dir / "figure2.png", nrow=10,
                                         title=f"{config.model} samples, epoch {meta['epoch']}"
                                               + (", generator dropout on" if generator_dropout else ""),
                                         row_labels=list(range(10)) if pair.conditional else None),
           write_errors)
    _write(lambda: write_json(run_dir / "eval.json", result), write_errors)
    return result


def _write(write, errors: list | None) -> None:
    """Run ``write``; a file that cannot be written goes into ``errors`` (when given)."""
    from nn.fileio import FileWriteError

    try:
        write()
    except FileWriteError as exc:
        if errors is None:
            raise
        errors.append(exc)


def sample_to_png(run_dir, backend: Backend, *, label=None, n: int = 64, output="samples.png",
                  which: str = "best", seed: int = 0, generator_dropout: bool = False) -> Path:
    """Draw n samples (of one digit, or one row per digit) from a run into a PNG grid."""
    from ...evaluation import plots

    config, pair, _ = load_pair(run_dir, backend, which)
    xp = backend.xp
    if label is not None and not pair.conditional:
        raise ValueError("--label needs a conditional (cgan or cdcgan) run; this run is unconditional")
    noise = backend.with_seed(seed)
    ncol = None
    if pair.conditional:
        if label is None:  # one row per digit, ceil(n / 10) each, n in all (the last rows may be short)
            per_row = max(1, math.ceil(n / 10))
            labels = xp.repeat(xp.arange(10), per_row)[:n]
            nrow, ncol = math.ceil(n / per_row), per_row
            row_labels = list(range(nrow))
        else:
            labels = xp.full((n,), label)
            nrow, row_labels = max(1, int(math.sqrt(n))), None
        images = generate(pair, backend, noise, config, labels=labels, generator_dropout=generator_dropout)
    else:
        images = generate(pair, backend, noise, config, n=n, generator_dropout=generator_dropout)
        nrow, row_labels = max(1, int(math.sqrt(n))), None
    output = Path(output)
    plots.save_image_grid(backend.to_numpy(images), output, nrow=nrow, ncol=ncol, row_labels=row_labels,
                          title=None if label is None else f"digit {label}")
    return output


def sample_to_npz(run_dir, backend: Backend, output, *, label=None, n: int = 10_000,
                  which: str = "best", seed: int = 0, generator_dropout: bool = False) -> Path:
    """Write n raw samples of a run to ``output`` (.npz, atomically), for any tool to score.

    Arrays: ``x`` (n, 784) float32 pixels in [0, 1], row-major 28 x 28 images; ``y`` (n,)
    int64 labels (the digit each sample was asked for; -1 for an unconditional run). A
    conditional run without ``label`` gives the labels 0, 1, ..., 9, 0, 1, ... in turn.
    """
    from nn.checkpoint import save_arrays

    config, pair, meta = load_pair(run_dir, backend, which)
    if label is not None and not pair.conditional:
        raise ValueError("--label needs a conditional (cgan or cdcgan) run; this run is unconditional")
    xp = backend.xp
    noise = backend.with_seed(seed)
    if pair.conditional:
        labels = xp.full((n,), label, dtype=xp.int64) if label is not None else xp.arange(n) % 10
        images = generate(pair, backend, noise, config, labels=labels, generator_dropout=generator_dropout)
    else:
        labels = xp.full((n,), -1, dtype=xp.int64)
        images = generate(pair, backend, noise, config, n=n, generator_dropout=generator_dropout)
    return save_arrays(output, {"x": images.astype(xp.float32), "y": labels.astype(xp.int64),
                                "epoch": int(meta["epoch"]), "seed": int(seed)})


def interpolate_noise(z0, z1, steps: int, spherical: bool = False):
    """``steps`` points from z0 to z1 (both ends included), shape (steps, dim).

    Linear: z(t) = (1 - t) z0 + t z1. Spherical (slerp, for Gaussian noise, whose mass
    lies near a sphere of radius sqrt(dim), which the linear path's midpoint leaves):
    z(t) = sin((1 - t) W) / sin W z0 + sin(t W) / sin W z1, W the angle between z0 and z1.
    """
    xp = array_module(z0)
    t = xp.linspace(0.0, 1.0, steps, dtype=z0.dtype)[:, None]
    if not spherical:
        return (1 - t) * z0[None, :] + t * z1[None, :]
    cos = (z0 * z1).sum() / xp.sqrt((z0 * z0).sum() * (z1 * z1).sum())
    omega = xp.arccos(xp.clip(cos, -1.0, 1.0))
    if float(xp.sin(omega)) < 1e-6:  # (anti)parallel: the arc is undefined, use the chord
        return (1 - t) * z0[None, :] + t * z1[None, :]
    return (xp.sin((1 - t) * omega) * z0[None, :] + xp.sin(t * omega) * z1[None, :]) / xp.sin(omega)


def interpolation_figures(run_dir, backend: Backend, *, output="samples.png", which: str = "best",
                          seed: int = 0, rows: int = 8, steps: int = 10,
                          spherical: bool = False) -> dict:
    """Controllable generation from a conditional run: two figures next to ``output``.

    * ``<stem>-labels.png``: ``rows`` fixed noise vectors (one per row) times the labels
      0..9 (one per column): the noise holds the style, the label the digit.
    * ``<stem>-interpolation.png``: one row per label 0..9, columns the noise moved from
      z0 to z1 in ``steps`` steps (linear, or spherical with ``spherical``), the same
      path in every row.

    The noise comes from ``seed`` (a stream of its own), drawn from the run's noise
    distribution. Returns the two paths and the host image grids, shaped (rows, 10, pixels)
    and (10, steps, pixels).
    """
    from ...evaluation import plots

    config, pair, meta = load_pair(run_dir, backend, which)
    if not pair.conditional:
        raise ValueError("--interpolate needs a conditional (cgan or cdcgan) run; this run is unconditional")
    xp, dim = backend.xp, pair.noise_dim
    noise = backend.with_seed(seed)
    z = sample_noise(noise, config.noise, rows, dim)
    ends = sample_noise(noise, config.noise, 2, dim)
    path = interpolate_noise(ends[0], ends[1], steps, spherical)

    # (a) row r, column c: noise z_r, label c
    labels_a = xp.tile(xp.arange(10), rows)
    images_a, _ = pair.generate(xp.repeat(z, 10, axis=0), labels_one_hot(backend, labels_a), train=False)
    # (b) row = label, column = point on the path
    labels_b = xp.repeat(xp.arange(10), steps)
    images_b, _ = pair.generate(xp.tile(path, (10, 1)), labels_one_hot(backend, labels_b), train=False)

    output = Path(output)
    stem = output.with_suffix("")
    kind = "spherical" if spherical else "linear"
    first = plots.save_image_grid(backend.to_numpy(images_a), f"{stem}-labels.png", nrow=rows,
                                  title=f"fixed noise per row, labels 0-9 (epoch {meta['epoch']})")
    second = plots.save_image_grid(backend.to_numpy(images_b), f"{stem}-interpolation.png", nrow=10,
                                   row_labels=list(range(10)),
                                   title=f"{kind} noise interpolation, one label per row")
    pixels = images_a.shape[1]
    return {"labels": first, "interpolation": second,
            "labels_grid": backend.to_numpy(images_a).reshape(rows, 10, pixels),
            "interpolation_grid": backend.to_numpy(images_b).reshape(10, steps, pixels)}
