"""Sample-quality metrics: label accuracy under a classifier, and the Frechet distance.

* ``label_accuracy``: for conditional samples, the fraction that the MNIST classifier
  (cgan.evaluation.classifier) assigns to the label they were generated for, overall and
  per class.
* ``frechet_distance``: the Frechet distance between Gaussians fitted to two sets of
  features (Heusel et al. 2017's FID, here on the classifier's 256 penultimate features
  instead of Inception's):

      d^2 = ||mu_a - mu_b||^2 + Tr(C_a + C_b - 2 (C_a C_b)^{1/2}).

  Means and covariances are computed in float64 with the features' array module (on the
  GPU for CuPy features); the d x d matrices then go to the host for scipy's matrix square
  root, which is why this module may import NumPy.
* ``isolated_pixels``: salt noise, the bright pixels of a digit image with no bright
  neighbour (real MNIST digits: about 0.001 per image). Under a sigma-0.2 Parzen kernel
  each one costs about 1 / (2 * 0.2^2) = 12.5 nats.
"""

from __future__ import annotations

import math
import warnings

import numpy
import scipy.linalg

from nn.backend import array_module

from .classifier import predict

__all__ = ["label_accuracy", "frechet_distance", "mean_and_covariance", "isolated_pixels"]


def _host(a) -> numpy.ndarray:
    xp = array_module(a)
    return numpy.asarray(a) if xp is numpy else xp.asnumpy(a)


def label_accuracy(classifier, samples, labels, *, classes: int = 10) -> dict:
    """How often the classifier assigns each sample to its conditioning label.

    Args:
        classifier: a network from cgan.evaluation.classifier.
        samples: (n, 784) array on the classifier's backend and in its dtype.
        labels: (n,) integer class indices (a backend array, or a host array, which is
            copied to the samples' device).

    Returns:
        ``{"overall": float, "per_class": [float] * classes}``; a class with no samples
        gets NaN.
    """
    predicted = predict(classifier, samples)
    xp = array_module(predicted)
    labels = xp.asarray(labels)
    if labels.shape != predicted.shape:
        raise ValueError(
            f"labels have shape {tuple(labels.shape)} but there are {predicted.shape[0]} samples"
        )
    hit = predicted == labels
    counts = _host(xp.bincount(labels, minlength=classes))[:classes]
    hits = _host(xp.bincount(labels[hit], minlength=classes))[:classes]
    overall = int(hit.sum()) / hit.size if hit.size else math.nan
    per_class = [float(h / c) if c else math.nan for h, c in zip(hits.tolist(), counts.tolist())]
    return {"overall": overall, "per_class": per_class}


def mean_and_covariance(features):
    """The mean (d,) and unbiased covariance (d, d) of the rows of ``features``, as float64 host arrays."""
    xp = array_module(features)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(
            f"need at least two feature vectors of shape (n, d), got shape {tuple(features.shape)}"
        )
    f = features.astype(xp.float64)  # deliberate: covariances accumulate in float64
    mu = f.mean(axis=0)
    centred = f - mu
    cov = centred.T @ centred / (f.shape[0] - 1)
    return _host(mu), _host(cov)


def frechet_distance(features_a, features_b, *, eps: float = 1e-6) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (n_a, d) and (n_b, d).

    ``||mu_a - mu_b||^2 + Tr(C_a) + Tr(C_b) - 2 Tr sqrtm(C_a C_b)``. The square root of
    C_a C_b (a product of two positive semi-definite matrices, so its eigenvalues are real
    and non-negative) may come back with tiny imaginary parts from rounding: they are
    discarded. When the product is singular enough that sqrtm returns non-finite values,
    ``eps`` I is added to both covariances and the root taken again.
    """
    if features_a.ndim != 2 or features_b.ndim != 2 or features_a.shape[1] != features_b.shape[1]:
        raise ValueError(
            f"feature sets must be (n, d) with the same d, got {tuple(features_a.shape)} "
            f"and {tuple(features_b.shape)}"
        )
    mu_a, cov_a = mean_and_covariance(features_a)
    mu_b, cov_b = mean_and_covariance(features_b)
    with warnings.catch_warnings():
        # A singular product makes sqrtm warn; a non-finite root is handled just below.
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(cov_a @ cov_b)
    if not numpy.isfinite(root).all():
        offset = eps * numpy.eye(cov_a.shape[0])
        root = scipy.linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    if numpy.iscomplexobj(root):
        scale = max(float(numpy.abs(root).max()), 1.0)
        imaginary = float(numpy.abs(numpy.diagonal(root).imag).max())
        if imaginary > 1e-3 * scale:
            raise ValueError(
                f"sqrtm(C_a C_b) has a diagonal imaginary part of {imaginary:.3g}: "
                "the covariances are not positive semi-definite"
            )
        root = root.real
    diff = mu_a - mu_b
    value = float(diff @ diff + numpy.trace(cov_a) + numpy.trace(cov_b) - 2.0 * numpy.trace(root))
    # Rounding can take an exact zero (identical sets) slightly below zero.
    return max(value, 0.0)


def isolated_pixels(images, *, side: int = 28, bright: float = 0.5, dark: float = 0.2) -> float:
    """Mean count per image of pixels above ``bright`` whose 8 neighbours (inside the
    image) are all below ``dark``.

    Args:
        images: (n, side * side) array in [0, 1], on any backend.
    """
    xp = array_module(images)
    x = images.reshape(-1, side, side)
    padded = xp.pad(x, ((0, 0), (1, 1), (1, 1)))
    neighbours = None
    for dy in range(3):
        for dx in range(3):
            if (dy, dx) != (1, 1):
                window = padded[:, dy:dy + side, dx:dx + side]
                neighbours = window if neighbours is None else xp.maximum(neighbours, window)
    return float(((x > bright) & (neighbours < dark)).sum()) / max(int(x.shape[0]), 1)
