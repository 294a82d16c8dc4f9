"""SGD with momentum, the papers' schedules, and the max column norm constraint."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
from nn.optim import clip_column_norms


def test_conditional_paper_learning_rate_schedule():
    lr = nn.ExponentialDecay(0.1, 1.00004, 1e-6)
    assert lr(0) == 0.1
    assert lr(1) == pytest.approx(0.1 / 1.00004, rel=1e-12)
    assert lr(1000) == pytest.approx(0.1 / 1.00004**1000, rel=1e-9)
    floor_step = math.ceil(math.log(0.1 / 1e-6) / math.log(1.00004))
    assert floor_step == 287_829
    assert lr(floor_step - 1) > 1e-6
    assert lr(floor_step) == 1e-6
    assert lr(10**7) == 1e-6


def test_momentum_ramp_hits_its_stated_values():
    m = nn.LinearRamp(0.5, 0.7, start_epoch=1, end_epoch=251)
    assert m(0) == 0.5 and m(1) == 0.5
    assert m(126) == pytest.approx(0.6, rel=1e-12)
    assert m(251) == 0.7 and m(1000) == 0.7
    values = [m(e) for e in range(300)]
    assert values == sorted(values)


def test_schedules_reject_nonsense():
    with pytest.raises(ValueError, match="decay"):
        nn.ExponentialDecay(0.1, 0.9)
    with pytest.raises(ValueError, match="end_epoch"):
        nn.LinearRamp(0.5, 0.7, 10, 5)


def test_sgd_follows_the_classical_momentum_recurrence(backend_name):
    b = nn.get_backend(backend_name, "float64", seed=2)
    p = {"w": b.normal((3, 2))}
    g = {"w": b.zeros((3, 2))}
    lr = nn.ExponentialDecay(0.1, 1.5)
    opt = nn.SGD(p, g, lr=lr, momentum=nn.LinearRamp(0.5, 0.9, 0, 2))
    ref_p, ref_v = b.to_numpy(p["w"]).copy(), np.zeros((3, 2))
    rng = np.random.default_rng(0)
    for step in range(6):
        epoch = step // 2
        opt.set_epoch(epoch)
        grad = rng.standard_normal((3, 2))
        g["w"][...] = b.asarray(grad)
        before = p["w"]
        opt.step()
        assert p["w"] is before  # updated in place
        m = 0.5 + 0.2 * min(epoch, 2)
        ref_v = m * ref_v - lr(step) * grad
        ref_p = ref_p + ref_v
        np.testing.assert_allclose(b.to_numpy(p["w"]), ref_p, rtol=1e-12)
    assert opt.updates == 6
    assert opt.current_lr == lr(6)


def _fit_quadratic(backend_name, make_optimizer, steps):
    """Fit a linear map to exact linear targets (bias 0.25) by MSE with the optimiser
    ``make_optimizer(params, grads)``; returns (final loss, the layer's bias on the host)."""
    b = nn.get_backend(backend_name, "float64")
    layer = nn.Linear(4, 1, b, init=nn.Gaussian(1.0))
    x = b.normal((64, 4))
    target = x @ b.asarray(np.array([[1.0], [-2.0], [0.5], [3.0]])) + 0.25
    opt = make_optimizer(layer.params, layer.grads)
    for _ in range(steps):
        y, cache = layer.forward(x)
        loss, dy = nn.mse(y, target)
        layer.zero_grads()
        layer.backward(dy, cache, input_grad=False)
        opt.step()
    return float(loss), b.to_numpy(layer.params["b"])


def test_sgd_moves_a_quadratic_to_its_minimum(backend_name):
    loss, bias = _fit_quadratic(backend_name, lambda p, g: nn.SGD(p, g, lr=0.1, momentum=0.5), 300)
    assert loss < 1e-10
    np.testing.assert_allclose(bias, [0.25], atol=1e-5)


@given(rows=st.integers(1, 10), cols=st.integers(1, 10), max_norm=st.floats(0.1, 3.0),
       seed=st.integers(0, 1000))
def test_max_column_norm(rows, cols, max_norm, seed):
    b = nn.get_backend("numpy", "float64", seed=seed)
    w = b.normal((rows, cols), std=1.0)
    before = w.copy()
    clip_column_norms(w, max_norm)
    norms_before = np.linalg.norm(before, axis=0)
    norms = np.linalg.norm(w, axis=0)
    assert (norms <= max_norm * (1 + 1e-12)).all()
    inside = norms_before <= max_norm
    np.testing.assert_array_equal(w[:, inside], before[:, inside])
    np.testing.assert_allclose(norms[~inside], max_norm, rtol=1e-12)
    # Directions are kept.
    np.testing.assert_allclose(w[:, ~inside] * norms_before[~inside], before[:, ~inside] * max_norm,
                               rtol=1e-10)


def test_sgd_applies_the_column_norm_to_matrices_only(backend_name):
    b = nn.get_backend(backend_name, "float32")
    layer = nn.Linear(5, 3, b, init=nn.Gaussian(10.0), bias=100.0)
    opt = nn.SGD(layer.params, layer.grads, lr=0.0, momentum=0.0, max_col_norm=1.9365)
    opt.step()
    norms = b.to_numpy(b.xp.sqrt((layer.params["W"] ** 2).sum(axis=0)))
    assert (norms <= 1.9365 * (1 + 1e-6)).all()
    assert (b.to_numpy(layer.params["b"]) == 100.0).all()


def test_sgd_needs_matching_dicts():
    b = nn.get_backend("numpy")
    with pytest.raises(ValueError, match="same keys"):
        nn.SGD({"a": b.zeros((1,))}, {"b": b.zeros((1,))})


def test_adam_follows_its_definition(backend_name):
    b = nn.get_backend(backend_name, "float64")
    p = {"w": b.asarray(np.array([[1.0, -2.0], [0.5, 3.0]]))}
    g = {"w": b.zeros((2, 2))}
    opt = nn.Adam(p, g, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8)
    ref, m, v = b.to_numpy(p["w"]).copy(), np.zeros((2, 2)), np.zeros((2, 2))
    rng = np.random.default_rng(0)
    for t in range(1, 8):
        grad = rng.standard_normal((2, 2))
        g["w"][...] = b.asarray(grad)
        opt.step()
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad * grad
        ref = ref - 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        np.testing.assert_allclose(b.to_numpy(p["w"]), ref, rtol=1e-12, atol=1e-15)
    assert opt.updates == 7


def test_adam_keeps_float32_and_round_trips_its_state(tmp_path):
    from nn import checkpoint

    b = nn.get_backend("numpy", "float32")
    layer = nn.Linear(3, 2, b)
    opt = nn.Adam(layer.params, layer.grads, lr=nn.ExponentialDecay(1e-3, 1.0001))
    for _ in range(3):
        y, cache = layer.forward(b.normal((4, 3)))
        layer.zero_grads()
        layer.backward(b.asarray(np.ones(y.shape)), cache)
        opt.step()
    assert all(a.dtype == np.float32 for a in [*opt.m.values(), *opt.v.values(), *layer.params.values()])
    checkpoint.save(tmp_path / "c.npz", {"opt": opt})
    other = nn.Adam(layer.params, layer.grads)
    checkpoint.load(tmp_path / "c.npz", {"opt": other})
    assert other.updates == 3
    for k in opt.m:
        np.testing.assert_array_equal(other.m[k], opt.m[k])
        np.testing.assert_array_equal(other.v[k], opt.v[k])


# -- RMSProp and weight clipping (the WGAN critic) -----------------------------------------
def test_rmsprop_matches_a_hand_computed_update(backend_name):
    b = nn.get_backend(backend_name, "float64")
    p = {"w": b.asarray(np.array([1.0, -2.0]))}
    g = {"w": b.zeros((2,))}
    opt = nn.RMSProp(p, g, lr=0.1, alpha=0.9, eps=0.0)
    g["w"][...] = b.asarray(np.array([2.0, -1.0]))
    opt.step()
    # s = 0.1 g^2 = (0.4, 0.1); step = 0.1 g / sqrt(s) = 0.1 (2/sqrt(0.4), -1/sqrt(0.1))
    np.testing.assert_allclose(b.to_numpy(p["w"]), [1.0 - 0.2 / math.sqrt(0.4),
                                                   -2.0 + 0.1 / math.sqrt(0.1)], rtol=1e-14)
    g["w"][...] = b.asarray(np.array([1.0, 3.0]))
    before = b.to_numpy(p["w"]).copy()
    opt.step()
    s = 0.9 * np.array([0.4, 0.1]) + 0.1 * np.array([1.0, 9.0])   # (0.46, 0.99)
    np.testing.assert_allclose(b.to_numpy(p["w"]), before - 0.1 * np.array([1.0, 3.0]) / np.sqrt(s),
                               rtol=1e-14)
    assert opt.updates == 2 and opt.current_momentum == 0.0


def test_rmsprop_follows_its_definition_with_pytorch_defaults(backend_name):
    b = nn.get_backend(backend_name, "float64")
    p = {"w": b.asarray(np.array([[1.0, -2.0], [0.5, 3.0]]))}
    g = {"w": b.zeros((2, 2))}
    opt = nn.RMSProp(p, g)
    assert (opt.current_lr, opt.alpha, opt.eps) == (5e-5, 0.99, 1e-8)  # WGAN lr, torch defaults
    ref, s = b.to_numpy(p["w"]).copy(), np.zeros((2, 2))
    rng = np.random.default_rng(0)
    for _ in range(6):
        grad = rng.standard_normal((2, 2))
        g["w"][...] = b.asarray(grad)
        opt.step()
        s = 0.99 * s + 0.01 * grad * grad
        ref = ref - 5e-5 * grad / (np.sqrt(s) + 1e-8)
        np.testing.assert_allclose(b.to_numpy(p["w"]), ref, rtol=1e-12, atol=1e-15)


def test_rmsprop_moves_a_quadratic_to_its_minimum(backend_name):
    loss, bias = _fit_quadratic(
        backend_name, lambda p, g: nn.RMSProp(p, g, lr=nn.ExponentialDecay(0.02, 1.003)), 3000)
    assert loss < 1e-8
    np.testing.assert_allclose(bias, [0.25], atol=1e-4)


def test_rmsprop_keeps_float32_and_round_trips_its_state(tmp_path):
    from nn import checkpoint

    b = nn.get_backend("numpy", "float32")
    layer = nn.Linear(3, 2, b)
    opt = nn.RMSProp(layer.params, layer.grads)
    for _ in range(3):
        y, cache = layer.forward(b.normal((4, 3)))
        layer.zero_grads()
        layer.backward(b.asarray(np.ones(y.shape)), cache)
        opt.step()
    assert all(a.dtype == np.float32 for a in [*opt.square_avg.values(), *layer.params.values()])
    checkpoint.save(tmp_path / "c.npz", {"opt": opt})
    other = nn.RMSProp(layer.params, layer.grads)
    checkpoint.load(tmp_path / "c.npz", {"opt": other})
    assert other.updates == 3
    for k in opt.square_avg:
        np.testing.assert_array_equal(other.square_avg[k], opt.square_avg[k])


def test_rmsprop_rejects_a_bad_alpha():
    b = nn.get_backend("numpy")
    with pytest.raises(ValueError, match="alpha"):
        nn.RMSProp({"a": b.zeros((1,))}, {"a": b.zeros((1,))}, alpha=1.0)


@given(c=st.floats(1e-3, 2.0), seed=st.integers(0, 1000))
def test_clip_values_clips_every_parameter_in_place(c, seed):
    b = nn.get_backend("numpy", "float32", seed=seed)
    params = {"W": b.normal((5, 3)), "b": b.normal((3,))}
    before = {k: v.copy() for k, v in params.items()}
    arrays = dict(params)
    nn.clip_values(params, c)
    for k, p in params.items():
        assert p is arrays[k] and p.dtype == np.float32
        np.testing.assert_array_equal(p, np.clip(before[k], np.float32(-c), np.float32(c)))
        assert np.abs(p).max() <= np.float32(c)
    with pytest.raises(ValueError, match="positive"):
        nn.clip_values(params, 0.0)


@pytest.mark.parametrize("make", [
    lambda p, g: nn.SGD(p, g, lr=0.1, momentum=0.5),
    lambda p, g: nn.Adam(p, g, lr=1e-3),
    lambda p, g: nn.RMSProp(p, g, lr=1e-3),
])
def test_subnormal_state_is_flushed_every_ten_updates(make):
    """State entries in the subnormal range become 0 at every tenth update, and nothing
    else moves: the same steps without the flush give the same normal entries, bit for bit."""
    tiny = np.finfo(np.float32).tiny
    rng = np.random.default_rng(0)

    def run(flush_every, steps):
        p = {"W": rng.standard_normal((30, 20)).astype(np.float32)}
        g = {"W": np.zeros((30, 20), np.float32)}
        opt = make(p, g)
        opt.FLUSH_EVERY = flush_every
        for step in range(steps):
            # gradients that drive the state into the subnormal range: 1e-38 (lr g and
            # the first moments fall below 1.2e-38), 1e-20 (its square does), and 1e-2
            g["W"][...] = np.array([1e-2, 1e-20, 1e-38], np.float32)[np.arange(600).reshape(30, 20) % 3]
            opt.step()
        return opt, p

    rng = np.random.default_rng(0)
    flushed, p_flushed = run(10, 10)
    rng = np.random.default_rng(0)
    kept, p_kept = run(10**9, 10)
    for slot in flushed._slots:
        a, b = getattr(flushed, slot)["W"], getattr(kept, slot)["W"]
        subnormal = (b != 0) & (np.abs(b) < tiny)
        assert not ((a != 0) & (np.abs(a) < tiny)).any()
        assert (a[subnormal] == 0).all()
        assert np.array_equal(a[~subnormal], b[~subnormal])
    assert any(((getattr(kept, slot)["W"] != 0) & (np.abs(getattr(kept, slot)["W"]) < tiny)).any()
               for slot in kept._slots), "the test must produce subnormals to flush"
    assert np.array_equal(p_flushed["W"], p_kept["W"])  # the flush happens after the 10th update
