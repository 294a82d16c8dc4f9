"""Reading MNIST (cgan.data.mnist): IDX files and their checks, the splits, loading.

Everything runs on tiny synthetic IDX files in tmp_path (tests/data/mnist_files.py); the
one real-data test runs only when the real files are already in the default cache
directory.
"""

from __future__ import annotations

import gzip
import hashlib

import numpy
import pytest

from cgan.data import mnist, mnist_fetch
from cgan.data.mnist import MnistError

from .mnist_files import N_TEST_IMAGES, N_TRAIN_IMAGES, idx_bytes, synthetic_arrays, write_files


# -- read_idx ---------------------------------------------------------------------------
def test_read_idx_round_trip(tmp_path):
    arrays = synthetic_arrays()
    for name, array in arrays.items():
        magic = mnist.IMAGES_MAGIC if array.ndim == 3 else mnist.LABELS_MAGIC
        (tmp_path / name).write_bytes(idx_bytes(array, magic))
        got = mnist.read_idx(tmp_path / name)
        assert got.dtype == numpy.uint8 and got.shape == array.shape
        numpy.testing.assert_array_equal(got, array)
        assert got.flags.writeable


def test_read_idx_reads_gz(tmp_path):
    images = synthetic_arrays()["train-images-idx3-ubyte"]
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_bytes(images, mnist.IMAGES_MAGIC)))
    numpy.testing.assert_array_equal(mnist.read_idx(path), images)


def test_wrong_magic_names_file_and_problem(tmp_path):
    labels = numpy.zeros(3, numpy.uint8)
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(labels, 1234))
    with pytest.raises(MnistError, match="labels: bad magic number 1234"):
        mnist.read_idx(path)
    # A labels file where images are expected is refused too.
    path.write_bytes(idx_bytes(labels, mnist.LABELS_MAGIC))
    with pytest.raises(MnistError, match="bad magic number 2049.*expected 2051"):
        mnist.read_idx(path, magic=mnist.IMAGES_MAGIC)


def test_gzip_under_a_plain_name_gets_a_hint(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(gzip.compress(idx_bytes(numpy.zeros((1, 28, 28)), mnist.IMAGES_MAGIC)))
    with pytest.raises(MnistError, match=r"gzip-compressed: rename it to train-images-idx3-ubyte\.gz"):
        mnist.read_idx(path)


def test_wrong_dimensions(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(idx_bytes(numpy.zeros((2, 27, 28)), mnist.IMAGES_MAGIC))
    with pytest.raises(MnistError, match=r"images: images are 27x28, expected 28x28"):
        mnist.read_idx(path)


@pytest.mark.parametrize("cut", [1, 28 * 28, 28 * 28 * 2 + 10])
def test_truncated_file(tmp_path, cut):
    data = idx_bytes(numpy.zeros((2, 28, 28)), mnist.IMAGES_MAGIC)
    path = tmp_path / "images"
    path.write_bytes(data[:-cut])
    with pytest.raises(MnistError, match=r"images: truncated"):
        mnist.read_idx(path)


def test_too_short_for_a_header(tmp_path):
    path = tmp_path / "tiny"
    path.write_bytes(b"\x00\x00")
    with pytest.raises(MnistError, match=r"tiny: truncated, only 2 bytes"):
        mnist.read_idx(path)


def test_too_long_file(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(numpy.zeros(4), mnist.LABELS_MAGIC) + b"\x00")
    with pytest.raises(MnistError, match=r"labels: too long \(trailing data\): 13 bytes.*means 12"):
        mnist.read_idx(path)


def test_missing_and_corrupt_gzip(tmp_path):
    with pytest.raises(MnistError, match="nope: file not found"):
        mnist.read_idx(tmp_path / "nope")
    path = tmp_path / "broken.gz"
    path.write_bytes(gzip.compress(b"x" * 1000)[:20])
    with pytest.raises(MnistError, match="broken.gz: corrupt or truncated gzip"):
        mnist.read_idx(path)


# -- loading ----------------------------------------------------------------------------
def test_fetch_false_never_downloads(tmp_path, synthetic):
    with pytest.raises(MnistError, match=r"fetch=False(.|\n)*put these files in"):
        mnist.load_mnist(tmp_path / "empty", fetch=False, progress=False)
    assert not (tmp_path / "empty").exists()


# -- splits -----------------------------------------------------------------------------
def test_make_splits_sizes_dtypes_ranges():
    arrays = synthetic_arrays()
    s = mnist.make_splits(*arrays.values(), n_train=8)
    assert s.train_x.shape == (8, 784) and s.valid_x.shape == (4, 784)
    assert s.test_x.shape == (N_TEST_IMAGES, 784)
    assert (s.train_y.shape, s.valid_y.shape, s.test_y.shape) == ((8,), (4,), (N_TEST_IMAGES,))
    for x in (s.train_x, s.valid_x, s.test_x):
        assert x.dtype == numpy.float32 and x.min() >= 0.0 and x.max() <= 1.0
    for y in (s.train_y, s.valid_y, s.test_y):
        assert y.dtype == numpy.int64
    assert s.train_x[0, 0] == 0.0 and s.train_x[0, 1] == 1.0
    # Validation is the *last* part of the training file, in order.
    train = arrays["train-images-idx3-ubyte"]
    numpy.testing.assert_array_equal(s.valid_x * 255, train[8:].reshape(4, 784))
    numpy.testing.assert_array_equal(s.valid_y, arrays["train-labels-idx1-ubyte"][8:])


def test_make_splits_rejects_empty_validation():
    arrays = synthetic_arrays()
    with pytest.raises(MnistError, match="n_train=12"):
        mnist.make_splits(*arrays.values(), n_train=N_TRAIN_IMAGES)


def test_load_mnist_splits_use_n_train(tmp_path, synthetic, monkeypatch):
    monkeypatch.setattr(mnist, "N_TRAIN", 10)
    write_files(tmp_path, synthetic)
    s = mnist.load_mnist(tmp_path, progress=False)
    assert (len(s.train_x), len(s.valid_x), len(s.test_x)) == (10, 2, N_TEST_IMAGES)
    numpy.testing.assert_array_equal(s.train_y, numpy.arange(10) % 10)


def test_labels_out_of_range_refused(tmp_path, synthetic, monkeypatch):
    name = "t10k-labels-idx1-ubyte"
    synthetic[name] = idx_bytes(numpy.full(N_TEST_IMAGES, 10, numpy.uint8), mnist.LABELS_MAGIC)
    monkeypatch.setitem(mnist_fetch.MNIST_FILES, name, hashlib.sha256(synthetic[name]).hexdigest())
    write_files(tmp_path, synthetic)
    with pytest.raises(MnistError, match=rf"{name}: label 10 out of range"):
        mnist.load_mnist(tmp_path, progress=False)


# -- the real files, only if they are already here ----------------------------------------
def _real_files_present() -> bool:
    directory = mnist_fetch.default_data_dir()
    return all((directory / n).is_file() or (directory / f"{n}.gz").is_file()
               for n in mnist_fetch.MNIST_FILES)


@pytest.mark.skipif(not _real_files_present(),
                    reason="real MNIST not in the default data directory (run load_mnist() once)")
def test_real_mnist_smoke():
    s = mnist.load_mnist(fetch=False, progress=False)
    assert s.train_x.shape == (50_000, 784)
    assert s.valid_x.shape == (10_000, 784) and s.test_x.shape == (10_000, 784)
    for y in (s.train_y, s.valid_y, s.test_y):
        assert set(numpy.unique(y).tolist()) == set(range(10))
    assert 0.0 == s.train_x.min() and s.train_x.max() == 1.0
