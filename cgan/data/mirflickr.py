"""MIR Flickr 25K (the 20,015 tagged images of the common-vocabulary preprocessing).

The directory holds (see /work/shared/mirflickr/README.md for the copy this project uses):

* ``all_imgs.txt``: one image path a line, ``mirflickr/imN.jpg``;
* ``all_tags.txt``: the same rows, that image's user tags, comma separated;
* ``all_labels.txt``: the same rows, 24 space-separated 0/1 concept annotations;
* ``TagList.txt``: the tag vocabulary, one word a line;
* ``mirflickr/imN.jpg``: the images (possibly only some of them);
* ``features/efficientnet_lite0.npz``: ``features`` (n, d) float32 (or float16, cast to
  float32 on load) and ``image_ids`` (n,), row i being image ``im{image_ids[i]}.jpg``
  (possibly only some images); ``features/efficientnet_lite0_crops128.npz`` is the same
  for images 1-20,000 from 128 x 128 centre crops (:data:`CROPS128_FEATURES_FILE`, the
  tagging experiment's default).

:func:`load_mirflickr` reads and validates all of it. A malformed file is an error that
names the file and the 1-based line (:class:`MirFlickrError`); rows without features (or,
with ``need_images=True``, without an image file) are not an error: they are left out of
``feature_rows`` and counted in one line on stderr.

As in the paper, training examples are (image, tag) pairs, an image with several tags
appearing once per tag: :func:`split_rows` splits by image (row) with a fixed seed, and
:func:`tag_pairs` expands rows to one pair per tag.

This is plain host file I/O, so it uses NumPy directly (the model code never does).
"""

from __future__ import annotations

import itertools
import os
import re
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy

__all__ = [
    "CROPS128_FEATURES_FILE",
    "ENV_VAR",
    "FEATURES_FILE",
    "LABEL_NAMES",
    "MirFlickr",
    "MirFlickrError",
    "default_data_dir",
    "load_mirflickr",
    "split_rows",
    "tag_pairs",
]

ENV_VAR = "CGAN_MIRFLICKR_DIR"
IMGS_FILE = "all_imgs.txt"
TAGS_FILE = "all_tags.txt"
LABELS_FILE = "all_labels.txt"
VOCAB_FILE = "TagList.txt"
FEATURES_FILE = "features/efficientnet_lite0.npz"
# Images 1-20,000 from 128 x 128 centre crops, float16 (/work/shared/mirflickr/README.md).
CROPS128_FEATURES_FILE = "features/efficientnet_lite0_crops128.npz"

# The MIR Flickr 25K concepts, in the (alphabetical) column order of all_labels.txt.
LABEL_NAMES = (
    "animals", "baby", "bird", "car", "clouds", "dog", "female", "flower", "food", "indoor",
    "lake", "male", "night", "people", "plant_life", "portrait", "river", "sea", "sky",
    "structures", "sunset", "transport", "tree", "water",
)

# A relative path whose file name is imN.jpg (N >= 1), with no '..' or absolute part.
_IMAGE_PATH = re.compile(r"(?:[A-Za-z0-9_-]+/)*im([1-9][0-9]*)\.jpg")


class MirFlickrError(ValueError):
    """The MIR Flickr directory is missing, or one of its files is malformed."""


@dataclass
class MirFlickr:
    """The dataset, one row per image of ``all_imgs.txt``.

    Attributes:
        data_dir: the directory it was read from.
        vocab: the tag words, in TagList.txt order (a tag's index is its position here).
        image_paths: absolute path of each row's image (the file may not exist).
        image_ids: N of each row's ``imN.jpg``.
        tags: each row's tags as vocabulary indices, in file order, without repeats
            (tags not in the vocabulary are skipped and counted).
        labels: (n_rows, 24) float32, the 0/1 concept annotations.
        label_names: the 24 concept names, the columns of ``labels``.
        features: (len(feature_rows), d) float32, row j the features of row
            ``feature_rows[j]``.
        feature_rows: the rows that have features (and, if asked, an image file).
        counts: how many rows, tags, skips (see :func:`load_mirflickr`).
    """

    data_dir: Path
    vocab: list[str]
    image_paths: list[str]
    image_ids: list[int]
    tags: list[list[int]]
    labels: numpy.ndarray
    label_names: list[str]
    features: numpy.ndarray
    feature_rows: list[int]
    counts: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.image_ids)


# -- locating the data ----------------------------------------------------------------
_CHECKOUT = Path(__file__).resolve().parents[2]   # the checkout this package was loaded from


