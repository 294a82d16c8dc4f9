"""Losses that return their value and their gradient.

Every function takes the discriminator's *logits* a (pre-sigmoid scores, shape
(batch,) or (batch, 1)), never probabilities: with D = sigmoid(a),

    log D(a)     = -softplus(-a)
    log(1 - D(a)) = -softplus(a)

and softplus(a) = log(1 + e^a) = max(a, 0) + log(1 + e^-|a|) is finite for every finite
a. So no log(0) happens even when the discriminator is certain, and the gradients are the
simple sigmoid(a) - t. Values are 0-d arrays (no host synchronisation on a GPU); call
``float()`` when logging. Each value is a mean over the batch, and the gradient is that
of the mean. Derivations: docs/backprop.md.
"""

from __future__ import annotations

from .functional import sigmoid, softplus

__all__ = [
    "softplus",
    "sigmoid",
    "bce_with_logits",
    "gan_value",
    "discriminator_loss",
    "generator_loss",
    "mse",
]


def bce_with_logits(logits, targets):
    """Binary cross-entropy  L = mean_i [ softplus(a_i) - t_i a_i ].

    This equals mean_i -[t_i log sigmoid(a_i) + (1 - t_i) log(1 - sigmoid(a_i))].

    Args:
        logits: scores a.
        targets: t in [0, 1], a number or an array of the logits' shape.

    Returns:
        (L, dL/da) with dL/da_i = (sigmoid(a_i) - t_i) / n.
    """
    n = logits.shape[0]
    value = (softplus(logits) - targets * logits).mean()
    grad = sigmoid(logits) - targets
    grad *= 1.0 / n
    return value, grad


def gan_value(real_logits, fake_logits):
    """The GAN value function V(D, G) = E log D(x) + E log(1 - D(G(z))).

    The discriminator ascends V; the generator (in the minimax game) descends it.

    Returns:
        (V, dV/da_real, dV/da_fake), with dV/da_real = (1 - sigmoid(a_real)) / n_real and
        dV/da_fake = -sigmoid(a_fake) / n_fake.
    """
    value = -softplus(-real_logits).mean() - softplus(fake_logits).mean()
    d_real = 1 - sigmoid(real_logits)
    d_real *= 1.0 / real_logits.shape[0]
    d_fake = -sigmoid(fake_logits)
    d_fake *= 1.0 / fake_logits.shape[0]
    return value, d_real, d_fake


def discriminator_loss(real_logits, fake_logits):
    """The discriminator's loss -V(D, G): BCE on real (target 1) plus BCE on fake (target 0).

    Returns:
        (loss, dloss/da_real, dloss/da_fake).
    """
    value, d_real, d_fake = gan_value(real_logits, fake_logits)
    return -value, -d_real, -d_fake


def generator_loss(fake_logits, saturating: bool = False):
    """The generator's loss on D's logits for generated samples.

    * ``saturating=True``: the minimax loss  L = E log(1 - D(G(z))) = -E softplus(a),
      dL/da = -sigmoid(a) / n. Its gradient vanishes when D confidently rejects the
      samples (sigmoid(a) -> 0), which is the case early in training.
    * ``saturating=False`` (default): the non-saturating loss  L = -E log D(G(z)) =
      E softplus(-a), dL/da = (sigmoid(a) - 1) / n, strong exactly when D rejects.

    Both are minimised by the generator. Returns (L, dL/da).
    """
    n = fake_logits.shape[0]
    if saturating:
        value = -softplus(fake_logits).mean()
        grad = -sigmoid(fake_logits)
    else:
        value = softplus(-fake_logits).mean()
        grad = sigmoid(fake_logits) - 1
    grad *= 1.0 / n
    return value, grad


def mse(prediction, target):
    """Mean squared error  L = mean_i sum_j (p_ij - t_ij)^2 / 2, and dL/dp = (p - t) / n."""
    n = prediction.shape[0]
    diff = prediction - target
    value = 0.5 * (diff * diff).sum() / n
    diff *= 1.0 / n
    return value, diff
