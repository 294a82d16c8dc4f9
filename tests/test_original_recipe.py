"""The original code's training options: the simultaneous update, the noise
distributions, uniformly drawn labels for generated samples, the marginal clip, the
`original` preset, the Parzen protocol of parzen_ll.py, and `cgan sample --npz`."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nn
from cgan.core.noise import sample_noise
from cgan.core.optim import Optimizers
from cgan.core.steps import BCE, Minibatch, simultaneous_step
from cgan.experiments.mnist.config import PRESETS, resolve_config
from cgan.experiments.mnist.train import Trainer
from cgan.models.mnist import ModelConfig, build_pair

from .test_parzen import brute_force
from .test_train import fake_mnist, tiny_config


# -- the simultaneous update -----------------------------------------------------------
def _tiny_pair(model, seed, *, d_input_keep=1.0, d_hidden_keep=1.0, g_hidden_keep=1.0):
    b = nn.get_backend("numpy", dtype="float64", seed=seed)
    config = ModelConfig(model=model, width_scale=0.02, image_dim=12, noise_dim=4,
                         g_irange=0.7, d_irange=0.7, d_input_keep=d_input_keep,
                         d_hidden_keep=d_hidden_keep, g_hidden_keep=g_hidden_keep)
    return b, build_pair(b, config, b.uniform((12,)))


def _flat(net):
    return {k: v.copy() for k, v in net.params.items()}


def _numeric_directional(loss, params, direction, eps=1e-6):
    for k in params:
        params[k] += eps * direction[k]
    up = loss()
    for k in params:
        params[k] -= 2 * eps * direction[k]
    down = loss()
    for k in params:
        params[k] += eps * direction[k]
    return (up - down) / (2 * eps)


@pytest.mark.parametrize("model", ["cgan", "gan"])
def test_simultaneous_step_applies_both_gradients_taken_at_the_same_parameters(model):
    """With plain SGD (momentum 0) one simultaneous step moves each network by -lr times
    the gradient of its own loss at the *starting* parameters of both networks: checked
    along random directions against central differences of
    d_obj(theta_D) = 0.5 (BCE(D(x), 1) + BCE(D(G(z)), 0)) and g_obj(theta_G) = -log D(G(z))."""
    b, pair = _tiny_pair(model, seed=3)
    rng = np.random.default_rng(0)
    n, lr = 5, 0.1
    x = b.asarray(rng.random((n, 12)))
    z = b.asarray(rng.uniform(-1, 1, (n, 4)))
    y = b.xp.eye(10)[np.arange(n) % 10] if pair.conditional else None
    y_fake = b.xp.eye(10)[(np.arange(n) + 3) % 10] if pair.conditional else None
    d, g = pair.discriminator, pair.generator
    d0, g0 = _flat(d), _flat(g)

    def d_obj():
        fake, _ = pair.generate(z, y_fake)
        real_logits, _ = pair.discriminate(x, y)
        fake_logits, _ = pair.discriminate(fake, y_fake)
        return 0.5 * float(nn.discriminator_loss(real_logits, fake_logits)[0])

    def g_obj():
        fake, _ = pair.generate(z, y_fake)
        fake_logits, _ = pair.discriminate(fake, y_fake)
        return float(nn.generator_loss(fake_logits)[0])

    directions = {net: {k: rng.standard_normal(v.shape) for k, v in net.params.items()} for net in (d, g)}
    expected = {d: _numeric_directional(d_obj, d.params, directions[d]),
                g: _numeric_directional(g_obj, g.params, directions[g])}
    out = simultaneous_step(pair, Optimizers(d=nn.SGD(d.params, d.grads, lr=lr, momentum=0.0),
                                             g=nn.SGD(g.params, g.grads, lr=lr, momentum=0.0)),
                            Minibatch(x, y, z, y_fake), BCE())
    d_loss, g_loss = out["d_loss"], out["g_loss"]
    for net, before in ((d, d0), (g, g0)):
        step = sum(float(((net.params[k] - before[k]) * directions[net][k]).sum()) for k in before)
        assert -step / lr == pytest.approx(expected[net], rel=1e-6, abs=1e-9)
    # the losses returned are the ones at the starting parameters
    for net, before in ((d, d0), (g, g0)):
        for k in before:
            net.params[k][...] = before[k]
    assert float(d_loss) == pytest.approx(d_obj(), rel=1e-12)
    assert float(g_loss) == pytest.approx(g_obj(), rel=1e-12)


def test_the_generators_gradient_goes_through_the_same_dropped_out_pass():
    """With dropout in D, the step equals a reference that draws the masks once (G's
    forward, D on x, D on G(z), in that order from the same stream) and takes both
    gradients from that one pass; an alternating step, which draws new masks for G's
    gradient, does not."""
    b, pair = _tiny_pair("cgan", seed=5, d_input_keep=0.8, d_hidden_keep=0.5)
    rng = np.random.default_rng(1)
    n, lr = 6, 0.05
    x = b.asarray(rng.random((n, 12)))
    z = b.asarray(rng.uniform(-1, 1, (n, 4)))
    y = b.xp.eye(10)[np.arange(n) % 10]
    # The same networks on a backend of their own, at the same point of the same stream.
    rb, reference = _tiny_pair("cgan", seed=5, d_input_keep=0.8, d_hidden_keep=0.5)
    rb.set_rng_state(b.rng_state())

    d, g = pair.discriminator, pair.generator
    simultaneous_step(pair, Optimizers(d=nn.SGD(d.params, d.grads, lr=lr, momentum=0.0),
                                       g=nn.SGD(g.params, g.grads, lr=lr, momentum=0.0)),
                      Minibatch(x, y, z, y), BCE())

    rd, rg = reference.discriminator, reference.generator
    fake, g_cache = rg.forward((z, y))
    real_logits, real_cache = rd.forward((x, y))
    fake_logits, fake_cache = rd.forward((fake, y))
    _, dr, df = nn.discriminator_loss(real_logits, fake_logits)
    _, dg = nn.generator_loss(fake_logits)
    rd.zero_grads()
    rd.backward(0.5 * dr, real_cache, input_grad=False)
    rd.backward(0.5 * df, fake_cache, input_grad=False)
    dx = rd.backward(dg, fake_cache, param_grads=False)
    rg.zero_grads()
    rg.backward(dx[0], g_cache, input_grad=False)
    for net, ref in ((d, rd), (g, rg)):
        for k, p in net.params.items():
            np.testing.assert_allclose(p, ref.params[k] - lr * ref.grads[k], rtol=0, atol=1e-14)
    # The masks matter: a reference with a fresh D pass for G's gradient differs.
    fresh_logits, _ = rd.forward((fake, y))
    assert not np.allclose(fresh_logits, fake_logits)


def test_a_simultaneous_epoch_trains_and_resumes(tmp_path):
    splits = fake_mnist(n_train=300)
    config = tiny_config("cgan", update="simultaneous", fake_labels="uniform",
                         noise="uniform_unit_variance", epochs=2)
    trainer = Trainer(config, tmp_path, splits, progress=False)
    record = trainer.train_epoch()
    assert record["updates"] == 3 and math.isfinite(record["g_loss"]) and record["g_loss"] > 0
    assert trainer.opt.g.updates == trainer.opt.d.updates == 3


def test_simultaneous_needs_one_step_each_and_the_bce_loss():
    with pytest.raises(ValueError, match="simultaneous"):
        resolve_config("gan", "original", k_steps=2)
    config = resolve_config("gan", "original", loss="wasserstein")  # WGAN alternates
    assert config.update == "alternating"


# -- noise, labels, marginals ------------------------------------------------------------
@pytest.mark.parametrize("kind, low, high, mean, var", [
    ("uniform01", 0.0, 1.0, 0.5, 1 / 12),
    ("uniform_pm1", -1.0, 1.0, 0.0, 1 / 3),
    ("uniform_unit_variance", -math.sqrt(3), math.sqrt(3), 0.0, 1.0),
    ("gaussian", -np.inf, np.inf, 0.0, 1.0),
])
def test_noise_moments(backend_name, kind, low, high, mean, var):
    b = nn.get_backend(backend_name, seed=7)
    z = b.to_numpy(sample_noise(b, kind, 2000, 100)).astype(np.float64)
    assert z.dtype == np.float64 and z.shape == (2000, 100)
    assert z.min() >= low and z.max() <= high
    n = z.size  # 200,000 draws: the mean is within 5 standard errors
    assert abs(z.mean() - mean) < 5 * math.sqrt(var / n)
    assert z.var() == pytest.approx(var, rel=0.02)
    if kind == "uniform_unit_variance":  # it fills its interval
        assert z.min() < low + 1e-3 and z.max() > high - 1e-3


def test_uniform_fake_labels_are_drawn_evenly_and_batch_labels_are_the_real_ones(tmp_path):
    splits = fake_mnist(n_train=100)
    trainer = Trainer(tiny_config("cgan", fake_labels="uniform"), tmp_path, splits, progress=False)
    y = trainer.backend.xp.eye(10, dtype=np.float32)[np.zeros(20000, dtype=np.int64)]
    drawn = trainer.draw.generated_condition(y)
    assert drawn.shape == y.shape and drawn.dtype == np.float32
    assert (drawn.sum(axis=1) == 1).all()
    counts = drawn.sum(axis=0)
    assert counts.min() > 1800 and counts.max() < 2200  # 2000 each, +- 4.7 sd
    same = Trainer(tiny_config("cgan"), tmp_path / "b", splits, progress=False)
    assert same.draw.generated_condition(y) is y


def test_marginal_clip_sets_the_output_bias():
    b = nn.get_backend("numpy", seed=0)
    marginals = b.asarray(np.array([0.0, 1e-5, 0.5, 1.0] + [0.3] * 780))
    for clip in (1e-7, 1e-3):
        pair = build_pair(b, ModelConfig(model="gan", marginal_clip=clip), marginals)
        bias = b.to_numpy(pair.generator.layers[-2].params["b"]).astype(np.float64)
        p = np.clip(b.to_numpy(marginals).astype(np.float64), clip, 1 - clip)
        # (the upper clip, 1 - 1e-7, is not representable in float32; no MNIST pixel is
        # always on, so only the lower one matters)
        np.testing.assert_allclose(bias[:3], np.log(p / (1 - p))[:3], rtol=2e-4, atol=1e-6)
    assert bias[0] == pytest.approx(math.log(1e-3 / (1 - 1e-3)), rel=1e-4)


def test_the_original_preset_is_the_original_code():
    config = resolve_config("gan", "original")
    expected = dict(optimizer="sgd", lr=0.1, lr_decay=1.000004, lr_min=1e-6, momentum_start=0.5,
                    momentum_end=0.7, momentum_start_epoch=1, momentum_end_epoch=250, batch_size=100,
                    max_col_norm=None, g_irange=0.05, d_irange=0.005, init="uniform",
                    marginal_bias=True, marginal_clip=1e-7, noise="uniform_unit_variance",
                    update="simultaneous", d_input_keep=0.8, d_hidden_keep=0.5, g_hidden_keep=1.0,
                    k_steps=1, g_loss="nonsaturating", loss="bce", fake_labels="batch",
                    eval_sigma_points=1000, patience=None)
    assert {k: getattr(config, k) for k in expected} == expected
    assert resolve_config("cgan", "original").fake_labels == "uniform"
    paper = resolve_config("cgan", "paper")
    assert (paper.lr_decay, paper.g_hidden_keep, paper.update) == (1.00004, 0.5, "simultaneous")
    assert set(PRESETS) == {"default", "paper", "original"}


# -- Parzen: parzen_ll.py's protocol -------------------------------------------------------
def test_training_validation_uses_sigma_from_the_first_points_then_scores_all(tmp_path):
    """eval_sigma_points=k: sigma chosen on the first k validation images, the mean over
    all of them at that sigma: the float64 brute force of the same protocol."""
    splits = fake_mnist(n_valid=60)
    config = tiny_config("gan", eval_samples=50, eval_valid_points=60, eval_sigma_points=20)
    trainer = Trainer(config, tmp_path, splits, progress=False,
                      backend=nn.get_backend("numpy", dtype="float64", seed=0))
    ll, sigma = trainer.validation_ll()
    from cgan.experiments.mnist.train import generate

    noise = trainer.backend.with_seed(config.seed + 2_000_003)  # the validation stream
    samples = trainer.backend.to_numpy(generate(trainer.pair, trainer.backend, noise, config, n=50))
    valid = np.asarray(splits.valid_x[:60], np.float64)
    sigmas = np.logspace(-1, 0, 10)
    on_first = [brute_force(samples, valid[:20], s).mean() for s in sigmas]
    best = sigmas[int(np.argmax(on_first))]
    assert sigma == pytest.approx(best)
    assert ll == pytest.approx(brute_force(samples, valid, best).mean(), abs=1e-6)


# -- cgan sample --npz -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from cgan.experiments.mnist.train import train

    root = tmp_path_factory.mktemp("npz-runs")
    splits = fake_mnist()
    for model in ("cgan", "gan"):
        train(tiny_config(model, epochs=1), root / model, splits, progress=False)
    return root


@pytest.mark.parametrize("model, label, labels", [
    ("cgan", None, np.arange(25) % 10), ("cgan", "4", np.full(25, 4)), ("gan", None, np.full(25, -1)),
])
def test_sample_npz_writes_raw_samples_and_labels(runs, tmp_path, model, label, labels):
    from cgan.cli import main

    out = tmp_path / "s.npz"
    argv = ["sample", str(runs / model), "-n", "25", "--npz", str(out)] + (["--label", label] if label else [])
    assert main(argv) == 0
    assert not (tmp_path / "samples.png").exists()
    with np.load(out) as f:
        x, y = f["x"], f["y"]
    assert x.shape == (25, 784) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_array_equal(y, labels)
    assert y.dtype == np.int64
