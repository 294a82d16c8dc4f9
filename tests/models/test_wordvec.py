"""Skip-gram word vectors: the SGNS gradient, the pairs, training, the text format, similarity."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
from cgan.models.wordvec import (
    SkipGram,
    Word2VecError,
    cooccurrence_pairs,
    load_word2vec,
    nearest_words,
    noise_distribution,
    save_word2vec,
    sgns_loss,
    train_word_vectors,
)
from nn.gradcheck import GradientCheckError, check_gradients

from ..helpers import f64, seeds


# -- the loss and its gradient through the embeddings --------------------------------------
def _sgns_problem(data, vocab, batch, k):
    ints = st.integers(0, vocab - 1)
    centers = data.draw(st.lists(ints, min_size=batch, max_size=batch))
    contexts = data.draw(st.lists(ints, min_size=batch, max_size=batch))
    negatives = data.draw(st.lists(ints, min_size=batch * k, max_size=batch * k))
    return (np.asarray(centers), np.asarray(contexts),
            np.asarray(negatives, dtype=np.int64).reshape(batch, k))


def check_sgns(model: SkipGram, centers, contexts, negatives, seed):
    model.zero_grads()
    model.loss_and_backward(centers, contexts, negatives)
    analytic = {key: g.copy() for key, g in model.grads.items()}
    return check_gradients(lambda: model.loss_and_backward(centers, contexts, negatives),
                           dict(model.params), analytic, model.backend, directions=3, seed=seed)


@given(data=st.data(), vocab=st.integers(1, 8), dim=st.integers(1, 8), batch=st.integers(1, 6),
       k=st.integers(0, 4), seed=seeds)
def test_sgns_gradient_through_the_embeddings(backend_name, data, vocab, dim, batch, k, seed):
    b = f64(backend_name, seed)
    model = SkipGram(vocab, dim, b, in_init=nn.Gaussian(0.7), out_init=nn.Gaussian(0.7))
    centers, contexts, negatives = (b.xp.asarray(a) for a in _sgns_problem(data, vocab, batch, k))
    results = check_sgns(model, centers, contexts, negatives, seed)
    assert {r.name.split("[")[0] for r in results} == {"in.W", "out.W"}


def test_sgns_loss_value_matches_the_formula():
    rng = np.random.default_rng(0)
    s = rng.normal(size=(5, 4)) * 10
    mask = (rng.random((5, 4)) < 0.8).astype(float)
    mask[:, 0] = 1
    value, grad = sgns_loss(s, mask)
    log_sigmoid = lambda x: -np.logaddexp(0.0, -x)  # noqa: E731
    expected = -(log_sigmoid(s[:, 0]) + (mask[:, 1:] * log_sigmoid(-s[:, 1:])).sum(1)).sum()
    assert math.isclose(float(value), expected, rel_tol=1e-12)
    sig = 1 / (1 + np.exp(-s))
    np.testing.assert_allclose(grad[:, 0], sig[:, 0] - 1, rtol=1e-12)
    np.testing.assert_allclose(grad[:, 1:], mask[:, 1:] * sig[:, 1:], rtol=1e-12)
    # Stable for logits far beyond exp's range.
    value, grad = sgns_loss(np.array([[-1e4, 1e4]]))
    assert math.isclose(float(value), 2e4) and np.isfinite(grad).all()


class MaskedGradOnly(SkipGram):
    """Planted bug: the gradient forgets the mask of negatives that hit the context."""

    def loss_and_backward(self, centers, contexts, negatives):
        xp = self.backend.xp
        u, cu = self.inp.forward(centers)
        v, cv = self.out.forward(xp.concatenate([contexts[:, None], negatives], axis=1))
        s = xp.matmul(v, u[:, :, None])[:, :, 0]
        mask = xp.concatenate([xp.ones((len(centers), 1), bool), negatives != contexts[:, None]], 1)
        value, _ = sgns_loss(s, mask.astype(s.dtype))
        _, g = sgns_loss(s)
        self.inp.backward(xp.matmul(g[:, None, :], v)[:, 0, :], cu)
        self.out.backward(g[:, :, None] * u[:, None, :], cv)
        return value


def test_the_check_catches_a_wrong_sgns_gradient():
    b = f64("numpy", 1)
    args = (np.array([0, 1, 2]), np.array([1, 2, 0]), np.array([[1, 3], [0, 2], [0, 0]]))
    init = dict(in_init=nn.Gaussian(0.7), out_init=nn.Gaussian(0.7))
    check_sgns(SkipGram(4, 3, b, **init), *args, seed=0)
    with pytest.raises(GradientCheckError):
        check_sgns(MaskedGradOnly(4, 3, b, **init), *args, seed=0)


# -- pairs and the noise distribution -------------------------------------------------------
def test_cooccurrence_pairs_by_hand():
    centers, contexts = cooccurrence_pairs([[0, 1, 2], [3], [4, 4, 5], [], [7, 6]])
    assert centers.tolist() == [0, 0, 1, 1, 2, 2, 4, 5, 7, 6]
    assert contexts.tolist() == [1, 2, 0, 2, 0, 1, 5, 4, 6, 7]
    assert centers.dtype == np.int64
    centers, contexts = cooccurrence_pairs([[1], []])
    assert centers.shape == (0,) and contexts.shape == (0,)


def test_cooccurrence_pairs_match_a_double_loop():
    rng = np.random.default_rng(3)
    tags = [rng.choice(30, size=rng.integers(0, 7), replace=False).tolist() for _ in range(50)]
    expected = [(a, b) for row in tags for a in row for b in row if a != b]
    centers, contexts = cooccurrence_pairs(tags)
    assert list(zip(centers.tolist(), contexts.tolist())) == expected


def test_noise_distribution_is_unigram_to_the_three_quarters():
    p = noise_distribution([[0, 1], [0, 2], [0, 1]], 4, nn.get_backend("numpy"))
    counts = np.array([3, 2, 1, 0], float) ** 0.75
    np.testing.assert_allclose(p, counts / counts.sum(), rtol=1e-6)
    assert p.dtype == np.float32


# -- training -------------------------------------------------------------------------------------
def _two_groups(rows=300, seed=0):
    """Words 0-4 co-occur only with each other, and 5-9 likewise."""
    rng = np.random.default_rng(seed)
    tags = []
    for i in range(rows):
        group = np.arange(5) + 5 * (i % 2)
        tags.append(rng.choice(group, size=rng.integers(2, 5), replace=False).tolist())
    return tags


def test_training_separates_two_groups_of_co_occurring_words(backend_name):
    b = nn.get_backend(backend_name, "float32", seed=0)
    vectors = train_word_vectors(_two_groups(), 10, b, dim=16, negatives=3, epochs=10,
                                 batch=64, lr=0.05, seed=1, progress=False)
    assert vectors.shape == (10, 16) and vectors.dtype == np.float32
    assert isinstance(vectors, b.array_type)
    v = b.to_numpy(vectors)
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    cos = v @ v.T
    group = np.arange(10) // 5
    same = group[:, None] == group[None, :]
    off_diagonal = ~np.eye(10, dtype=bool)
    within, between = cos[same & off_diagonal].mean(), cos[~same].mean()
    assert within > between + 0.3, (within, between)
    # Every word's nearest neighbour is in its own group.
    top, _ = nearest_words(vectors, vectors, 1, b, exclude=np.arange(10))
    assert (group[b.to_numpy(top)[:, 0]] == group).all()


def test_training_is_deterministic_and_reports_progress():
    b = nn.get_backend("numpy", "float32", seed=0)
    stream = io.StringIO()
    kwargs = dict(dim=4, epochs=2, batch=32, seed=7)
    one = train_word_vectors(_two_groups(40), 10, b, progress=True, stream=stream, **kwargs)
    two = train_word_vectors(_two_groups(40), 10, b, progress=False, **kwargs)
    np.testing.assert_array_equal(one, two)
    assert "epoch 2/2: mean loss per pair" in stream.getvalue()
    with pytest.raises(ValueError, match="outside"):
        train_word_vectors([[0, 12]], 10, b, progress=False)
    with pytest.raises(ValueError, match="no pairs"):
        train_word_vectors([[0], [1]], 10, b, progress=False)


# -- the text format --------------------------------------------------------------------------
def test_save_and_load_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    words = ["sky", "dog", "été", "b&w"]
    vectors = (rng.normal(size=(4, 5)) * 10.0 ** rng.integers(-8, 8, size=(4, 5))).astype(np.float32)
    path = save_word2vec(tmp_path / "sub" / "v.txt", words, vectors)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "4 5" and lines[4].startswith("b&w ") and len(lines) == 5
    got_words, got = load_word2vec(path)
    assert got_words == words and got.dtype == np.float32
    np.testing.assert_array_equal(got, vectors)  # 9 significant digits: exact for float32
    assert [p.name for p in path.parent.iterdir()] == ["v.txt"]  # no temporary left behind
    with pytest.raises(ValueError, match="whitespace"):
        save_word2vec(tmp_path / "w.txt", ["two words"], vectors[:1])
    with pytest.raises(ValueError, match="4 words but 3 vectors"):
        save_word2vec(tmp_path / "w.txt", words, vectors[:3])


def test_load_aligns_to_a_vocabulary_and_reports_missing_words(tmp_path):
    path = tmp_path / "pretrained.txt"
    # CRLF line ends and word2vec's trailing space are accepted.
    path.write_bytes(b"3 2\r\nsea 1 2 \r\nsky 3 4 \r\ncar 5 6 \r\n")
    stream = io.StringIO()
    words, vectors = load_word2vec(path, vocab=["sky", "moon", "sea"], stream=stream)
    assert words == ["sky", "moon", "sea"]
    np.testing.assert_array_equal(vectors, [[3, 4], [0, 0], [1, 2]])
    assert "2 of 3 vocabulary words found, 1 missing (zero vectors): moon" in stream.getvalue()


@pytest.mark.parametrize("content, line, what", [
    ("2 3\na 1 2 3\n", 3, "the file ends after 1 vectors, but the header says 2"),
    ("1 3\na 1 2 3\nb 1 2 3\n", 3, "more vectors than the header's count"),
    ("2 3\na 1 2 3\nb 1 2\n", 3, "2 values after the word, expected 3"),
    ("2 3\na 1 2 3\nb 1 2 3 4\n", 3, "4 values after the word, expected 3"),
    ("2 3\na 1 2 3\nb 1 x2 3\n", 3, "value 2 is not a number: 'x2'"),
    ("2 3\na 1 nan 3\nb 1 2 3\n", 2, "value 2 is not finite: 'nan'"),
    ("2 3\na 1 2 3\na 1 2 3\n", 3, "word 'a' repeats line 2"),
    ("a 1 2 3\n", 1, "expected the header"),
    ("3\n", 1, "expected the header"),
    ("", 1, "empty file"),
    ("1 3\n\n", 2, "empty word or line"),
])
def test_malformed_files_name_file_and_line(tmp_path, content, line, what):
    path = tmp_path / "bad.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(Word2VecError, match=f"bad.txt: line {line}: {what}"):
        load_word2vec(path)


def test_binary_format_is_refused_clearly(tmp_path):
    path = tmp_path / "bin.bin"
    path.write_bytes(b"1 2\na \x00\x00\x80\xbf\xff\xff\xff\xff\n")
    with pytest.raises(Word2VecError, match="line 2: not UTF-8 text.*binary"):
        load_word2vec(path)


# -- similarity ---------------------------------------------------------------------------------
WORDS = ["cat", "kitten", "dog", "car", "truck", "zero"]
VECTORS = np.array([[1.0, 0.0, 0.0], [2.0, 0.2, 0.0], [0.6, 0.8, 0.0], [-0.2, 0.0, 3.0],
                    [0.1, 0.5, 1.0], [0.0, 0.0, 0.0]], np.float32)


def test_nearest_words_by_hand(backend_name):
    b = nn.get_backend(backend_name, "float32")
    top, sims = nearest_words(VECTORS, VECTORS[[0, 3]], 3, b, exclude=[0, 3])
    # cat: kitten (almost parallel), dog (cos 0.6), truck (0.09); car is at -0.07.
    # car: truck (0.88), the zero vector (0), dog (-0.04).
    assert b.to_numpy(top).tolist() == [[1, 2, 4], [4, 5, 2]]
    s = b.to_numpy(sims)
    assert s.dtype == np.float32
    np.testing.assert_allclose(s[0], [2 / math.hypot(2, 0.2), 0.6, 0.1 / math.sqrt(1.26)], rtol=1e-6)
    np.testing.assert_allclose(s[1], [2.98 / math.sqrt(9.04 * 1.26), 0.0, -0.12 / math.sqrt(9.04)],
                               rtol=1e-6, atol=1e-7)
    # One query: 1-D results; k = n includes everything; the query itself comes first.
    top, sims = nearest_words(VECTORS, VECTORS[2] * 7, 6, b)
    assert top.shape == (6,) and int(top[0]) == 2 and math.isclose(float(sims[0]), 1, rel_tol=1e-6)
    assert sorted(b.to_numpy(top).tolist()) == list(range(6))
    with pytest.raises(ValueError, match="k=6"):
        nearest_words(VECTORS, VECTORS[:1], 6, b, exclude=[0])
    with pytest.raises(ValueError, match="do not fit"):
        nearest_words(VECTORS, VECTORS[:, :2], 1, b)


def test_nearest_words_agree_with_a_brute_force_search():
    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(50, 8)).astype(np.float32)
    queries = rng.normal(size=(7, 8)).astype(np.float32)
    top, sims = nearest_words(vectors, queries, 5, nn.get_backend("numpy"))
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cos = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ unit.T
    np.testing.assert_array_equal(top, np.argsort(-cos, axis=1)[:, :5])
    np.testing.assert_allclose(sims, -np.sort(-cos, axis=1)[:, :5], rtol=1e-5)
