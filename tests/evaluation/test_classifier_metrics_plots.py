"""The evaluation classifier, the metrics built on it, and the figures (synthetic data, fast)."""

from __future__ import annotations

import types

import matplotlib.image
import numpy as np
import pytest

import nn
from cgan.evaluation import classifier as clf
from cgan.evaluation.metrics import frechet_distance, label_accuracy, mean_and_covariance
from cgan.evaluation.plots import image_mosaic, plot_training_curves, save_image_grid, save_samples_over_training


def synthetic_splits(n_train=1000, n_test=300, noise=0.3, seed=0):
    """10 classes of noisy random prototypes in [0, 1]^784, with MnistSplits' attributes."""
    rng = np.random.default_rng(seed)
    prototypes = (rng.random((10, 784)) < 0.3).astype(np.float32)

    def draw(n):
        y = rng.integers(0, 10, n)
        x = np.clip(prototypes[y] + rng.normal(0, noise, (n, 784)), 0, 1).astype(np.float32)
        return x, y.astype(np.int64)

    (tx, ty), (vx, vy), (sx, sy) = draw(n_train), draw(n_test), draw(n_test)
    return types.SimpleNamespace(train_x=tx, train_y=ty, valid_x=vx, valid_y=vy,
                                 test_x=sx, test_y=sy)


# -- classifier -------------------------------------------------------------------------
def test_classifier_trains_caches_and_reloads(backend_name, tmp_path):
    b = nn.get_backend(backend_name, seed=5)
    splits = synthetic_splits()
    net, info = clf.load_or_train_classifier(b, splits, tmp_path, progress=False, epochs=2)
    assert info["cached"] is False
    assert info["test_accuracy"] >= 0.97
    assert info["epochs"] == 2 and info["seed"] == 0 and info["seconds"] >= 0
    path = tmp_path / clf.CACHE_NAME
    assert path.exists() and str(path) == info["path"]
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left nothing behind

    # The classifier's own stream: the caller's backend stream has not moved.
    fresh = nn.get_backend(backend_name, seed=5)
    np.testing.assert_array_equal(b.to_numpy(b.uniform((4,))), fresh.to_numpy(fresh.uniform((4,))))

    again, info2 = clf.load_or_train_classifier(b, splits, tmp_path, progress=False, epochs=2)
    assert info2["cached"] is True
    assert info2["test_accuracy"] == info["test_accuracy"]
    assert set(again.params) == set(net.params)
    for key in net.params:
        np.testing.assert_array_equal(b.to_numpy(again.params[key]), b.to_numpy(net.params[key]))
    x = b.asarray(splits.test_x)
    np.testing.assert_array_equal(b.to_numpy(clf.predict(again, x)), b.to_numpy(clf.predict(net, x)))


def test_training_is_deterministic_for_a_seed():
    b = nn.get_backend("numpy")
    splits = synthetic_splits(n_train=300, n_test=100)
    net_a, acc_a = clf.train_classifier(b, splits, epochs=1, seed=3, progress=False)
    net_b, acc_b = clf.train_classifier(b, splits, epochs=1, seed=3, progress=False)
    assert acc_a == acc_b
    for key in net_a.params:
        np.testing.assert_array_equal(net_a.params[key], net_b.params[key])


def test_a_corrupt_cache_is_replaced(tmp_path, capsys):
    (tmp_path / clf.CACHE_NAME).write_bytes(b"not a zip file")
    splits = synthetic_splits(n_train=200, n_test=50)
    _, info = clf.load_or_train_classifier(nn.get_backend("numpy"), splits, tmp_path,
                                           progress=False, epochs=1)
    assert info["cached"] is False
    assert "ignoring the cached classifier" in capsys.readouterr().err
    _, info = clf.load_or_train_classifier(nn.get_backend("numpy"), splits, tmp_path, progress=False)
    assert info["cached"] is True


def test_predict_and_features_shapes_and_dtypes(backend_name):
    b = nn.get_backend(backend_name, seed=1)
    net = clf.build_classifier(b)
    x = b.uniform((2500, 784))
    labels = clf.predict(net, x, batch=1000)
    feats = clf.features(net, x, batch=1000)
    assert isinstance(labels, b.array_type) and labels.shape == (2500,)
    assert labels.dtype.kind == "i"
    assert int(labels.min()) >= 0 and int(labels.max()) <= 9
    assert isinstance(feats, b.array_type) and feats.shape == (2500, 256)
    assert feats.dtype == b.xp.float32
    assert float(feats.min()) >= 0  # after a ReLU
    # Chunking changes nothing but float32 rounding (BLAS sums in another order for
    # another batch size: ~sqrt(784) * 6e-8 relative per layer); dropout is off in evaluation.
    np.testing.assert_array_equal(b.to_numpy(clf.predict(net, x, batch=7)), b.to_numpy(labels))
    np.testing.assert_allclose(b.to_numpy(clf.features(net, x, batch=2500)), b.to_numpy(feats),
                               rtol=1e-5, atol=1e-5)
    assert clf.predict(net, x[:0]).shape == (0,)
    assert clf.features(net, x[:0]).shape == (0, 256)


