"""Probes of a toy pair (cgan.experiments.toy.train)."""

from __future__ import annotations

import numpy as np

import nn
from cgan.experiments.toy.train import generator_gradient_norms
from cgan.models.toy import toy_pair


def test_generator_gradient_norms_follow_the_analytic_ratio():
    b = nn.get_backend("numpy", "float64", seed=1)
    pair = toy_pair(b, 1, 1, hidden=8)
    out = generator_gradient_norms(pair, b.uniform((64, 1), -1, 1))
    d = out["d_fake"]
    # per sample, the two losses' gradients at G(z) differ by exactly D / (1 - D)
    np.testing.assert_allclose(out["saturating_per_sample"] / out["nonsaturating_per_sample"], d / (1 - d),
                               rtol=1e-9)
    assert all(not g.any() for g in pair.generator.grads.values())
