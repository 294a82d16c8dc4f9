"""The losses check what they are given: no silent upcast, no silent broadcast."""

from __future__ import annotations

import numpy as np
import pytest

import nn


def _b(backend_name, dtype="float32"):
    return nn.get_backend(backend_name, dtype, seed=0)


def test_bce_refuses_float64_targets_for_float32_logits(backend_name):
    b = _b(backend_name)
    logits = b.normal((5, 1))
    targets = _b(backend_name, "float64").uniform((5, 1))
    with pytest.raises(TypeError, match="targets are float64 but the logits are float32.*upcast"):
        nn.bce_with_logits(logits, targets)
    with pytest.raises(TypeError, match="float64 but the logits are float32"):
        nn.bce_with_logits(logits, np.float64(1.0))  # a NumPy scalar is typed, unlike 1.0


def test_bce_refuses_targets_of_another_shape(backend_name):
    b = _b(backend_name)
    with pytest.raises(ValueError, match=r"targets have shape \(5,\) but the logits \(5, 1\).*\(n, n\)"):
        nn.bce_with_logits(b.normal((5, 1)), b.uniform((5,)))


def test_bce_takes_numbers_and_matching_arrays_in_the_logits_dtype(backend_name):
    b = _b(backend_name)
    logits = b.normal((5, 1))
    for targets in (1.0, 0, b.uniform((5, 1))):
        value, grad = nn.bce_with_logits(logits, targets)
        assert value.dtype == np.float32 and grad.dtype == np.float32 and grad.shape == (5, 1)


def test_mse_refuses_another_dtype_or_shape_or_a_number(backend_name):
    b = _b(backend_name)
    p = b.normal((4, 3))
    with pytest.raises(TypeError, match="targets are float64 but the predictions are float32"):
        nn.mse(p, _b(backend_name, "float64").normal((4, 3)))
    with pytest.raises(ValueError, match=r"targets have shape \(4, 1\) but the predictions \(4, 3\)"):
        nn.mse(p, b.normal((4, 1)))
    with pytest.raises(TypeError, match="must be an array"):
        nn.mse(p, 0.5)


@pytest.mark.parametrize("loss", [nn.gan_value, nn.discriminator_loss, nn.wasserstein_critic_loss])
def test_real_and_generated_scores_must_match(backend_name, loss):
    b = _b(backend_name)
    with pytest.raises(TypeError, match="generated scores are float64 but the real scores are float32"):
        loss(b.normal((3, 1)), _b(backend_name, "float64").normal((4, 1)))
    with pytest.raises(ValueError, match=r"must both be \(batch,\) or both \(batch, 1\)"):
        loss(b.normal((3, 1)), b.normal((4,)))
    loss(b.normal((3, 1)), b.normal((4, 1)))  # batches of different sizes are fine


def test_mixing_devices_is_an_error():
    if "cupy" not in nn.available_backends():
        pytest.skip("needs CuPy and a GPU")
    logits = _b("cupy").normal((3, 1))
    with pytest.raises(TypeError, match="one device"):
        nn.bce_with_logits(logits, np.zeros((3, 1), np.float32))


def test_sigmoid_has_one_home_and_layers_export_embedding():
    import nn.functional
    import nn.layers
    import nn.losses

    assert hasattr(nn.functional, "sigmoid") and hasattr(nn.functional, "softplus")
    assert not hasattr(nn.losses, "sigmoid") and not hasattr(nn.losses, "softplus")
    assert "sigmoid" not in nn.losses.__all__
    assert "Embedding" in nn.layers.__all__
    namespace = {}
    exec("from nn.layers import *", namespace)
    assert namespace["Embedding"] is nn.Embedding
