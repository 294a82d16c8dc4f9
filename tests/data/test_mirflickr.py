"""MIR Flickr reader: tiny fixtures (well-formed and malformed), skips, splits, pairs, real data."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest

from cgan.data import mirflickr
from cgan.data.mirflickr import MirFlickrError, load_mirflickr, split_rows, tag_pairs

VOCAB = ["sky", "dog", "sea", "night"]


def _labels(*ones):
    row = ["0"] * 24
    for column in ones:
        row[column] = "1"
    return " ".join(row)


def write_fixture(root: Path, *, imgs=None, tags=None, labels=None, vocab=None, features=True,
                  images=(1, 2), newline="\r\n") -> Path:
    """A 4-row MIR Flickr directory; features for images 1, 3 and 9; image files for ``images``."""
    imgs = imgs if imgs is not None else [f"mirflickr/im{i}.jpg" for i in (1, 2, 3, 5)]
    tags = tags if tags is not None else ["sky,sea", "dog", "night,sky,moon,sky", "sea"]
    labels = labels if labels is not None else [_labels(18, 17), _labels(5), _labels(12, 18),
                                                _labels(17)]
    vocab = vocab if vocab is not None else VOCAB
    root.mkdir(parents=True, exist_ok=True)
    for name, lines in (("all_imgs.txt", imgs), ("all_tags.txt", tags),
                        ("all_labels.txt", labels), ("TagList.txt", vocab)):
        (root / name).write_bytes("".join(line + newline for line in lines).encode("utf-8"))
    (root / "mirflickr").mkdir(exist_ok=True)
    for i in images:
        (root / "mirflickr" / f"im{i}.jpg").write_bytes(b"\xff\xd8")
    if features:
        (root / "features").mkdir(exist_ok=True)
        ids = np.array([9, 3, 1], dtype=np.int32)
        feats = np.stack([np.full(5, i, np.float32) for i in ids])
        np.savez(root / "features" / "efficientnet_lite0.npz", features=feats, image_ids=ids)
    return root


def load(root, **kw):
    stream = io.StringIO()
    data = load_mirflickr(root, stream=stream, **kw)
    return data, stream.getvalue()


def test_reads_a_well_formed_directory(tmp_path):
    data, message = load(write_fixture(tmp_path))
    assert data.vocab == VOCAB
    assert data.image_ids == [1, 2, 3, 5]
    assert data.image_paths[1] == str(tmp_path / "mirflickr" / "im2.jpg")
    # "moon" is not in the vocabulary (skipped), the second "sky" repeats (skipped).
    assert data.tags == [[0, 2], [1], [3, 0], [2]]
    assert data.counts["tags_unknown_skipped"] == 1
    assert data.counts["tags_repeated_skipped"] == 1
    assert data.labels.dtype == np.float32 and data.labels.shape == (4, 24)
    assert data.labels[1].tolist() == [1.0 if c == 5 else 0.0 for c in range(24)]
    assert data.label_names[5] == "dog" and len(data.label_names) == 24
    assert data.label_names == sorted(data.label_names)
    # Features exist for images 1 and 3 (rows 0 and 2); image 9 is not a row.
    assert data.feature_rows == [0, 2]
    assert data.features.dtype == np.float32
    np.testing.assert_array_equal(data.features[:, 0], [1, 3])
    assert data.counts["with_features"] == 2 and data.counts["skipped_for_features"] == 2
    assert message.count("\n") == 1
    assert "mirflickr: 4 rows; 2 with features, 2 without (skipped for image conditioning)" in message


def test_need_images_skips_rows_without_an_image_file(tmp_path):
    data, message = load(write_fixture(tmp_path, images=(2, 3)), need_images=True)
    assert data.feature_rows == [2]           # image 1 has features but no file
    np.testing.assert_array_equal(data.features[:, 0], [3])
    assert data.counts["with_images"] == 2
    assert "1 with features and images, 3 without" in message
    assert message.count("\n") == 1


def test_missing_features_file(tmp_path):
    root = write_fixture(tmp_path, features=False)
    data, message = load(root)
    assert data.feature_rows == [] and data.features.shape[0] == 0
    assert "no features file" in message
    with pytest.raises(MirFlickrError, match="efficientnet_lite0.npz: missing"):
        load(root, need_images=True)


def test_lf_line_ends_and_no_final_newline(tmp_path):
    root = write_fixture(tmp_path, newline="\n")
    for name in ("all_imgs.txt", "TagList.txt"):
        path = root / name
        path.write_bytes(path.read_bytes().rstrip(b"\n"))
    data, _ = load(root)
    assert data.vocab == VOCAB and len(data) == 4


@pytest.mark.parametrize("change, file, line, what", [
    (dict(labels=[_labels(1), "0 1 0", _labels(), _labels()]), "all_labels.txt", 2,
     "3 label columns, expected 24"),
    (dict(labels=[_labels(), _labels(), _labels().replace("0", "2", 1), _labels()]),
     "all_labels.txt", 3, "column 1 \\(animals\\) is '2'"),
    (dict(tags=["sky", "", "sea", "dog"]), "all_tags.txt", 2, "empty tag line"),
    (dict(tags=["sky", "dog", "sea,,dog", "dog"]), "all_tags.txt", 3, "empty tag at position 2"),
    (dict(imgs=["mirflickr/im1.jpg", "mirflickr/im2.png", "mirflickr/im3.jpg",
                "mirflickr/im4.jpg"]), "all_imgs.txt", 2, "bad image path"),
    (dict(imgs=["mirflickr/im1.jpg", "mirflickr/im2.jpg", "../im3.jpg", "mirflickr/im4.jpg"]),
     "all_imgs.txt", 3, "bad image path"),
    (dict(imgs=["mirflickr/im1.jpg", "mirflickr/im2.jpg", "mirflickr/im3.jpg",
                "mirflickr/im1.jpg"]), "all_imgs.txt", 4, "image 'mirflickr/im1.jpg' repeats line 1"),
    (dict(tags=["sky", "dog", "sea"]), "all_tags.txt", 4, "missing: the file ends after 3"),
    (dict(labels=[_labels()] * 5), "all_labels.txt", 5, "extra line"),
    (dict(vocab=["sky", "dog", "sky"]), "TagList.txt", 3, "word 'sky' repeats line 1"),
    (dict(vocab=["sky", "", "dog"]), "TagList.txt", 2, "empty word"),
])
def test_malformed_files_name_file_and_line(tmp_path, change, file, line, what):
    write_fixture(tmp_path, **change)
    with pytest.raises(MirFlickrError, match=f"{file}: line {line}: {what}"):
        load(tmp_path)


def test_invalid_utf8_names_the_line(tmp_path):
    write_fixture(tmp_path)
    (tmp_path / "all_tags.txt").write_bytes(b"sky\r\ndog\r\nse\xffa\r\nsea\r\n")
    with pytest.raises(MirFlickrError, match="all_tags.txt: line 3: not valid UTF-8"):
        load(tmp_path)


def test_float16_features_are_read_as_float32(tmp_path):
    root = write_fixture(tmp_path, features=False)
    (root / "features").mkdir()
    np.savez(root / "features" / "half.npz", features=np.full((2, 3), 0.5, np.float16),
             image_ids=np.array([3, 1]))
    data, _ = load(root, features_file="features/half.npz")
    assert data.features.dtype == np.float32 and data.feature_rows == [0, 2]
    np.savez(root / "features" / "int.npz", features=np.ones((2, 3), np.int32), image_ids=np.array([3, 1]))
    with pytest.raises(MirFlickrError, match="float32 or float16"):
        load(root, features_file="features/int.npz")


def test_bad_features_file(tmp_path):
    write_fixture(tmp_path)
    np.savez(tmp_path / "features" / "efficientnet_lite0.npz", features=np.zeros((2, 3), np.float32))
    with pytest.raises(MirFlickrError, match=r"efficientnet_lite0.npz: no array \['image_ids'\]"):
        load(tmp_path)
    (tmp_path / "features" / "efficientnet_lite0.npz").write_bytes(b"not a zip")
    with pytest.raises(MirFlickrError, match="not a readable .npz"):
        load(tmp_path)


def test_data_dir_resolution(tmp_path, monkeypatch):
    root = write_fixture(tmp_path / "elsewhere")
    monkeypatch.setenv(mirflickr.ENV_VAR, str(root))
    assert len(load(None)[0]) == 4
    monkeypatch.delenv(mirflickr.ENV_VAR)
    work = tmp_path / "repo"
    (work / "sub").mkdir(parents=True)
    monkeypatch.chdir(work / "sub")
    monkeypatch.setattr(mirflickr, "_CHECKOUT", tmp_path / "checkout")
    with pytest.raises(MirFlickrError, match="Pass --data-dir"):
        load(None)
    write_fixture(tmp_path / "shared" / "mirflickr")
    assert mirflickr.default_data_dir() == tmp_path / "shared" / "mirflickr"   # found from a subdirectory
    assert len(load(None)[0]) == 4
    monkeypatch.chdir("/")                                                      # from anywhere: beside the checkout
    monkeypatch.setattr(mirflickr, "_CHECKOUT", tmp_path / "repo")
    assert mirflickr.default_data_dir() == tmp_path / "shared" / "mirflickr"
    with pytest.raises(MirFlickrError, match="does not exist"):
        load(tmp_path / "nowhere")
    (root / "all_tags.txt").unlink()
    with pytest.raises(MirFlickrError, match="all_tags.txt: missing"):
        load(root)


# -- splits and pairs ----------------------------------------------------------------------
def test_split_is_disjoint_complete_and_deterministic():
    splits = split_rows(1003, seed=5)
    parts = [splits[k] for k in ("train", "valid", "test")]
    assert [len(p) for p in parts] == [802, 100, 101]
    joined = np.concatenate(parts)
    assert sorted(joined.tolist()) == list(range(1003))
    again = split_rows(1003, seed=5)
    assert all(np.array_equal(splits[k], again[k]) for k in splits)
    other = split_rows(1003, seed=6)
    assert not np.array_equal(splits["test"], other["test"])
    ids = np.arange(100, 200)[::-1]
    sub = split_rows(ids, seed=0, fractions=(0.5, 0.5, 0.0))
    assert len(sub["test"]) == 0
    assert sorted(np.concatenate(list(sub.values())).tolist()) == list(range(100, 200))
    with pytest.raises(ValueError, match="summing to 1"):
        split_rows(10, fractions=(0.5, 0.2, 0.2))
    with pytest.raises(ValueError, match="repeat"):
        split_rows([1, 1, 2])


def test_tag_pairs_expand_one_pair_per_tag():
    tags = [[0, 2], [1], [3, 0, 2], [], [2]]
    rows, words = tag_pairs([2, 0, 3, 4], tags)
    assert rows.tolist() == [2, 2, 2, 0, 0, 4]
    assert words.tolist() == [3, 0, 2, 0, 2, 2]
    assert rows.dtype == np.int64 and words.dtype == np.int64
    rows, words = tag_pairs([], tags)
    assert rows.shape == (0,) and words.shape == (0,)


# -- the real data ---------------------------------------------------------------------------
def _shared_dir():
    candidates = [os.environ.get(mirflickr.ENV_VAR),
                  Path(__file__).resolve().parents[3] / "shared" / "mirflickr"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "all_imgs.txt").exists():
            return Path(candidate)
    return None


@pytest.mark.skipif(_shared_dir() is None, reason="the shared MIR Flickr directory is absent")
def test_the_shared_data():
    data, message = load(_shared_dir())
    assert len(data) == 20_015 and len(data.tags) == 20_015
    assert len(data.vocab) == 1_386
    assert data.labels.shape == (20_015, 24)
    assert len(data.feature_rows) == 730 and data.features.shape == (730, 1280)
    assert all(data.image_ids[r] <= 1000 for r in data.feature_rows)
    crops = load_mirflickr(_shared_dir(), features_file=mirflickr.CROPS128_FEATURES_FILE,
                           stream=io.StringIO())
    assert len(crops.feature_rows) == 15_677 and crops.features.dtype == np.float32
    assert all(crops.image_ids[r] <= 20_000 for r in crops.feature_rows)
    assert all(1 <= len(t) <= 57 for t in data.tags)
    assert "20,015 rows; 730 with features" in message
    splits = split_rows(len(data))
    rows, words = tag_pairs(splits["train"], data.tags)
    assert len(rows) == sum(len(data.tags[r]) for r in splits["train"])