def default_data_dir() -> Path:
    """``$CGAN_MIRFLICKR_DIR`` if set, else the first ``shared/mirflickr`` holding the lists in
    the current directory or one of its parents (so ``../shared/mirflickr`` from a checkout
    beside ``shared/``), else the one beside the checkout this package was loaded from: the
    same layout is found from any directory."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    cwd = Path.cwd()
    checkout = _CHECKOUT
    candidates = [d / "shared" / "mirflickr" for d in (cwd, *cwd.parents)]
    candidates.append(checkout.parent / "shared" / "mirflickr")
    for candidate in candidates:
        if (candidate / IMGS_FILE).exists():
            return candidate
    raise MirFlickrError(
        f"MIR Flickr data not found: {ENV_VAR} is not set and neither {cwd} nor its parents, "
        f"nor {checkout.parent}, have shared/mirflickr/{IMGS_FILE}. Pass --data-dir DIR "
        f"(data_dir=...), a directory holding {IMGS_FILE}, {TAGS_FILE}, {LABELS_FILE} and "
        f"{VOCAB_FILE}, or set {ENV_VAR}."
    )


def _resolve(data_dir) -> Path:
    directory = Path(data_dir) if data_dir is not None else default_data_dir()
    if not directory.is_dir():
        raise MirFlickrError(
            f"MIR Flickr directory {directory} does not exist; pass --data-dir DIR "
            f"(or set {ENV_VAR})"
        )
    for name in (IMGS_FILE, TAGS_FILE, LABELS_FILE, VOCAB_FILE):
        if not (directory / name).is_file():
            raise MirFlickrError(f"{directory / name}: missing (the MIR Flickr list files are "
                                 f"{IMGS_FILE}, {TAGS_FILE}, {LABELS_FILE}, {VOCAB_FILE})")
    return directory


def _read_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file, without their LF or CRLF ends (one final end allowed)."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MirFlickrError(f"{path}: line {line}: not valid UTF-8 ({exc.reason})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _error(path: Path, line: int, message: str) -> MirFlickrError:
    return MirFlickrError(f"{path}: line {line}: {message}")


# -- the list files --------------------------------------------------------------------
def _read_vocab(path: Path) -> list[str]:
    words = _read_lines(path)
    if not words:
        raise MirFlickrError(f"{path}: empty vocabulary")
    seen: dict[str, int] = {}
    for i, word in enumerate(words, 1):
        if not word.strip():
            raise _error(path, i, "empty word")
        if word != word.strip() or "," in word:
            raise _error(path, i, f"word {word!r} has surrounding spaces or a comma")
        if word in seen:
            raise _error(path, i, f"word {word!r} repeats line {seen[word]}")
        seen[word] = i
    return words


def _read_images(path: Path) -> tuple[list[str], list[int]]:
    lines = _read_lines(path)
    ids, first = [], {}
    for i, line in enumerate(lines, 1):
        match = _IMAGE_PATH.fullmatch(line)
        if match is None:
            raise _error(path, i, f"bad image path {line!r} (expected a relative path to imN.jpg, "
                                  "e.g. mirflickr/im1.jpg)")
        image_id = int(match.group(1))
        if image_id in first:
            raise _error(path, i, f"image {line!r} repeats line {first[image_id]}")
        first[image_id] = i
        ids.append(image_id)
    return lines, ids


def _read_tags(path: Path, index: dict[str, int], counts: dict) -> list[list[int]]:
    rows = []
    unknown = duplicate = 0
    for i, line in enumerate(_read_lines(path), 1):
        if not line.strip():
            raise _error(path, i, "empty tag line (every row needs at least one tag)")
        row: list[int] = []
        for position, word in enumerate(line.split(","), 1):
            word = word.strip()
            if not word:
                raise _error(path, i, f"empty tag at position {position} in {line!r}")
            v = index.get(word)
            if v is None:
                unknown += 1
            elif v in row:
                duplicate += 1
            else:
                row.append(v)
        rows.append(row)
    counts["tags_unknown_skipped"] = unknown
    counts["tags_repeated_skipped"] = duplicate
    return rows


def _read_labels(path: Path, n_columns: int) -> numpy.ndarray:
    values = []
    for i, line in enumerate(_read_lines(path), 1):
        fields = line.split()
        if len(fields) != n_columns:
            raise _error(path, i, f"{len(fields)} label columns, expected {n_columns}")
        for column, value in enumerate(fields, 1):
            if value not in ("0", "1"):
                raise _error(path, i, f"column {column} ({LABEL_NAMES[column - 1]}) is "
                                      f"{value!r}, expected 0 or 1")
        values.append(fields)
    if not values:
        return numpy.zeros((0, n_columns), numpy.float32)
    return (numpy.asarray(values) == "1").astype(numpy.float32)


def _check_same_length(reference: tuple[Path, int], other: tuple[Path, int]) -> None:
    (ref_path, n_ref), (path, n) = reference, other
    if n == n_ref:
        return
    if n < n_ref:
        raise _error(path, n + 1, f"missing: the file ends after {n:,} lines, but "
                                  f"{ref_path.name} has {n_ref:,}")
    raise _error(path, n_ref + 1, f"extra line: {ref_path.name} has only {n_ref:,} lines")


# -- features ---------------------------------------------------------------------------
def _read_features(path: Path) -> tuple[numpy.ndarray, numpy.ndarray]:
    try:
        with numpy.load(path, allow_pickle=False) as data:
            missing = {"features", "image_ids"} - set(data.files)
            if missing:
                raise MirFlickrError(f"{path}: no array {sorted(missing)} (it has {data.files})")
            features, ids = data["features"], data["image_ids"]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        if isinstance(exc, MirFlickrError):
            raise
        raise MirFlickrError(f"{path}: not a readable .npz file ({exc})") from None
    if features.ndim != 2 or ids.shape != (features.shape[0],):
        raise MirFlickrError(
            f"{path}: 'features' must be (n, d) and 'image_ids' (n,), got "
            f"{features.shape} and {ids.shape}"
        )
    if ids.dtype.kind not in "iu":
        raise MirFlickrError(f"{path}: 'image_ids' must be integers, got {ids.dtype}")
    if features.dtype not in (numpy.float32, numpy.float16):
        raise MirFlickrError(f"{path}: 'features' must be float32 or float16, got {features.dtype}")
    features = features.astype(numpy.float32, copy=False)
    if len(numpy.unique(ids)) != len(ids):
        raise MirFlickrError(f"{path}: 'image_ids' has repeated ids")
    if not numpy.isfinite(features).all():
        raise MirFlickrError(f"{path}: 'features' has NaN or infinite values")
    return features, ids.astype(numpy.int64)


def load_mirflickr(data_dir=None, *, need_images: bool = False,
                   features_file: str = FEATURES_FILE, stream=None) -> MirFlickr:
    """Read and validate the MIR Flickr lists, the vocabulary and the image features.

    Args:
        data_dir: the directory (default :func:`default_data_dir`: ``$CGAN_MIRFLICKR_DIR``,
            else ``shared/mirflickr`` in the current directory or a parent, or beside the
            checkout).
        need_images: also require each feature row's image file to exist (rows without
            one are left out of ``feature_rows``), and make a missing features file an
            error. Without it, a missing features file gives no feature rows.
        features_file: the features ``.npz``, relative to ``data_dir``.
        stream: where the one summary line goes (default stderr).

    Returns:
        A :class:`MirFlickr`. ``counts`` has ``rows``, ``vocab``, ``tags`` (kept),
        ``tags_unknown_skipped``, ``tags_repeated_skipped``, ``rows_without_known_tags``,
        ``with_features``, ``with_images`` (None unless ``need_images``),
        ``feature_rows`` and ``skipped_for_features``.

    Raises:
        MirFlickrError: the directory or a list file is missing, or a file is malformed
            (the message names the file and the 1-based line).
    """
    directory = _resolve(data_dir)
    stream = sys.stderr if stream is None else stream
    counts: dict = {}

    vocab = _read_vocab(directory / VOCAB_FILE)
    index = {word: v for v, word in enumerate(vocab)}
    paths, image_ids = _read_images(directory / IMGS_FILE)
    n = len(paths)
    if n == 0:
        raise MirFlickrError(f"{directory / IMGS_FILE}: no rows")
    tags = _read_tags(directory / TAGS_FILE, index, counts)
    labels = _read_labels(directory / LABELS_FILE, len(LABEL_NAMES))
    reference = (directory / IMGS_FILE, n)
    _check_same_length(reference, (directory / TAGS_FILE, len(tags)))
    _check_same_length(reference, (directory / LABELS_FILE, labels.shape[0]))

    # Features, aligned to the rows that have them.
    features_path = directory / features_file
    ids = numpy.asarray(image_ids, dtype=numpy.int64)
    table, has_features, feature_index, dim = None, numpy.zeros(n, bool), None, 0
    if features_path.is_file():
        table, table_ids = _read_features(features_path)
        dim = table.shape[1]
        if len(table_ids):
            order = numpy.argsort(table_ids)
            position = numpy.minimum(numpy.searchsorted(table_ids[order], ids), len(order) - 1)
            feature_index = order[position]
            has_features = table_ids[feature_index] == ids
    elif need_images:
        raise MirFlickrError(f"{features_path}: missing (the image features are needed)")
    else:
        print(f"mirflickr: no features file {features_path}", file=stream)

    image_paths = [str(directory / p) for p in paths]
    usable = has_features.copy()
    with_images = None
    if need_images:
        has_image = numpy.fromiter((os.path.isfile(p) for p in image_paths), bool, count=n)
        with_images = int(has_image.sum())
        usable &= has_image
    feature_rows = numpy.flatnonzero(usable)
    features = (table[feature_index[feature_rows]] if feature_index is not None
                else numpy.zeros((0, dim), numpy.float32))

    counts.update(
        rows=n,
        vocab=len(vocab),
        tags=sum(len(row) for row in tags),
        rows_without_known_tags=sum(1 for row in tags if not row),
        with_features=int(has_features.sum()),
        with_images=with_images,
        feature_rows=len(feature_rows),
        skipped_for_features=n - len(feature_rows),
    )
    what = "with features and images" if need_images else "with features"
    detail = ""
    if need_images:
        detail = (f": {n - counts['with_features']:,} lack features, "
                  f"{n - with_images:,} lack an image file")
    unknown = counts["tags_unknown_skipped"]
    tail = f"; {unknown:,} tags not in the vocabulary skipped" if unknown else ""
    print(
        f"mirflickr: {n:,} rows; {len(feature_rows):,} {what}, "
        f"{n - len(feature_rows):,} without (skipped for image conditioning{detail}){tail}",
        file=stream,
    )
    return MirFlickr(
        data_dir=directory,
        vocab=vocab,
        image_paths=image_paths,
        image_ids=image_ids,
        tags=tags,
        labels=labels,
        label_names=list(LABEL_NAMES),
        features=numpy.ascontiguousarray(features, dtype=numpy.float32),
        feature_rows=[int(r) for r in feature_rows],
        counts=counts,
    )


# -- splits and pairs --------------------------------------------------------------------
def split_rows(rows, seed: int = 0, fractions=(0.8, 0.1, 0.1)) -> dict:
    """Split rows (images) into train, valid and test at random, reproducibly.

    Args:
        rows: the number of rows n (rows 0..n-1), or a sequence/array of row ids.
        seed: the permutation's seed; the same seed gives the same split.
        fractions: (train, valid, test), non-negative, summing to 1. The sizes are
            round(n * train), round(n * valid) and the rest.

    Returns:
        ``dict(train=, valid=, test=)`` of sorted int64 arrays of row ids: disjoint, and
        together all the rows. Every tag of an image goes with it, so no image is in two
        splits.
    """
    if isinstance(rows, (int, numpy.integer)):
        ids = numpy.arange(int(rows), dtype=numpy.int64)
    else:
        ids = numpy.asarray(rows, dtype=numpy.int64).reshape(-1)
        if len(numpy.unique(ids)) != len(ids):
            raise ValueError("split_rows: the row ids repeat")
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"split_rows: fractions must be 3 non-negative numbers summing to 1, "
                         f"got {fractions!r}")
    n = len(ids)
    n_train = int(round(n * fractions[0]))
    n_valid = min(int(round(n * fractions[1])), n - n_train)
    shuffled = ids[numpy.random.default_rng(seed).permutation(n)]
    parts = numpy.split(shuffled, [n_train, n_train + n_valid])
    return {name: numpy.sort(part) for name, part in zip(("train", "valid", "test"), parts)}


def tag_pairs(rows, tags) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Expand rows to (image, tag) pairs, one per tag of each row, as the paper trains.

    Args:
        rows: row ids (e.g. a split from :func:`split_rows`).
        tags: the dataset's tags (``MirFlickr.tags``), a list of vocabulary-index lists.

    Returns:
        ``(row_index, tag_index)``, two int64 arrays of equal length: row r with tags
        [a, b] gives the pairs (r, a) and (r, b); rows without tags give none.
    """
    rows = numpy.asarray(rows, dtype=numpy.int64).reshape(-1)
    chosen = [tags[r] for r in rows.tolist()]
    lengths = numpy.fromiter(map(len, chosen), numpy.int64, count=len(chosen))
    row_index = numpy.repeat(rows, lengths)
    tag_index = numpy.fromiter(itertools.chain.from_iterable(chosen), numpy.int64,
                               count=int(lengths.sum()))
    return row_index, tag_index
