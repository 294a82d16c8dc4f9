"""The minimax experiments (docs/minimax.md) on reduced settings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cgan.experiments.toy import minimax


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
