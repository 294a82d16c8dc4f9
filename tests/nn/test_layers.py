"""Properties of the layers beyond their gradients: values, dtypes, state, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn

from ..helpers import batches, pieces, seeds, values, widths


def _b(name, dtype="float32", seed=0):
    return nn.get_backend(name, dtype=dtype, seed=seed)


# -- values ------------------------------------------------------------------------------
@given(data=st.data(), batch=batches, n_in=widths, n_out=widths, seed=seeds)
def test_maxout_with_one_piece_equals_linear(backend_name, data, batch, n_in, n_out, seed):
    b = _b(backend_name, "float64", seed)
    maxout = nn.Maxout(n_in, n_out, 1, b, init=nn.Gaussian(0.5))
    linear = nn.Linear(n_in, n_out, b)
    linear.load_state_dict(maxout.state_dict())
    x = b.asarray(data.draw(values((batch, n_in))))
    y_max, c_max = maxout.forward(x)
    y_lin, c_lin = linear.forward(x)
    np.testing.assert_array_equal(b.to_numpy(y_max), b.to_numpy(y_lin))
    dy = b.normal(y_lin.shape)
    dx_max = maxout.backward(dy, c_max)
    dx_lin = linear.backward(dy, c_lin)
    np.testing.assert_allclose(b.to_numpy(dx_max), b.to_numpy(dx_lin), rtol=1e-12)
    for key in maxout.grads:
        np.testing.assert_allclose(b.to_numpy(maxout.grads[key]), b.to_numpy(linear.grads[key]), rtol=1e-12)


@given(batch=batches, n_in=widths, units=widths, k=pieces, seed=seeds)
def test_maxout_output_is_the_max_over_its_pieces(backend_name, batch, n_in, units, k, seed):
    b = _b(backend_name, "float64", seed)
    layer = nn.Maxout(n_in, units, k, b, init=nn.Gaussian(1.0))
    x = b.normal((batch, n_in))
    y, _ = layer.forward(x)
    # piece-major columns: column p * units + u is piece p of unit u
    z = b.to_numpy(x @ layer.params["W"] + layer.params["b"]).reshape(batch, k, units)
    np.testing.assert_allclose(b.to_numpy(y), z.max(axis=1), rtol=1e-12)


@given(batch=batches, n_in=widths, units=widths, k=st.integers(2, 5))
def test_maxout_ties_send_the_gradient_to_exactly_one_piece(backend_name, batch, n_in, units, k):
    # Zero input and zero biases: every piece of every unit ties at 0, as at initialisation.
    b = _b(backend_name, "float64")
    layer = nn.Maxout(n_in, units, k, b, init=nn.Gaussian(1.0), bias=0.0)
    y, cache = layer.forward(b.zeros((batch, n_in)))
    dy = b.uniform((batch, units), 1.0, 2.0)
    layer.backward(dy, cache)
    db = b.to_numpy(layer.grads["b"]).reshape(k, units).T
    assert ((db != 0).sum(axis=1) == 1).all(), db
    np.testing.assert_allclose(db.sum(axis=1), b.to_numpy(dy).sum(axis=0), rtol=1e-12)


@given(data=st.data(), batch=batches, width=widths, keep_prob=st.floats(0.05, 1.0))
def test_dropout_eval_is_the_identity(backend_name, data, batch, width, keep_prob):
    b = _b(backend_name)
    x = b.asarray(data.draw(values((batch, width))))
    y, cache = nn.Dropout(keep_prob, b).forward(x, train=False)
    assert y is x
    assert nn.Dropout(keep_prob, b).backward(x, cache) is x


@pytest.mark.parametrize("keep_prob", [0.2, 0.5, 0.8])
def test_dropout_keeps_the_expected_value(backend_name, keep_prob):
    b = _b(backend_name, seed=7)
    n = 400_000
    x = b.asarray(np.full((n, 1), 3.0))
    y, mask = nn.Dropout(keep_prob, b).forward(x)
    kept = float((mask != 0).mean())
    # 5 standard errors of a Bernoulli mean over n draws.
    tol = 5 * np.sqrt(keep_prob * (1 - keep_prob) / n)
    assert abs(kept - keep_prob) < tol
    assert abs(float(y.mean()) - 3.0) < 3.0 * tol / keep_prob
    assert set(np.unique(b.to_numpy(y)).round(4)) <= {0.0, round(3.0 / keep_prob, 4)}


def test_dropout_rejects_a_drop_probability_of_zero_keep(backend_name):
    with pytest.raises(ValueError, match="probability of keeping"):
        nn.Dropout(0.0, _b(backend_name))
    with pytest.raises(ValueError, match="probability of keeping"):
        nn.Dropout(1.5, _b(backend_name))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_is_finite_and_saturates_for_large_inputs(backend_name, dtype):
    b = _b(backend_name, dtype)
    x = b.asarray(np.concatenate([np.linspace(-1e4, 1e4, 20001), [-1e4, 1e4, 0.0]])[None, :])
    y, cache = nn.Sigmoid(b).forward(x)
    dx = nn.Sigmoid(b).backward(b.asarray(np.ones(x.shape)), cache)
    y, dx = b.to_numpy(y), b.to_numpy(dx)
    assert np.isfinite(y).all() and np.isfinite(dx).all()
    assert ((y >= 0) & (y <= 1)).all()
    assert y[0, -3] == 0.0 and y[0, -2] == 1.0 and y[0, -1] == 0.5


def test_sigmoid_matches_the_definition(backend_name):
    b = _b(backend_name, "float64")
    x = np.linspace(-30, 30, 101)[None, :]
    y, _ = nn.Sigmoid(b).forward(b.asarray(x))
    np.testing.assert_allclose(b.to_numpy(y), 1 / (1 + np.exp(-x)), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_sets_outputs_below_its_floor_to_zero(backend_name, dtype):
    """Below 2^-100 the output is 0 and passes no gradient (no subnormal floats reach the
    next layer); above, it is nn.functional.sigmoid to the bit."""
    b = _b(backend_name, dtype)
    x = np.array([[-1e4, -200.0, -90.0, -70.0, -69.4, -69.0, -60.0, -5.0, 0.0, 5.0]])
    layer = nn.Sigmoid(b)
    y, cache = layer.forward(b.asarray(x))
    dx = layer.backward(b.asarray(np.ones(x.shape)), cache)
    y, dx = b.to_numpy(y), b.to_numpy(dx)
    exact = b.to_numpy(nn.functional.sigmoid(b.asarray(x)))
    below = exact < nn.Sigmoid.FLOOR
    assert below[0, :5].all() and not below[0, 5:].any()  # the floor sits at x = -69.3
    assert (y[below] == 0).all() and (dx[below] == 0).all()
    assert np.array_equal(y[~below], exact[~below])
    assert (np.abs(y) >= np.finfo(y.dtype).tiny)[~below].all()


def test_losses_are_finite_for_extreme_logits(backend_name):
    b = _b(backend_name)
    a = b.asarray(np.array([[-1e4], [-50.0], [0.0], [50.0], [1e4]]))
    for value, *grads in (nn.bce_with_logits(a, 1.0), nn.bce_with_logits(a, 0.0), nn.gan_value(a, a),
                          nn.generator_loss(a), nn.generator_loss(a, saturating=True)):
        assert np.isfinite(float(value))
        for g in grads:
            assert np.isfinite(b.to_numpy(g)).all()
    # A confident, correct discriminator has loss ~0, not log(0) trouble.
    value, _ = nn.bce_with_logits(b.asarray(np.array([[1e4]])), 1.0)
    assert float(value) == 0.0


def test_gan_value_matches_its_definition(backend_name):
    b = _b(backend_name, "float64")
    real, fake = np.array([[0.3], [-1.2], [2.0]]), np.array([[-0.5], [1.5]])
    d = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    expected = np.log(d(real)).mean() + np.log(1 - d(fake)).mean()
    value, _, _ = nn.gan_value(b.asarray(real), b.asarray(fake))
    assert float(value) == pytest.approx(expected, rel=1e-12)
    loss, _, _ = nn.discriminator_loss(b.asarray(real), b.asarray(fake))
    assert float(loss) == pytest.approx(-expected, rel=1e-12)
    sat, _ = nn.generator_loss(b.asarray(fake), saturating=True)
    nonsat, _ = nn.generator_loss(b.asarray(fake))
    assert float(sat) == pytest.approx(np.log(1 - d(fake)).mean(), rel=1e-12)
    assert float(nonsat) == pytest.approx(-np.log(d(fake)).mean(), rel=1e-12)


def test_gan_value_at_the_optimum_is_minus_log_4(backend_name):
    b = _b(backend_name, "float64")
    zeros = b.zeros((10, 1))  # D = 1/2 everywhere
    value, _, _ = nn.gan_value(zeros, zeros)
    assert float(value) == pytest.approx(-np.log(4), rel=1e-12)


# -- dtype: float32 stays float32 ---------------------------------------------------------
def _all_layers(b):
    return nn.Sequential(
        nn.Linear(6, 8, b), nn.ReLU(b), nn.Dropout(0.5, b), nn.Maxout(8, 4, 3, b),
        nn.Linear(4, 5, b, init=nn.Gaussian(0.1)), nn.Sigmoid(b),
    )


def test_float32_end_to_end_without_upcasts(backend_name):
    b = _b(backend_name, "float32")
    net = nn.Sequential(nn.Join(_all_layers(b), nn.Linear(3, 2, b)), nn.Linear(7, 1, b))
    x = (b.uniform((10, 6)), b.uniform((10, 3)))
    y, cache = net.forward(x)
    assert y.dtype == np.float32
    dx = net.backward(b.asarray(np.ones(y.shape)), cache)
    assert all(d.dtype == np.float32 for d in dx)
    assert all(g.dtype == np.float32 for g in net.grads.values())
    for fn in (lambda: nn.bce_with_logits(y, 1.0), lambda: nn.generator_loss(y),
               lambda: nn.gan_value(y, y), lambda: nn.mse(y, y)):
        value, *grads = fn()
        assert value.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    opt = nn.SGD(net.params, net.grads, lr=nn.ExponentialDecay(0.1, 1.00004, 1e-6), momentum=0.5,
                 max_col_norm=1.0)
    opt.step()
    assert all(p.dtype == np.float32 for p in net.params.values())
    assert all(v.dtype == np.float32 for v in opt.velocity.values())
    assert b.uniform((3,)).dtype == np.float32 and b.normal((3,)).dtype == np.float32


# -- no per-batch state; accumulation; frozen parameters ----------------------------------
def test_two_forwards_before_either_backward(backend_name):
    """The discriminator runs on a real and a fake batch, then backpropagates both."""
    b = _b(backend_name, "float64", seed=1)
    d = nn.Sequential(nn.Maxout(4, 3, 2, b, init=nn.Gaussian(1.0)), nn.Dropout(0.5, b), nn.Linear(3, 1, b))
    real, fake = b.normal((5, 4)), b.normal((6, 4))

    b.reseed(11)
    _, c_real = d.forward(real)
    _, c_fake = d.forward(fake)
    d.zero_grads()
    d.backward(b.asarray(np.ones((6, 1))), c_fake)
    d.backward(b.asarray(np.ones((5, 1))), c_real)
    interleaved = {k: b.to_numpy(g).copy() for k, g in d.grads.items()}

    b.reseed(11)
    _, c_real = d.forward(real)
    d.zero_grads()
    d.backward(b.asarray(np.ones((5, 1))), c_real)
    _, c_fake = d.forward(fake)
    d.backward(b.asarray(np.ones((6, 1))), c_fake)
    for k, g in d.grads.items():
        np.testing.assert_allclose(b.to_numpy(g), interleaved[k], rtol=1e-12)


def test_gradients_accumulate_until_zeroed(backend_name):
    b = _b(backend_name, "float64")
    layer = nn.Linear(3, 2, b)
    x = b.normal((4, 3))
    _, cache = layer.forward(x)
    dy = b.normal((4, 2))
    layer.backward(dy, cache)
    once = b.to_numpy(layer.grads["W"]).copy()
    layer.backward(dy, cache)
    np.testing.assert_allclose(b.to_numpy(layer.grads["W"]), 2 * once, rtol=1e-12)
    layer.zero_grads()
    assert not b.to_numpy(layer.grads["W"]).any()


def test_param_grads_false_leaves_gradients_alone_and_input_grad_false_skips_dx(backend_name):
    b = _b(backend_name, "float64")
    net = nn.Sequential(nn.Linear(3, 4, b), nn.ReLU(b), nn.Maxout(4, 2, 3, b), nn.Linear(2, 1, b))
    y, cache = net.forward(b.normal((5, 3)))
    dx = net.backward(b.asarray(np.ones(y.shape)), cache, param_grads=False)
    assert dx.shape == (5, 3)
    assert not any(b.to_numpy(g).any() for g in net.grads.values())
    assert net.backward(b.asarray(np.ones(y.shape)), cache, input_grad=False) is None
    assert all(b.to_numpy(g).any() for k, g in net.grads.items() if k.endswith("W"))


class _Counting(nn.Layer):
    """A layer without parameters that records the input_grad of each backward call."""

    def __init__(self, inner, calls):
        super().__init__(inner.backend)
        self.inner, self.calls = inner, calls

    def forward(self, x, train=True):
        return self.inner.forward(x, train)

    def backward(self, dy, cache, *, param_grads=True, input_grad=True):
        self.calls.append((type(self.inner).__name__, input_grad))
        return self.inner.backward(dy, cache, param_grads=param_grads, input_grad=input_grad)


def test_sequential_computes_no_input_gradient_that_nothing_reads(backend_name):
    """Layers without parameters at the front (Dropout, Reshape): with input_grad=False the
    first layer with parameters is asked for no input gradient, and the layers before it
    are not run backward at all; the parameter gradients are those of the full backward."""
    b = _b(backend_name, "float64", seed=1)
    calls = []
    first = nn.Linear(6, 4, b)
    net = nn.Sequential(_Counting(nn.Reshape((6,), b), calls), _Counting(nn.Dropout(0.7, b), calls),
                        first, nn.ReLU(b), nn.Linear(4, 1, b))
    x = b.normal((5, 2, 3))
    b.reseed(3)
    y, cache = net.forward(x)
    dy = b.normal(y.shape)
    assert net.backward(dy, cache, input_grad=False) is None
    assert calls == []
    skipped = {k: b.to_numpy(g).copy() for k, g in net.grads.items()}
    net.zero_grads()
    dx = net.backward(dy, cache)
    assert calls == [("Dropout", True), ("Reshape", True)] and dx.shape == x.shape
    for key, g in net.grads.items():
        np.testing.assert_array_equal(b.to_numpy(g), skipped[key], err_msg=key)
    # nothing to update and no input gradient wanted: no layer but the last does any work
    calls.clear()
    net.backward(dy, cache, param_grads=False, input_grad=False)
    assert calls == []


def test_composite_params_share_arrays_with_children(backend_name):
    b = _b(backend_name)
    inner = nn.Linear(2, 3, b)
    net = nn.Sequential(nn.Join(inner, nn.Linear(1, 1, b), names=("x", "y")), nn.ReLU(b))
    assert set(net.params) == set(net.grads) == {"0.x.W", "0.x.b", "0.y.W", "0.y.b"}
    assert net.params["0.x.W"] is inner.params["W"]
    assert net.grads["0.x.W"] is inner.grads["W"]
    assert net.num_params() == 2 * 3 + 3 + 1 + 1


# -- initialisation -----------------------------------------------------------------------
def test_initialisations_have_the_stated_ranges(backend_name):
    b = _b(backend_name, seed=5)
    w = b.to_numpy(nn.Linear(300, 400, b, init=nn.Uniform(0.05)).params["W"])
    assert w.min() >= -0.05 and w.max() <= 0.05 and w.max() > 0.049 and w.min() < -0.049
    g = b.to_numpy(nn.Linear(300, 400, b, init=nn.Gaussian(0.01)).params["W"])
    assert abs(g.std() - 0.01) < 3e-4 and abs(g.mean()) < 3e-4
    marginals = np.linspace(-1, 1, 7)
    bias = b.to_numpy(nn.Linear(3, 7, b, bias=marginals).params["b"])
    np.testing.assert_allclose(bias, marginals, rtol=1e-6)


def test_same_seed_same_network(backend_name):
    w1 = nn.Maxout(5, 4, 3, _b(backend_name, seed=9)).params["W"]
    w2 = nn.Maxout(5, 4, 3, _b(backend_name, seed=9)).params["W"]
    w3 = nn.Maxout(5, 4, 3, _b(backend_name, seed=10)).params["W"]
    assert (w1 == w2).all() and not (w1 == w3).all()


# -- errors ---------------------------------------------------------------------------------
def test_wrong_width_names_the_layer(backend_name):
    b = _b(backend_name)
    with pytest.raises(ValueError, match=r"Linear\(784 -> 240\) expects input of shape \(batch, 784\)"):
        nn.Linear(784, 240, b).forward(b.zeros((2, 783)))


def test_wrong_dtype_is_a_type_error(backend_name):
    b = _b(backend_name, "float32")
    with pytest.raises(TypeError, match="float64 data.*float32"):
        nn.Linear(2, 2, b).forward(b.zeros((1, 2), dtype="float64"))


def test_numpy_array_on_the_cupy_backend_is_a_type_error(backend_name):
    if backend_name != "cupy":
        pytest.skip("needs the cupy backend")
    b = _b("cupy")
    with pytest.raises(TypeError, match="numpy.ndarray.*cupy backend"):
        nn.ReLU(b).forward(np.zeros((2, 2), dtype=np.float32))


def test_foreign_array_on_the_numpy_backend_is_a_type_error():
    b = _b("numpy")

    class NotAnArray:
        shape, dtype, ndim = (2, 2), np.float32, 2

    with pytest.raises(TypeError, match="numpy backend"):
        nn.Linear(2, 2, b).forward(NotAnArray())
    with pytest.raises(TypeError, match="numpy backend"):
        nn.ReLU(b).forward([[1.0, 2.0]])


def test_layers_need_a_backend():
    with pytest.raises(TypeError, match="needs a Backend"):
        nn.Linear(2, 2, "numpy")


def test_layers_of_different_backends_cannot_be_composed():
    with pytest.raises(ValueError, match="different backend"):
        nn.Sequential(nn.Linear(2, 2, _b("numpy")), nn.Linear(2, 2, _b("numpy")))


def test_join_checks_its_inputs(backend_name):
    b = _b(backend_name)
    join = nn.Join(nn.Linear(2, 2, b), nn.Linear(3, 1, b))
    with pytest.raises(TypeError, match="pair"):
        join.forward(b.zeros((4, 2)))
    with pytest.raises(ValueError, match="different batch sizes"):
        join.forward((b.zeros((4, 2)), b.zeros((5, 3))))
