"""The noise arithmetic (cgan.experiments.mnist.arithmetic): the style measures on drawn
strokes, the groups, and the figures and report on a tiny conditional DCGAN run."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nn
from cgan.experiments.mnist.arithmetic import ink, noise_arithmetic, slant, style_groups
from cgan.experiments.mnist.train import train

from .test_dcgan import dcgan_config
from .test_train import fake_mnist


def stroke(width: int, lean: float) -> np.ndarray:
    """A vertical bar of ``width`` pixels from row 4 to 23, shifted right by ``lean``
    columns per row going up (an italic stroke for lean > 0)."""
    image = np.zeros((28, 28))
    for row in range(4, 24):
        start = int(round(13 + lean * (14 - row)))
        image[row, start:start + width] = 1.0
    return image.reshape(784)


def test_ink_and_slant_of_drawn_strokes():
    images = np.stack([stroke(2, 0.0), stroke(5, 0.0), stroke(2, 0.4), stroke(2, -0.4)])
    amounts, shears = ink(images), slant(images)
    assert amounts[1] > 2 * amounts[0]                      # thicker: more ink
    assert abs(shears[0]) < 1e-9 and abs(shears[1]) < 1e-9  # upright
    assert shears[2] == pytest.approx(0.4, abs=0.05)        # leaning right, 0.4 columns per row
    assert shears[3] == pytest.approx(-0.4, abs=0.05)


def test_style_groups_pick_thick_thin_and_slanted():
    widths = [1, 2, 3, 4, 5, 6, 2, 2, 2, 2, 2, 2]
    leans = [0, 0, 0, 0, 0, 0, 0.5, 0.6, 0.1, -0.1, 0.05, 0.7]
    images = np.stack([stroke(w, s) for w, s in zip(widths, leans)])
    groups = style_groups(ink(images), slant(images), 2)
    assert set(groups["thick"]) == {4, 5} and set(groups["slanted"]) == {7, 11}
    assert set(groups["thin"]) <= {0, 1, 8, 9, 10} and 0 in groups["thin"]
    with pytest.raises(ValueError, match="too few"):
        style_groups(ink(images), slant(images), 4)


def test_noise_arithmetic_on_a_conditional_run(tmp_path):
    run = tmp_path / "run"
    train(dcgan_config("cdcgan", epochs=1), run, fake_mnist(), progress=False)
    b = nn.get_backend("numpy")
    report = noise_arithmetic(run, b, digit=3, n=60, k=3, steps=4, output=tmp_path / "a.png")
    assert set(report["averages"]) == {"thick", "thin", "slanted", "thin - thick + slanted"}
    thick, thin = report["groups"]["thick"], report["groups"]["thin"]
    assert min(thick["ink"]) >= max(thin["ink"])
    for name in ("a.png", "a-labels.png", "a-interpolation.png", "a.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert json.loads((tmp_path / "a.json").read_text())["digit"] == 3
    train(dcgan_config("dcgan", epochs=1), tmp_path / "plain", fake_mnist(), progress=False)
    with pytest.raises(ValueError, match="needs the classifier"):
        noise_arithmetic(tmp_path / "plain", b, n=60, output=tmp_path / "b.png")
