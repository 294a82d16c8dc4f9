"""The minimax experiments (docs/minimax.md) on reduced settings, and the toy tools they use."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nn
from cgan.experiments.toy import minimax, theory
from cgan.experiments.toy.train import generator_gradient_norms
from cgan.models.toy import MixtureGenerator, toy_pair


# -- the tools --------------------------------------------------------------------------------
def test_mixture_sampling_and_the_frozen_generator_follow_the_density():
    b = nn.get_backend("numpy", "float64", seed=3)
    mix = theory.Mixture1D((0.3, 0.7), (-2.0, 1.0), (0.5, 0.2))
    mean = 0.3 * -2.0 + 0.7 * 1.0
    var = 0.3 * (0.25 + 4.0) + 0.7 * (0.04 + 1.0) - mean ** 2
    for draws in (mix.sample(b, 200_000),
                  MixtureGenerator(mix, b).forward(MixtureGenerator.noise(b, 200_000))[0]):
        assert draws.shape == (200_000, 1)
        assert float(draws.mean()) == pytest.approx(mean, abs=0.01)
        assert float(draws.var()) == pytest.approx(var, rel=0.01)
    x = np.linspace(-10, 10, 20001)
    assert float(theory.integrate(x, mix.pdf(x))) == pytest.approx(1.0, abs=1e-9)


def test_jensen_shannon_limits_and_the_identity():
    x = np.linspace(-20, 20, 40001)
    p = theory.normal_pdf(x, 0.0, 1.0)
    assert abs(float(theory.jensen_shannon(x, p, p))) < 1e-12
    assert float(theory.virtual_training_criterion(x, p, p)) == pytest.approx(-math.log(4), abs=1e-9)
    far = theory.normal_pdf(x, 15.0, 1.0)  # (almost) disjoint supports: JSD = log 2, C(G) = 0
    assert float(theory.jensen_shannon(x, p, far)) == pytest.approx(math.log(2), abs=1e-6)
    assert float(theory.virtual_training_criterion(x, p, far)) == pytest.approx(0.0, abs=1e-6)
    q = theory.normal_pdf(x, 1.0, 2.0)
    assert float(theory.virtual_training_criterion(x, p, q)) == pytest.approx(
        -math.log(4) + 2 * float(theory.jensen_shannon(x, p, q)), abs=1e-9)
    # any other D scores below D*
    assert float(theory.value_function(x, p, q, np.full_like(x, 0.5))) < float(
        theory.virtual_training_criterion(x, p, q))


def test_count_modes():
    b = nn.get_backend("numpy", seed=0)
    centres = theory.ring_centres(b.xp)
    assert centres.shape == (8, 2)
    np.testing.assert_allclose(np.linalg.norm(centres, axis=1), 2.0, rtol=1e-6)
    all_modes = theory.sample_ring(b, 4000, std=0.05)
    count = theory.count_modes(all_modes, centres, 0.05)
    assert count.covered == 8 and count.high_quality > 0.98
    one_mode = centres[3] + b.normal((1000, 2), std=0.05)
    assert theory.count_modes(one_mode, centres, 0.05).covered == 1
    nowhere = b.normal((1000, 2), std=0.1)  # the ring's centre: no mode
    count = theory.count_modes(nowhere, centres, 0.05)
    assert count.covered == 0 and count.high_quality == 0.0


def test_generator_gradient_norms_follow_the_analytic_ratio():
    b = nn.get_backend("numpy", "float64", seed=1)
    pair = toy_pair(b, 1, 1, hidden=8)
    out = generator_gradient_norms(pair, b.uniform((64, 1), -1, 1))
    d = out["d_fake"]
    # per sample, the two losses' gradients at G(z) differ by exactly D / (1 - D)
    np.testing.assert_allclose(out["saturating_per_sample"] / out["nonsaturating_per_sample"], d / (1 - d),
                               rtol=1e-9)
    assert all(not g.any() for g in pair.generator.grads.values())


# -- the experiments, reduced ---------------------------------------------------------------
def test_trained_discriminator_approaches_d_star_and_the_jsd_identity_holds():
    # 32 units and minibatches of 64 (the figure: 64 units, 512): small enough that no BLAS
    # threading kicks in, about 1 s
    r = minimax.optimal_discriminator(steps=800, batch=64, hidden=32, family=(1.0,), family_steps=200)
    assert r["max_gap"] < 0.15                       # here 0.089; the full run (3000 steps): 0.039
    assert r["identity_error"] < 1e-6                # C(G) = -log 4 + 2 JSD along the family
    assert abs(r["c_g"] - r["minus_log4_plus_2jsd"]) < 1e-6
    assert r["v_trained"] <= r["c_g"] + 1e-9         # D* maximises V
    (at_data,) = r["family"]
    assert at_data["c_g"] == pytest.approx(-math.log(4), abs=1e-6)
    assert at_data["v_trained"] == pytest.approx(-math.log(4), abs=0.01)


def test_an_untrained_discriminator_is_far_from_d_star():
    r = minimax.optimal_discriminator(steps=0, family=())
    assert r["max_gap"] > 0.3


def test_figure1_run_moves_p_g_onto_p_data():
    r = minimax.figure1(moments=(0, 600), n_samples=5000)
    first, last = r["snapshots"]
    assert first["g_mean"] < -1.5 and first["jsd"] > 0.6     # starts apart
    assert abs(last["g_mean"] - minimax.DATA_MEAN) < 0.3
    assert last["jsd"] < 0.5 * first["jsd"]


def test_saturating_loss_stalls_where_the_nonsaturating_one_learns():
    r = minimax.saturation(pretrain_steps=100, every=50, run_steps=200)
    confident = r["pretrain"][-1]
    assert confident["d_fake"] < 0.01
    assert confident["saturating"] < 0.01 * confident["nonsaturating"]
    ratio = confident["saturating"] / confident["nonsaturating"]
    assert ratio == pytest.approx(confident["d_fake"] / (1 - confident["d_fake"]), rel=0.3)
    sat, non = r["runs"]["saturating"], r["runs"]["nonsaturating"]
    assert non["first_within_0.25"] is not None and non["first_within_0.25"] <= 100
    assert sat["first_within_0.25"] is None
    assert abs(sat["trace"][-1][1] - sat["trace"][0][1]) < 0.5


def test_ring_gan_covers_the_modes():
    # narrower and smaller than the figure's (64 units, batch 256), so that no BLAS threading
    # kicks in: 1,500 steps in about 2 s
    r = minimax.ring(loss="bce", steps=1500, every=500, batch=64, hidden=32)
    assert [h["step"] for h in r["history"]] == [0, 500, 1000, 1500]
    assert r["history"][0]["covered"] <= 2
    assert r["history"][-1]["covered"] >= 6


def test_ring_wasserstein_clips_its_critic():
    r = minimax.ring(loss="wasserstein", steps=20, every=10, clip=0.1, batch=64, hidden=32)
    assert r["k_steps"] == 5 and len(r["history"]) == 3
    assert r["critic_max_abs"] <= np.float32(0.1)
    assert minimax.ring(loss="bce", steps=20, every=10, hidden=32)["critic_max_abs"] > 0.1  # no clipping there