# -- label accuracy ---------------------------------------------------------------------
def _pixel_reader(b):
    """A classifier network that predicts the index of the brightest of the first 10 pixels."""
    net = clf.build_classifier(b)
    for key, p in net.params.items():
        p[...] = 0
    net.params["0.W"][:10, :10] = b.xp.eye(10, dtype=b.dtype)
    net.params["3.W"][:10, :10] = b.xp.eye(10, dtype=b.dtype)
    net.params["5.W"][:10, :10] = b.xp.eye(10, dtype=b.dtype)
    return net


def test_label_accuracy_on_a_hand_made_case(backend_name):
    b = nn.get_backend(backend_name)
    net = _pixel_reader(b)
    shown = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 1, 1, 2, 2])
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 5, 1, 1, 3, 3])
    samples = np.zeros((len(shown), 784), dtype=np.float32)
    samples[np.arange(len(shown)), shown] = 1.0
    assert np.array_equal(b.to_numpy(clf.predict(net, b.asarray(samples))), shown)

    result = label_accuracy(net, b.asarray(samples), b.asarray(labels, dtype="int64"))
    assert result["overall"] == pytest.approx(13 / 16)
    # Per conditioning label: 0 -> 2 of 2, 1 -> 3 of 3, 3 -> 1 of 3 (two shown as 2),
    # 5 -> 1 of 2 (one shown as 0), the others 1 of 1.
    want = [1, 1, 1, 1 / 3, 1, 1 / 2, 1, 1, 1, 1]
    assert result["per_class"] == pytest.approx(want)
    # Host labels are accepted too.
    assert label_accuracy(net, b.asarray(samples), labels) == result


def test_label_accuracy_marks_absent_classes_nan():
    b = nn.get_backend("numpy")
    net = _pixel_reader(b)
    samples = np.zeros((2, 784), dtype=np.float32)
    samples[:, 3] = 1.0
    result = label_accuracy(net, samples, np.array([3, 4]))
    assert result["overall"] == 0.5
    assert result["per_class"][3] == 1.0 and result["per_class"][4] == 0.0
    assert np.isnan(result["per_class"][0])
    assert len(result["per_class"]) == 10


# -- Frechet distance -------------------------------------------------------------------
def _exact_gaussian_sample(rng, n, mean, std):
    """n points whose sample mean is exactly ``mean`` and sample covariance exactly diag(std^2)."""
    z = rng.normal(size=(n, len(mean)))
    z -= z.mean(axis=0)
    cov = z.T @ z / (n - 1)
    z = z @ np.linalg.inv(np.linalg.cholesky(cov)).T  # whiten: sample covariance = I
    return z * std + mean


def test_frechet_distance_of_identical_sets_is_zero(backend_name):
    b = nn.get_backend(backend_name, seed=2)
    f = b.normal((500, 32))
    assert frechet_distance(f, f) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    rng = np.random.default_rng(0)
    d = 6
    mu_a, mu_b = rng.normal(size=d), rng.normal(size=d)
    sd_a, sd_b = rng.uniform(0.5, 2.0, d), rng.uniform(0.5, 2.0, d)
    want = np.sum((mu_a - mu_b) ** 2) + np.sum((sd_a - sd_b) ** 2)

    # Samples whose moments are exactly those of the Gaussians: agreement to rounding.
    a = _exact_gaussian_sample(rng, 400, mu_a, sd_a)
    b = _exact_gaussian_sample(rng, 300, mu_b, sd_b)
    assert frechet_distance(a, b) == pytest.approx(want, rel=1e-9)

    # Plain random samples: agreement within sampling error.
    a = rng.normal(size=(200_000, d)) * sd_a + mu_a
    b = rng.normal(size=(200_000, d)) * sd_b + mu_b
    assert frechet_distance(a, b) == pytest.approx(want, rel=0.02, abs=0.01)


def test_frechet_distance_is_symmetric_and_accepts_float32_backend_arrays(backend_name):
    b = nn.get_backend(backend_name, seed=4)
    x = b.normal((1000, 16))
    y = b.normal((800, 16), std=1.5, mean=0.3)
    y[:, :4] += x[:800, :4]  # correlated columns: non-diagonal covariance
    ab, ba = frechet_distance(x, y), frechet_distance(y, x)
    assert isinstance(ab, float) and ab > 0
    assert ab == pytest.approx(ba, rel=1e-8)
    host = frechet_distance(b.to_numpy(x).astype(np.float64), b.to_numpy(y).astype(np.float64))
    assert ab == pytest.approx(host, rel=1e-8)


def test_frechet_distance_survives_singular_covariances():
    rng = np.random.default_rng(1)
    # Fewer samples than dimensions, and a constant column: both covariances are singular.
    a = rng.normal(size=(10, 64))
    b = rng.normal(size=(12, 64))
    a[:, 0] = b[:, 0] = 1.0
    value = frechet_distance(a, b)
    assert np.isfinite(value) and value > 0


