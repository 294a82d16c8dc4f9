"""nn.Embedding: the lookup y = W[idx] and its sparse backward, checked by finite differences.

The input is discrete, so only the parameter gradient is checked: L = sum(W[idx] * c) for a
fixed random cotangent c, whose gradient dL/dW[v] is the sum of c over the positions that
select row v. Index arrays are drawn with repeated indices (hypothesis picks from a small
vocabulary), which is exactly where a plain ``grad[idx] += dy`` goes wrong.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
from nn.gradcheck import GradientCheckError, check_gradients

from ..helpers import f64, seeds

vocab_sizes = st.integers(1, 16)
dims = st.integers(1, 16)
index_shapes = st.one_of(
    st.tuples(st.integers(1, 8)),                       # (batch,)
    st.tuples(st.integers(1, 8), st.integers(1, 5)),    # (batch, k)
)


def _indices(data, vocab, shape, repeat: bool):
    n = int(np.prod(shape))
    flat = data.draw(st.lists(st.integers(0, vocab - 1), min_size=n, max_size=n))
    idx = np.asarray(flat, dtype=np.int64).reshape(shape)
    if repeat:  # make sure at least one index occurs twice
        idx = np.concatenate([idx.reshape(-1), idx.reshape(-1)[:1]]).reshape(-1)
    return idx


def check_embedding(layer: nn.Embedding, idx, seed: int):
    """Gradient-check dL/dW of L = sum(layer(idx) * c)."""
    b = layer.backend
    y, cache = layer.forward(idx)
    c = nn.get_backend(b.name, "float64", seed + 1).normal(y.shape)
    layer.zero_grads()
    assert layer.backward(c, cache) is None
    analytic = {"W": layer.grads["W"].copy()}
    return check_gradients(lambda: (layer.forward(idx)[0] * c).sum(), {"W": layer.params["W"]},
                           analytic, b, directions=3, seed=seed + 2)


@given(data=st.data(), vocab=vocab_sizes, dim=dims, shape=index_shapes, seed=seeds,
       repeat=st.booleans())
def test_embedding_gradient(backend_name, data, vocab, dim, shape, seed, repeat):
    b = f64(backend_name, seed)
    layer = nn.Embedding(vocab, dim, b, init=nn.Gaussian(0.5))
    idx = b.xp.asarray(_indices(data, vocab, shape, repeat))
    check_embedding(layer, idx, seed)


class EmbeddingDropsRepeats(nn.Embedding):
    """The planted bug: buffered fancy-index assignment keeps one of each repeated index."""

    def backward(self, dy, cache, *, param_grads=True, input_grad=True):
        if param_grads:
            self.grads["W"][cache] += dy
        return None


@given(data=st.data(), vocab=vocab_sizes, dim=dims, shape=index_shapes, seed=seeds)
def test_checker_catches_dropped_repeated_indices(backend_name, data, vocab, dim, shape, seed):
    b = f64(backend_name, seed)
    idx = b.xp.asarray(_indices(data, vocab, shape, repeat=True))
    check_embedding(nn.Embedding(vocab, dim, b, init=nn.Gaussian(0.5)), idx, seed)
    with pytest.raises(GradientCheckError, match="W"):
        check_embedding(EmbeddingDropsRepeats(vocab, dim, b, init=nn.Gaussian(0.5)), idx, seed)


def test_forward_returns_rows_and_backward_scatter_adds(backend_name):
    b = nn.get_backend(backend_name, "float32", seed=0)
    layer = nn.Embedding(5, 3, b)
    W = b.to_numpy(layer.params["W"])
    idx = np.array([[4, 0, 4], [1, 4, 2]])
    y, cache = layer.forward(b.xp.asarray(idx))
    assert y.shape == (2, 3, 3) and y.dtype == b.dtype
    np.testing.assert_array_equal(b.to_numpy(y), W[idx])
    dy = np.arange(18, dtype=np.float32).reshape(2, 3, 3)
    assert layer.backward(b.asarray(dy), cache, input_grad=True) is None
    expected = np.zeros((5, 3), np.float32)
    np.add.at(expected, idx.reshape(-1), dy.reshape(-1, 3))
    np.testing.assert_array_equal(b.to_numpy(layer.grads["W"]), expected)
    # Row 4 was selected three times: all three gradients are there.
    np.testing.assert_array_equal(expected[4], dy[0, 0] + dy[0, 2] + dy[1, 1])
    # Gradients accumulate, and param_grads=False leaves them alone.
    layer.backward(b.asarray(dy), cache)
    np.testing.assert_array_equal(b.to_numpy(layer.grads["W"]), 2 * expected)
    layer.backward(b.asarray(dy), cache, param_grads=False)
    np.testing.assert_array_equal(b.to_numpy(layer.grads["W"]), 2 * expected)
    layer.zero_grads()
    assert not b.xp.any(layer.grads["W"])


def test_backward_on_a_non_contiguous_table(backend_name):
    """A Fortran-ordered table takes the row-wise scatter (the flat one needs C order)."""
    b = nn.get_backend(backend_name, "float32", seed=0)
    layer = nn.Embedding(4, 3, b, init=lambda backend, shape: backend.normal(shape[::-1]).T)
    assert not layer.grads["W"].flags.c_contiguous
    idx = b.xp.asarray([2, 2, 0])
    y, cache = layer.forward(idx)
    layer.backward(b.asarray(np.ones((3, 3))), cache)
    np.testing.assert_array_equal(b.to_numpy(layer.grads["W"])[:, 0], [1, 0, 2, 0])


def test_embedding_checks_its_indices(backend_name):
    b = nn.get_backend(backend_name, "float32", seed=0)
    layer = nn.Embedding(4, 2, b)
    with pytest.raises(TypeError, match="integer indices"):
        layer.forward(b.asarray([0.0, 1.0]))
    with pytest.raises(TypeError, match="integer array"):
        layer.forward([0, 1])
    with pytest.raises(IndexError, match=r"index 4 is out of range.*\[0, 4\)"):
        layer.forward(b.xp.asarray([0, 4]))
    with pytest.raises(IndexError, match="index -1"):
        layer.forward(b.xp.asarray([-1, 2]))
    y, cache = layer.forward(b.xp.asarray([3, 0], dtype="int32"))
    with pytest.raises(ValueError, match="expected"):
        layer.backward(b.zeros((2, 3)), cache)
    empty, _ = layer.forward(b.xp.zeros((0,), dtype="int64"))
    assert empty.shape == (0, 2)
    with pytest.raises(ValueError, match="positive"):
        nn.Embedding(0, 3, b)


def test_embedding_composes_in_a_network(backend_name):
    """Embedding as the first layer of a Sequential: its gradient flows from the layers above."""
    b = f64(backend_name, 3)
    emb = nn.Embedding(7, 4, b, init=nn.Gaussian(0.5))
    net = nn.Sequential(emb, nn.Linear(4, 3, b, init=nn.Gaussian(0.5)), nn.Sigmoid(b))
    idx = b.xp.asarray([1, 6, 1, 1, 0])
    y, cache = net.forward(idx)
    c = nn.get_backend(backend_name, "float64", 9).normal(y.shape)
    net.zero_grads()
    assert net.backward(c, cache) is None
    analytic = {k: g.copy() for k, g in net.grads.items()}
    results = check_gradients(lambda: (net.forward(idx)[0] * c).sum(), dict(net.params),
                              analytic, b, seed=4)
    assert {r.name.split("[")[0] for r in results} == {"0.W", "1.W", "1.b"}
