"""Atomic writes (nn.fileio): a failure is one FileWriteError naming the path and the cause,
the target is left as it was, and no temporary file stays; the temporaries of a killed
write are removed by remove_stale_temporaries."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nn.fileio import FileWriteError, atomic_write, describe_os_error, remove_stale_temporaries

ROOT = Path(__file__).resolve().parents[2]


def test_a_full_disk_is_one_line_naming_the_file(tmp_path):
    """RLIMIT_FSIZE in a child process: writes past 64 KiB fail with EFBIG, as on a full disk
    (Python ignores SIGXFSZ, so the write returns the error)."""
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))\n"
        "from nn.fileio import atomic_write, FileWriteError\n"
        "path = sys.argv[1]\n"
        "with atomic_write(path) as f: f.write(b'old')\n"
        "try:\n"
        "    with atomic_write(path) as f: f.write(b'x' * 200000)\n"
        "except FileWriteError as exc:\n"
        "    print(exc)\n"
    )
    target = tmp_path / "big.bin"
    proc = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"cannot write {target}: File too large"
    assert target.read_bytes() == b"old"                     # the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["big.bin"]   # and no temporary stays


def test_a_failing_write_leaves_the_target_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "f.json"
    target.write_text("old")

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(FileWriteError) as info:
        with atomic_write(target, "w") as f:
            f.write("new")
    assert str(info.value) == f"cannot write {target}: No space left on device"
    assert isinstance(info.value, OSError) and info.value.errno == errno.ENOSPC
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_a_file_where_a_directory_should_be(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileWriteError, match=r"cannot write .*file/sub/out.png: .*file is a file, not a directory"):
        with atomic_write(tmp_path / "file" / "sub" / "out.png") as f:
            f.write(b"png")
    with pytest.raises(FileWriteError, match="cannot write .*: Is a directory"):
        with atomic_write(tmp_path) as f:   # the target itself is a directory
            f.write(b"")


def test_an_interrupt_removes_the_temporary_and_propagates(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(tmp_path / "x") as f:
            f.write(b"half")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_stale_temporaries_are_removed_and_nothing_else(tmp_path):
    stale = tmp_path / ".latest.npz.0123456789abcdef.tmp"
    fresh = tmp_path / ".metrics.jsonl.fedcba9876543210.tmp"
    keep = [tmp_path / "latest.npz", tmp_path / ".hidden.tmp", tmp_path / ".x.0123.tmp"]
    for p in (stale, fresh, *keep):
        p.write_bytes(b"x")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    assert remove_stale_temporaries(tmp_path, older_than_s=600) == [stale]   # a fresh one may have a writer
    assert fresh.exists()
    assert remove_stale_temporaries(tmp_path) == [fresh]
    assert all(p.exists() for p in keep)
    assert remove_stale_temporaries(tmp_path / "missing") == []


def test_describe_os_error():
    assert describe_os_error(FileNotFoundError(2, "No such file or directory", "vec.txt")) == \
        "vec.txt: No such file or directory"
    assert describe_os_error(OSError("plain")) == "plain"


def test_atomic_copy(tmp_path):
    from nn.fileio import atomic_copy

    (tmp_path / "a").write_bytes(b"x" * (5 << 20))
    assert atomic_copy(tmp_path / "a", tmp_path / "b") == tmp_path / "b"
    assert (tmp_path / "b").read_bytes() == (tmp_path / "a").read_bytes()
    with pytest.raises(FileNotFoundError):
        atomic_copy(tmp_path / "missing", tmp_path / "c")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]