def test_frechet_distance_retries_with_a_ridge_when_sqrtm_fails(monkeypatch):
    import scipy.linalg

    real_sqrtm, calls = scipy.linalg.sqrtm, []

    def flaky_sqrtm(m):
        calls.append(m.copy())
        return np.full_like(m, np.nan) if len(calls) == 1 else real_sqrtm(m)

    monkeypatch.setattr(scipy.linalg, "sqrtm", flaky_sqrtm)
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(100, 3)), rng.normal(size=(100, 3)) * 2
    value = frechet_distance(a, b, eps=1e-3)
    assert len(calls) == 2 and np.isfinite(value)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    np.testing.assert_allclose(calls[1], (ca + 1e-3 * np.eye(3)) @ (cb + 1e-3 * np.eye(3)))


def test_mean_and_covariance_match_numpy():
    rng = np.random.default_rng(2)
    f = rng.normal(size=(50, 5)).astype(np.float32)
    mu, cov = mean_and_covariance(f)
    assert mu.dtype == cov.dtype == np.float64
    np.testing.assert_allclose(mu, f.astype(np.float64).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(cov, np.cov(f.astype(np.float64), rowvar=False), rtol=1e-10)


def test_frechet_distance_rejects_mismatched_widths():
    with pytest.raises(ValueError, match="same d"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))


# -- plots ------------------------------------------------------------------------------
def _png_shape(path):
    assert path.exists() and path.stat().st_size > 0
    return matplotlib.image.imread(path).shape


def test_image_mosaic_layout():
    images = np.zeros((6, 784))
    images[4] = 1.0  # row 1, column 1 of a 2 x 3 grid
    m = image_mosaic(images, nrow=2, sep=2)
    assert m.shape == (2 * 30 + 2, 3 * 30 + 2)
    assert np.all(m[32:60, 32:60] == 1.0)  # the white tile
    assert np.all(m[2:30, 2:30] == 0.0)  # a black tile
    assert np.all(m[0, :] == 0.5) and np.all(m[:, 30:32] == 0.5)  # separators


@pytest.mark.parametrize("title,row_labels", [(None, None), ("epoch 7", list(range(10)))])
def test_save_image_grid(tmp_path, title, row_labels):
    images = np.random.default_rng(0).random((100, 784))
    path = tmp_path / "deep" / "dir" / "grid.png"
    save_image_grid(images, path, nrow=10, title=title, row_labels=row_labels)
    h, w, _ = _png_shape(path)
    side = 2 * (10 * 30 + 2)  # 10 tiles of 28 px + 2 px separators, drawn at scale 2
    assert (h, w) == (side + (24 if title else 0), side + (24 if row_labels else 0))
    assert not list(path.parent.glob(".*.tmp"))


def test_save_image_grid_non_square(tmp_path):
    path = save_image_grid(np.zeros((12, 28, 28)), tmp_path / "g.png", nrow=2)
    h, w, _ = _png_shape(path)
    assert w / h == pytest.approx((6 * 30 + 2) / (2 * 30 + 2), rel=0.01)
    with pytest.raises(ValueError, match="do not fit"):
        save_image_grid(np.zeros((12, 784)), tmp_path / "g.png", nrow=2, ncol=5)


@pytest.mark.parametrize("with_ll", [False, True])
def test_plot_training_curves(tmp_path, with_ll):
    records = [
        {"epoch": e, "d_loss": 1.4 - 0.01 * e, "g_loss": 0.7 + 0.01 * e, "d_real": 0.6,
         "d_fake": 0.4, **({"valid_ll": 100.0 + e} if with_ll and e % 5 == 0 else {})}
        for e in range(1, 21)
    ]
    h, w, _ = _png_shape(plot_training_curves(records, tmp_path / "curves.png"))
    panels = 3 if with_ll else 2
    assert w / h == pytest.approx(4.5 * panels / 3.6, rel=0.02)


def test_save_samples_over_training(tmp_path):
    rng = np.random.default_rng(0)
    grids = [(1, rng.random((20, 784))), (50, rng.random((20, 784))), (100, rng.random((20, 784)))]
    h, w, _ = _png_shape(save_samples_over_training(grids, tmp_path / "over.png", nrow=2))
    assert w > 2.5 * h  # three grids of 2 x 10 side by side


def test_isolated_pixels_counts_salt_not_strokes(backend_name):
    from cgan.evaluation.metrics import isolated_pixels

    b = nn.get_backend(backend_name)
    x = np.zeros((4, 28, 28), np.float32)
    x[0, 5, 5] = 0.9                      # one isolated bright pixel
    x[1, 10:20, 14] = 1.0                 # a stroke: no pixel of it is isolated
    x[2, 0, 0] = x[2, 27, 27] = 0.6       # corners count (the border is dark)
    x[3, 8, 8], x[3, 9, 9] = 0.9, 0.3     # a dim neighbour above 0.2 hides it
    assert isolated_pixels(b.asarray(x.reshape(4, 784))) == pytest.approx((1 + 0 + 2 + 0) / 4)
    x[3, 9, 9] = 0.1
    assert isolated_pixels(b.asarray(x.reshape(4, 784))) == pytest.approx(4 / 4)
