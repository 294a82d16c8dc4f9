"""Tagging runs with validation (patience, best.npz, resume), the classifier baseline, the
one-to-many measures, the default word vectors and the command line, on tiny synthetic data."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

import nn
from cgan.core.run import read_metrics
from cgan.experiments.tagging import evaluate, vectors
from cgan.experiments.tagging.config import PRESETS, TaggingConfig, make_config
from cgan.experiments.tagging.data import prepare_data
from cgan.experiments.tagging.train import MultiLabelBCE, train_tagging
from cgan.models.wordvec import neighbour_cooccurrence, save_word2vec
from nn.gradcheck import check_gradients

from ...golden.runs import mirflickr_like

TINY = dict(width_scale=0.02, batch_size=20, n_samples=4, k_nearest=3)


def _data(condition="features"):
    dataset, vecs = mirflickr_like()
    return prepare_data(dataset, vecs, condition, nn.get_backend("numpy", seed=0))


def test_presets_and_old_configs():
    c = make_config("features", preset="default")
    assert (c.optimizer, c.g_output, c.patience, c.preset) == ("adam", "gumbel_hard", 4, "default")
    assert (c.marginal_bias, c.k_nearest, c.width_scale) == (True, 1, 0.5)     # where the sweep chose it
    paper = make_config("features", preset="paper")
    assert (paper.k_nearest, paper.width_scale) == (20, 1.0)          # the paper's rule and widths
    assert c.validates and c.features_file.endswith("efficientnet_lite0_crops128.npz")
    assert make_config("labels", preset="default", method="regression").method == "regression"
    assert make_config("features", preset="paper").optimizer == "sgd"
    q = make_config("features", preset="quick", method="classifier")
    assert (q.epochs, q.train_limit, q.valid_samples) == (2, 2000, 20)
    assert make_config("features", preset="default", lr=0.5).lr == 0.5       # overrides win
    assert not make_config("features").validates                              # no preset: fixed epochs
    assert set(PRESETS) == {"default", "paper", "quick"}
    with pytest.raises(ValueError, match="preset"):
        make_config("features", preset="fast")
    old = TaggingConfig.from_dict({"condition": "features"})
    assert old.features_file == "features/efficientnet_lite0.npz"          # what old runs read
    with pytest.raises(ValueError, match="patience"):
        make_config("features", patience=0)


def test_validation_patience_and_the_best_epoch(tmp_path):
    data = _data()
    config = make_config("features", preset="default", epochs=6, patience=1, **TINY)
    results = train_tagging(config, tmp_path / "run", data=data, progress=False)
    metrics = read_metrics(tmp_path / "run")
    assert all("valid_precision@10" in r and r["valid_images"] == len(data.valid) for r in metrics)
    best = max(range(len(metrics)), key=lambda i: metrics[i]["valid_precision@10"])
    assert results["best_epoch"] == metrics[best]["epoch"] == metrics[-1]["best_epoch"]
    assert len(metrics) == 6 or len(metrics) - results["best_epoch"] >= 1   # stopped by patience
    assert results["stopped_early"] == (len(metrics) < 6)
    assert (tmp_path / "run" / "best.npz").exists()
    for key in ("precision@10", "recall@10", "coverage", "distinct_words", "pairwise_cos_within_image"):
        assert key in results
    assert 0 <= results["coverage"] <= 1 and 1 <= results["distinct_words"] <= config.n_samples


def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path):
    data = _data()
    whole = make_config("features", preset="default", epochs=3, patience=5, **TINY)
    train_tagging(whole, tmp_path / "whole", data=data, progress=False)
    first = make_config("features", preset="default", epochs=2, patience=5, **TINY)
    train_tagging(first, tmp_path / "part", data=data, progress=False, evaluate=False)
    again = make_config("features", preset="default", epochs=3, patience=5, **TINY)
    train_tagging(again, tmp_path / "part", data=data, progress=False, resume=True)
    drop = {"seconds", "train_seconds", "eval_seconds"}
    a, b = ([{k: v for k, v in r.items() if k not in drop} for r in read_metrics(tmp_path / d)]
            for d in ("whole", "part"))
    assert a == b
    with np.load(tmp_path / "whole" / "latest.npz") as f, np.load(tmp_path / "part" / "latest.npz") as g:
        for key in f.files:
            if not key.startswith("__"):
                np.testing.assert_array_equal(f[key], g[key])


@pytest.mark.parametrize("condition", ["features", "labels"])
def test_the_classifier_and_the_regression_baseline_train(tmp_path, condition):
    data = _data(condition)
    for method in ("classifier", "regression"):
        config = make_config(condition, preset="default", method=method, epochs=2, **TINY)
        results = train_tagging(config, tmp_path / method, data=data, progress=False)
        assert 0 <= results["precision@10"] <= 1 and len(results["predicted"]) == len(data.test)
        assert np.isfinite(read_metrics(tmp_path / method)[-1]["g_loss"])


def test_the_classifier_loss_gradient():
    b = nn.get_backend("numpy", "float64", seed=0)
    logits, targets = b.normal((4, 6)), (b.uniform((4, 6)) < 0.3).astype("float64")
    value, grad = MultiLabelBCE.regression(logits, targets)
    per_image = (np.logaddexp(0, logits) - targets * logits).sum(axis=1).mean()
    assert float(value) == pytest.approx(per_image)
    check_gradients(lambda: MultiLabelBCE.regression(logits, targets)[0], {"logits": logits},
                    {"logits": grad}, b)


class _OnWords(nn.Layer):
    """A stand-in generator: sample i of each image is word i % 2 (a one-to-many generator),
    or always word 0 (``collapse``)."""

    def __init__(self, backend, words, collapse=False):
        super().__init__(backend)
        self.words, self.collapse = words, collapse

    def forward(self, x, train=True):
        z, _ = x
        which = np.zeros(z.shape[0], int) if self.collapse else np.arange(z.shape[0]) % 2
        return self.words[which], None


def test_one_to_many_counts_the_covered_tags():
    data = _data()
    b = nn.get_backend("numpy", seed=0)
    images = evaluate.Images(data.test.cond[:2], [0, 1], [[0, 1], [0, 1, 2]], [1, 2], ["a", "b"])
    config = make_config("features", preset="default", n_samples=10)
    spread = evaluate.one_to_many(_OnWords(b, data.word_vectors), data, b, config, images=images)
    assert spread["distinct_words"] == 2 and spread["tags_covered"] == 2
    assert spread["coverage"] == pytest.approx((1 + 2 / 3) / 2)
    collapsed = evaluate.one_to_many(_OnWords(b, data.word_vectors, True), data, b, config, images=images)
    assert collapsed["distinct_words"] == 1 and collapsed["pairwise_cos_within_image"] == pytest.approx(1)


def test_knn_and_popular_on_the_validation_images():
    data = _data()
    b = nn.get_backend("numpy", seed=0)
    for images in (data.valid, data.test):
        for predicted in (evaluate.knn_tags(data, b, k=3, images=images, chunk=2),
                          evaluate.popular_tags(data, b, images=images)):
            assert predicted.shape == (len(images), 10)
    whole = evaluate.knn_tags(data, b, k=3)
    assert (whole == evaluate.knn_tags(data, b, k=3, chunk=1)).all()


def test_neighbour_cooccurrence():
    vecs = np.asarray([[1, 0], [1, 0.01], [0, 1], [0.01, 1]], np.float32)
    assert neighbour_cooccurrence(vecs, [[0, 1], [2, 3]])["nearest_cooccurs"] == 1.0
    res = neighbour_cooccurrence(vecs, [[0, 2], [1, 3]])
    assert res["nearest_cooccurs"] == 0.0 and res["random_cooccurs"] == pytest.approx(1 / 3)


def test_the_default_vectors_are_trained_on_first_use(tmp_path, monkeypatch):
    monkeypatch.setenv("CGAN_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(vectors, "WORDVEC_SETTINGS", dict(vectors.WORDVEC_SETTINGS, dim=4, epochs=1))
    dataset, _ = mirflickr_like()
    stream = io.StringIO()
    path = vectors.resolve_vectors("default", dataset, stream=stream)
    assert path.parent == tmp_path / "cache" / "wordvec" and path.is_file()
    assert "training them now" in stream.getvalue()
    mtime = path.stat().st_mtime_ns
    again = io.StringIO()
    assert vectors.resolve_vectors("default", dataset, stream=again) == path
    assert again.getvalue() == "" and path.stat().st_mtime_ns == mtime
    with pytest.raises(FileNotFoundError, match="no such file"):
        vectors.resolve_vectors(str(tmp_path / "nope.txt"), dataset)


def _write_data_dir(root: Path, n=40, vocab=30, dim=8) -> Path:
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(vocab)]
    root.mkdir(parents=True)
    (root / "TagList.txt").write_text("\n".join(words) + "\n")
    (root / "all_imgs.txt").write_text("".join(f"mirflickr/im{i + 1}.jpg\n" for i in range(n)))
    tags = [sorted(set(rng.integers(0, vocab, 3).tolist())) for _ in range(n)]
    (root / "all_tags.txt").write_text("".join(",".join(words[t] for t in row) + "\n" for row in tags))
    (root / "all_labels.txt").write_text("".join(" ".join(rng.choice(["0", "1"], 24)) + "\n" for _ in range(n)))
    (root / "features").mkdir()
    np.savez(root / "features" / "efficientnet_lite0_crops128.npz",
             features=rng.standard_normal((n, dim)).astype(np.float16), image_ids=np.arange(1, n + 1))
    save_word2vec(root / "vectors.txt", words, rng.standard_normal((vocab, 6)).astype(np.float32))
    return root


def test_the_command_line_trains_and_evaluates(tmp_path, capsys, monkeypatch):
    from cgan.cli import main

    root = _write_data_dir(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    assert main(["train-tagging", "--quick", "--method", "regression", "--data-dir", str(root),
                 "--vectors", str(root / "vectors.txt"), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    results = json.loads(printed.splitlines()[-2])
    assert results["epochs"] == 2 and "valid_precision@10" in results
    assert json.loads((out / "config.json").read_text())["preset"] == "quick"
    assert main(["eval-tagging", str(out)]) == 0
    assert "precision@10" in json.loads(capsys.readouterr().out)
    assert main(["train-tagging", "--quick", "--method", "regression", "--data-dir", str(root),
                 "--vectors", str(root / "vectors.txt"), "--out", str(out), "--quiet", "--resume",
                 "--epochs", "3"]) == 0
    assert len(read_metrics(out)) == 3


def test_instance_noise_reaches_the_real_vectors_of_adversarial_runs_only(tmp_path):
    data = _data()
    config = make_config("features", preset="default", epochs=1, instance_noise=0.05, **TINY)
    train_tagging(config, tmp_path / "a", data=data, progress=False, evaluate=False)
    assert data.instance_noise is not None and data.instance_noise[1] == 0.05
    x, _ = data.rows(np.arange(3))
    assert not np.allclose(np.linalg.norm(x, axis=1), 1)
    train_tagging(make_config("features", preset="default", method="regression", epochs=1, instance_noise=0.05,
                              **TINY), tmp_path / "b", data=data, progress=False, evaluate=False)
    assert data.instance_noise is None


def test_the_command_line_trains_a_gumbel_tagger_and_evaluates_it_with_another_rule(tmp_path, capsys, monkeypatch):
    from cgan.cli import main

    root = _write_data_dir(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    assert main(["train-tagging", "--quick", "--data-dir", str(root), "--vectors", str(root / "vectors.txt"),
                 "--g-output", "gumbel_hard", "--temperature", "0.5", "--out", str(out), "--quiet"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["g_output"], config["temperature"], config["k_nearest"]) == ("gumbel_hard", 0.5, 1)
    capsys.readouterr()
    assert main(["eval-tagging", str(out), "--k-nearest", "20"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["k_nearest"] == 20 and 0 <= results["precision@10"] <= 1


def test_a_gumbel_generator_evaluates_from_the_evaluation_stream_alone():
    """G's own Gumbel draws in evaluation come from the stream evaluation passes, as z's do:
    the same seed gives the same tags, and the training stream is left where it was."""
    from cgan.experiments.tagging.train import build_networks

    data = _data()
    config = make_config("features", preset="default", **TINY)
    assert config.g_output == "gumbel_hard"
    train = nn.get_backend("numpy", seed=0)
    generator = build_networks(config, train, data).generator
    before = json.dumps(train.rng_state())
    cond = data.valid.cond
    tags = [evaluate.generate_tags(generator, cond, data.word_vectors, train.with_seed(5), noise_dim=config.noise_dim,
                                   n_samples=8, k=1) for _ in range(2)]
    assert (tags[0] == tags[1]).all()
    assert json.dumps(train.rng_state()) == before
    other = evaluate.generate_tags(generator, cond, data.word_vectors, train.with_seed(6), noise_dim=config.noise_dim,
                                   n_samples=8, k=1)
    assert not (other == tags[0]).all()    # the draws do come from the stream passed in


def test_the_score_function_update_moves_g_alone_and_needs_a_drawing_generator():
    from cgan.core.optim import Optimizers, make_optimizer
    from cgan.core.steps import BCE, UPDATES, Minibatch, score_function_generator_step
    from cgan.experiments.tagging.train import build_networks

    data = _data()
    config = make_config("features", preset="default", g_estimator="score", **TINY)
    b = nn.get_backend("numpy", seed=0)
    pair = build_networks(config, b, data)
    opt = Optimizers(d=make_optimizer(config, pair.discriminator), g=make_optimizer(config, pair.generator))
    x, y = data.rows(np.arange(8))
    batch = Minibatch(x=x, y=y, z=b.normal((8, config.noise_dim)), y_fake=y)
    g_before = {k: v.copy() for k, v in pair.generator.params.items()}
    d_before = {k: v.copy() for k, v in pair.discriminator.params.items()}
    out = score_function_generator_step(pair, opt, batch, BCE())
    assert np.isfinite(float(out["g_loss"]))
    assert any(not np.array_equal(v, g_before[k]) for k, v in pair.generator.params.items())
    assert all(np.array_equal(v, d_before[k]) for k, v in pair.discriminator.params.items())
    assert UPDATES["alternating_score"].then is score_function_generator_step
    unit = build_networks(make_config("features", preset="default", g_output="unit", **TINY), b, data)
    with pytest.raises(ValueError, match="categorical draw"):
        score_function_generator_step(unit, opt, batch, BCE())
    with pytest.raises(ValueError, match="gumbel_hard"):
        make_config("features", preset="default", g_estimator="score", g_output="unit")


def test_a_score_function_run_trains(tmp_path):
    data = _data()
    config = make_config("features", preset="default", epochs=2, g_estimator="score", **TINY)
    results = train_tagging(config, tmp_path / "run", data=data, progress=False)
    assert results["epochs"] >= 1 and 0 <= results["precision@10"] <= 1
