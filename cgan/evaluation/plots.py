"""Figures: sample grids (the papers' figures of digits) and training curves, as PNG files.

Everything draws on matplotlib's ``Figure`` with the Agg canvas directly, never through
pyplot: no display is needed or opened, and the process's global matplotlib backend (a
notebook's, say) is left alone. Every file is written atomically: to a temporary name in
the target's directory, then renamed over it, with the directory created first.

Images are host NumPy arrays of shape (n, 784) (or (n, 28, 28)) with values in [0, 1],
white digits on black as in MNIST.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from nn.fileio import atomic_write

__all__ = ["image_mosaic", "save_image_grid", "plot_training_curves", "save_samples_over_training"]

SIDE = 28
SEPARATOR = 2  # pixels between tiles (and around the grid)
SEPARATOR_VALUE = 0.5  # mid-grey: visible against both the black ground and white strokes
DPI = 100


def _host_images(images) -> numpy.ndarray:
    if type(images).__module__.startswith("cupy"):
        images = images.get()
    images = numpy.asarray(images)
    if images.ndim == 3 and images.shape[1:] == (SIDE, SIDE):
        images = images.reshape(images.shape[0], SIDE * SIDE)
    if images.ndim != 2 or images.shape[1] != SIDE * SIDE:
        raise ValueError(f"expected images of shape (n, {SIDE * SIDE}), got {images.shape}")
    return images


def _grid_shape(n: int, nrow: int, ncol: int | None) -> tuple[int, int]:
    if nrow < 1:
        raise ValueError(f"nrow must be positive, got {nrow}")
    ncol = max(math.ceil(n / nrow), 1) if ncol is None else ncol
    if ncol < 1 or n > nrow * ncol:
        raise ValueError(f"{n} images do not fit a {nrow} x {ncol} grid")
    return nrow, ncol


def image_mosaic(images, nrow: int, ncol: int | None = None, *, sep: int = SEPARATOR,
                 sep_value: float = SEPARATOR_VALUE) -> numpy.ndarray:
    """Tile (n, 784) images row-major into one 2-D array, ``sep`` pixels between and around tiles.

    The result has shape (nrow * (28 + sep) + sep, ncol * (28 + sep) + sep). Cells past
    the n-th image are left black.
    """
    images = _host_images(images)
    n = images.shape[0]
    nrow, ncol = _grid_shape(n, nrow, ncol)
    tiles = numpy.zeros((nrow * ncol, SIDE, SIDE), dtype=numpy.float32)
    tiles[:n] = images.reshape(n, SIDE, SIDE)
    cell = SIDE + sep
    padded = numpy.full((nrow, ncol, cell, cell), sep_value, dtype=numpy.float32)
    padded[:, :, sep:, sep:] = tiles.reshape(nrow, ncol, SIDE, SIDE)
    mosaic = padded.transpose(0, 2, 1, 3).reshape(nrow * cell, ncol * cell)
    out = numpy.full((nrow * cell + sep, ncol * cell + sep), sep_value, dtype=numpy.float32)
    out[:-sep or None, :-sep or None] = mosaic
    return numpy.clip(out, 0.0, 1.0)


def _save(fig: Figure, path) -> Path:
    """Write the figure to ``path`` as a PNG, atomically."""
    path = Path(path)
    FigureCanvasAgg(fig)
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=DPI)
    return path


def save_image_grid(images, path, *, nrow: int, ncol: int | None = None, title: str | None = None,
                    row_labels=None, scale: int = 2) -> Path:
    """Save images as a grid of 28 x 28 tiles, row-major, to a PNG.

    Args:
        images: host (n, 784) array in [0, 1].
        path: the PNG to write.
        nrow, ncol: the grid (ncol defaults to ceil(n / nrow)).
        title: a line of text above the grid.
        row_labels: one label per row (e.g. the digits 0..9 of a conditional sample
            grid, one row per conditioning label), written at the left of each row.
        scale: screen pixels per image pixel (nearest-neighbour, so pixels stay sharp).

    The PNG is (rows of mosaic) * scale pixels high plus 24 px for a title, and
    (columns of mosaic) * scale wide plus 24 px when there are row labels.
    """
    mosaic = image_mosaic(images, nrow, ncol)
    if row_labels is not None and len(row_labels) != nrow:
        raise ValueError(f"{len(row_labels)} row labels for {nrow} rows")
    height, width = (s * scale for s in mosaic.shape)
    left = 24 if row_labels is not None else 0
    top = 24 if title else 0
    total_w, total_h = width + left, height + top
    fig = Figure(figsize=(total_w / DPI, total_h / DPI), dpi=DPI, facecolor="white")
    ax = fig.add_axes((left / total_w, 0.0, width / total_w, height / total_h))
    ax.imshow(mosaic, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest", aspect="auto")
    ax.set_axis_off()
    if title:
        fig.text(0.5, 1.0 - (top / 2) / total_h, title, ha="center", va="center", fontsize=10)
    if row_labels is not None:
        cell = (SIDE + SEPARATOR) * scale
        for i, label in enumerate(row_labels):
            centre = SEPARATOR * scale + i * cell + SIDE * scale / 2  # pixels from the grid's top
            fig.text((left / 2) / total_w, (height - centre) / total_h, str(label),
                     ha="center", va="center", fontsize=10)
    return _save(fig, path)


def _series(metrics: list[dict], key: str):
    points = [(r["epoch"], r[key]) for r in metrics
              if r.get(key) is not None and r.get("epoch") is not None]
    if not points:
        return None, None
    x, y = zip(*points)
    return numpy.asarray(x, dtype=float), numpy.asarray(y, dtype=float)


def plot_training_curves(metrics: list[dict], path) -> Path:
    """Plot a training log (one dict per record: epoch, d_loss, g_loss, d_real, d_fake,
    optionally valid_ll) as two panels, losses and discriminator outputs (with a dashed
    line at 0.5, the equilibrium), plus a third, validation log-likelihood, when present.
    For a WGAN run (critic_real, critic_fake, wasserstein_estimate in place of d_real,
    d_fake) the second panel shows the critic's mean outputs and their difference.
    """
    if not metrics:
        raise ValueError("no metrics records to plot")
    has_ll = _series(metrics, "valid_ll")[0] is not None
    panels = 3 if has_ll else 2
    fig = Figure(figsize=(4.5 * panels, 3.6), dpi=DPI, facecolor="white")
    axes = fig.subplots(1, panels, squeeze=False)[0]

    ax = axes[0]
    for key, label in (("d_loss", "discriminator loss"), ("g_loss", "generator loss")):
        x, y = _series(metrics, key)
        if x is not None:
            ax.plot(x, y, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("losses")
    ax.legend(loc="best", fontsize=8)

    ax = axes[1]
    if _series(metrics, "wasserstein_estimate")[0] is not None:  # a WGAN run: critic outputs
        for key, label in (("critic_real", "mean f(x)"), ("critic_fake", "mean f(G(z))"),
                           ("wasserstein_estimate", "mean f(x) - mean f(G(z))")):
            x, y = _series(metrics, key)
            ax.plot(x, y, label=label)
        ax.set_ylabel("critic output")
        ax.set_title("critic outputs (Wasserstein estimate)")
    else:
        for key, label in (("d_real", "mean D(x)"), ("d_fake", "mean D(G(z))")):
            x, y = _series(metrics, key)
            if x is not None:
                ax.plot(x, y, label=label)
        ax.axhline(0.5, color="gray", linestyle="--", linewidth=1, label="0.5")
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel("discriminator output")
        ax.set_title("discriminator outputs")
    ax.set_xlabel("epoch")
    ax.legend(loc="best", fontsize=8)

    if has_ll:
        ax = axes[2]
        x, y = _series(metrics, "valid_ll")
        ax.plot(x, y, marker="o", markersize=3)
        ax.set_xlabel("epoch")
        ax.set_ylabel("log-likelihood (nats)")
        ax.set_title("validation log-likelihood")

    fig.tight_layout()
    return _save(fig, path)


def save_samples_over_training(grids: list[tuple[int, numpy.ndarray]], path, *, nrow: int) -> Path:
    """Sample grids from several epochs side by side, each titled by its epoch.

    Args:
        grids: (epoch, images) pairs; images (n, 784) host arrays, each shown as an nrow-row
            grid (see save_image_grid).
    """
    if not grids:
        raise ValueError("no sample grids to plot")
    mosaics = [(epoch, image_mosaic(images, nrow)) for epoch, images in grids]
    height = max(m.shape[0] for _, m in mosaics)
    width = sum(m.shape[1] for _, m in mosaics)
    scale = 2
    gap, top = 12, 24
    total_w = width * scale + gap * (len(mosaics) + 1)
    total_h = height * scale + top + gap
    fig = Figure(figsize=(total_w / DPI, total_h / DPI), dpi=DPI, facecolor="white")
    x = gap
    for epoch, m in mosaics:
        w, h = m.shape[1] * scale, m.shape[0] * scale
        ax = fig.add_axes((x / total_w, (gap + height * scale - h) / total_h, w / total_w, h / total_h))
        ax.imshow(m, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest", aspect="auto")
        ax.set_axis_off()
        fig.text((x + w / 2) / total_w, 1.0 - (top / 2) / total_h, f"epoch {epoch}",
                 ha="center", va="center", fontsize=10)
        x += w + gap
    return _save(fig, path)
