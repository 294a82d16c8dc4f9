"""The image-tagging experiment (cgan.experiments.tagging): the tag rule, metrics, a short
run, the tag command (the networks: tests/models/test_tagging.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import nn
from cgan.experiments.tagging import evaluate
from cgan.experiments.tagging.config import make_config
from cgan.experiments.tagging.data import prepare_data
from cgan.experiments.tagging.train import train_tagging
from cgan.models.wordvec import nearest_words

SHARED = Path(__file__).resolve().parents[4] / "shared" / "mirflickr"  # ../shared beside the checkout


def test_tag_rule_on_a_known_vocabulary():
    b = nn.get_backend("numpy", dtype="float32", seed=0)
    words = b.asarray(np.eye(6))                   # word i is the i-th axis
    # image 0: three samples exactly on word 2, one on word 4; image 1: all on word 5.
    samples = b.asarray(np.eye(6)[[2, 2, 2, 4, 5, 5, 5, 5]] * 3.0)
    top, counts = evaluate.tags_from_samples(samples, 2, words, b, k=1, top=3)
    assert top[:, 0].tolist() == [2, 5]
    assert top[0, 1] == 4
    assert counts[0].tolist() == [0, 0, 3, 0, 1, 0]
    # With k = 2 every sample counts twice and its own word is still its nearest.
    _, counts2 = evaluate.tags_from_samples(samples, 2, words, b, k=2, top=2)
    assert counts2.sum(axis=1).tolist() == [8, 8]
    assert counts2[0, 2] == 3 and counts2[1, 5] == 4
    idx, _ = nearest_words(words, samples, 2, b)
    assert idx[:, 0].tolist() == [2, 2, 2, 4, 5, 5, 5, 5]


def test_top_k_breaks_ties_towards_the_lower_index():
    b = nn.get_backend("numpy", seed=0)
    scores = b.xp.asarray([[1, 3, 3, 0, 3]])
    assert evaluate.top_k(scores, 3, b).tolist() == [[1, 2, 4]]


def test_precision_recall_by_hand():
    b = nn.get_backend("numpy", seed=0)
    truth = evaluate.multi_hot([[0, 1], [2, 3, 4, 5]], 8, b)
    predicted = b.xp.asarray([[0, 6, 7], [2, 3, 7]])
    p, r = evaluate.precision_recall_at_k(predicted, truth, b)
    # image 0: 1 hit of 3 predicted, of 2 true; image 1: 2 hits, of 4 true.
    assert p == pytest.approx((1 / 3 + 2 / 3) / 2)
    assert r == pytest.approx((1 / 2 + 2 / 4) / 2)


@pytest.mark.skipif(not (SHARED / "all_imgs.txt").exists(), reason="../shared/mirflickr is missing")
def test_short_end_to_end_run(tmp_path):
    from cgan.data.mirflickr import load_mirflickr

    dataset = load_mirflickr(SHARED)
    vectors = np.random.default_rng(0).normal(size=(len(dataset.vocab), 20)).astype(np.float32)
    b = nn.get_backend("numpy", seed=0)
    data = prepare_data(dataset, vectors, "features", b, train_limit=30)
    assert data.train_cond.shape[1] == dataset.features.shape[1]
    assert not set(data.train_rows) & set(data.test_rows)
    norms = np.linalg.norm(b.to_numpy(data.word_vectors), axis=1)
    assert np.allclose(norms, 1, atol=1e-5)
    config = make_config("features", epochs=1, width_scale=0.05, n_samples=5, k_nearest=3)
    results = train_tagging(config, tmp_path / "run", data=data, progress=False)
    for name in ("config.json", "metrics.jsonl", "latest.npz", "results.json"):
        assert (tmp_path / "run" / name).exists()
    assert 0.0 <= results["precision@10"] <= 1.0 and 0.0 <= results["recall@10"] <= 1.0
    assert len(results["predicted"]) == len(data.test_rows)
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert metrics[0]["updates"] == results["updates"] >= 1
    for kind in (evaluate.popular_tags, evaluate.knn_tags):
        res = evaluate.evaluate_predictions(kind(data, b), data, b)
        assert 0.0 <= res["precision@10"] <= 1.0


def test_tag_command_error_paths(tmp_path, capsys):
    from cgan.cli import main

    assert main(["tag", str(tmp_path / "missing.jpg"), "--run", str(tmp_path)]) == 1
    assert "no such image file" in capsys.readouterr().err
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"not really a jpeg")
    assert main(["tag", str(photo), "--run", str(tmp_path / "nowhere")]) == 1
    assert "not a run directory" in capsys.readouterr().err
