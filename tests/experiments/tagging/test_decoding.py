"""The paper's tag rule fed with ideal samples (cgan.experiments.tagging.evaluate):
drawing words from a distribution, and what the rule's k nearest words do with them."""

from __future__ import annotations

from types import SimpleNamespace

import nn
from cgan.experiments.tagging import evaluate as ev


def test_draw_words_follows_each_row():
    b = nn.get_backend("numpy", seed=0)
    p = b.xp.array([[0.1, 0.2, 0.7, 0.0], [0.0, 0.0, 0.0, 1.0], [0.25, 0.25, 0.25, 0.25]])
    draws = ev.draw_words(p, 20000, b)
    assert draws.shape == (3, 20000) and draws.min() >= 0 and draws.max() <= 3
    for row in range(3):
        freq = b.xp.bincount(draws[row], minlength=4) / 20000
        assert abs(freq - p[row]).max() < 0.015   # about 5 standard errors
    assert (draws[1] == 3).all()


def test_the_rule_favours_a_word_near_every_sampled_word():
    """Four orthogonal words and a fifth at cosine 0.5 to each of them, never drawn: with one
    nearest word per sample the most drawn word leads; with two, the fifth word is every
    sample's second neighbour and outvotes it."""
    b = nn.get_backend("numpy", seed=0)
    xp = b.xp
    vectors = xp.concatenate([xp.eye(4), xp.full((1, 4), 0.5)]).astype(xp.float32)
    data = SimpleNamespace(word_vectors=vectors)
    p = xp.array([[0.4, 0.3, 0.2, 0.1, 0.0]])
    assert ev.rule_on_draws(p, data, b, n_samples=100, k=1, top=1)[0, 0] == 0
    assert ev.rule_on_draws(p, data, b, n_samples=100, k=2, top=1)[0, 0] == 4
