"""Atomic file writes: a crash leaves the old file or the new one, never a torn one.

Every file the project writes goes through :func:`atomic_write`: the content goes to a
temporary file ``.NAME.HEX.tmp`` beside the target, is flushed to disk, and is renamed
over the target. A failure of the file system (a full disk, a read-only directory, a
path through a file) raises :class:`FileWriteError`, an ``OSError`` whose message names
the target and the cause in one line, and leaves the target as it was. A process killed
outright (SIGKILL, a power cut) can leave its temporary file behind:
:func:`remove_stale_temporaries` removes such files, and the commands call it when they
start on a directory.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import time
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_write", "atomic_copy", "FileWriteError", "describe_os_error",
           "remove_stale_temporaries", "TEMPORARY_NAME"]

# The temporary files of atomic_write: "." + the target's name + "." + 16 hex digits + ".tmp".
TEMPORARY_NAME = re.compile(r"^\..+\.[0-9a-f]{16}\.tmp$")


class FileWriteError(OSError):
    """A file could not be written: ``str()`` is one line naming the path and the cause."""

    def __init__(self, path, cause: OSError):
        super().__init__(cause.errno, cause.strerror or str(cause), str(path))
        self.path = Path(path)
        self.cause = cause

    def __str__(self) -> str:
        return f"cannot write {self.path}: {_cause(self.cause)}"


def _cause(exc: OSError) -> str:
    """The reason of an OSError without its file names (they are said separately)."""
    if exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def describe_os_error(exc: OSError) -> str:
    """One line for any OSError: ``PATH: cause`` (the path when it has one)."""
    if isinstance(exc, FileWriteError):
        return str(exc)
    names = [n for n in (exc.filename, exc.filename2) if n is not None]
    where = " -> ".join(str(n) for n in names)
    return f"{where}: {_cause(exc)}" if where else _cause(exc)


@contextmanager
def atomic_write(path, mode: str = "wb", **open_kwargs):
    """Open a temporary file beside ``path``; when the block ends without error, flush it
    to disk and rename it over ``path``; on error, remove it and leave ``path`` untouched.

    The temporary file is created with mode 0o666 less the umask (as ``open`` would), so
    a cache shared between users stays readable. Parent directories are created.
    ``open_kwargs`` (encoding, newline) go to the file object, as for ``open``.

    Raises :class:`FileWriteError` (an OSError) when the file system refuses: creating
    the directory or the file, writing, flushing or renaming. Any other exception of the
    block (or KeyboardInterrupt) propagates unchanged, the temporary file removed.
    """
    path = Path(path)
    try:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):  # a file where a directory should be
            blocking = next((p for p in reversed((path.parent, *path.parent.parents))
                             if p.exists() and not p.is_dir()), path.parent)
            raise NotADirectoryError(errno.ENOTDIR, f"{blocking} is a file, not a directory") from None
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        fd = os.open(tmp, flags, 0o666)
    except OSError as exc:
        raise FileWriteError(path, exc) from exc
    try:
        try:
            with os.fdopen(fd, mode, **open_kwargs) as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except FileWriteError:
            raise
        except OSError as exc:
            raise FileWriteError(path, exc) from exc
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def atomic_copy(source, target) -> Path:
    """Copy ``source`` to ``target`` through :func:`atomic_write` (a checkpoint kept under a
    second name, say). A source that cannot be read raises its OSError."""
    target = Path(target)
    with open(source, "rb") as f, atomic_write(target) as out:
        while chunk := f.read(1 << 22):
            out.write(chunk)
    return target


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (not possible on every platform)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temporaries(directory, *, older_than_s: float = 0.0) -> list[Path]:
    """Remove the temporary files that an interrupted :func:`atomic_write` left in
    ``directory`` (not below it); returns what was removed.

    Only names of the form ``.NAME.HEX.tmp`` are touched. ``older_than_s``: keep files
    modified more recently than this many seconds ago (a directory that other processes
    may be writing into at the same time, such as a shared data cache; a write takes
    seconds, so a file untouched for minutes has no writer). Errors are ignored: a file
    that cannot be removed now is tried again next time.
    """
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        if not TEMPORARY_NAME.match(entry.name):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            if older_than_s and now - entry.stat(follow_symlinks=False).st_mtime < older_than_s:
                continue
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            continue
    return removed
