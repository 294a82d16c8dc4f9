"""Losses that return their value and their gradient.

The adversarial losses take the discriminator's *logits* a (pre-sigmoid scores, shape
(batch,) or (batch, 1)), never probabilities: with D = sigmoid(a),

    log D(a)     = -softplus(-a)
    log(1 - D(a)) = -softplus(a)

and softplus(a) = log(1 + e^a) = max(a, 0) + log(1 + e^-|a|) is finite for every finite
a. So no log(0) happens even when the discriminator is certain, and the gradients are the
simple sigmoid(a) - t. Values are 0-d arrays (no host synchronisation on a GPU); call
``float()`` when logging. Each value is a mean over the batch, and the gradient is that
of the mean (over every entry, so the gradient is divided by a.size). Derivations:
docs/backprop.md.

Every loss checks what it is given, before any arithmetic: two arrays that meet in one
expression (logits and targets, a prediction and its target, the real and the generated
scores) must be on the same device and in the same dtype, and a target must have its
logits' shape. Otherwise NumPy would upcast float32 work to float64 without a word, or
broadcast logits (n, 1) against targets (n,) into an (n, n) loss. The elementwise
functions themselves are nn.functional's.
"""

from __future__ import annotations

from . import functional
from .backend import array_module

__all__ = [
    "bce_with_logits",
    "gan_value",
    "discriminator_loss",
    "generator_loss",
    "wasserstein_critic_loss",
    "wasserstein_generator_loss",
    "mse",
    "softmax_cross_entropy",
]


def _check_same_kind(where: str, a, b, a_name: str, b_name: str) -> None:
    """``a`` and ``b`` are arrays of one module and one dtype."""
    if array_module(a) is not array_module(b):
        raise TypeError(f"{where}: {b_name} are a {type(b).__module__} array but {a_name} are "
                        f"{array_module(a).__name__}; put both on one device")
    if a.dtype != b.dtype:
        raise TypeError(f"{where}: {b_name} are {b.dtype} but {a_name} are {a.dtype}; convert "
                        f"them with backend.asarray(...) (mixed dtypes would silently "
                        f"{'upcast' if b.dtype.itemsize > a.dtype.itemsize else 'downcast'} the loss "
                        "and its gradient)")


def _check_target(where: str, reference, target, reference_name: str, target_name: str) -> None:
    """``target`` is a Python number, or an array of ``reference``'s module, dtype and shape."""
    if isinstance(target, (int, float)) and not isinstance(target, bool) and not hasattr(target, "dtype"):
        return  # a Python number takes the reference's dtype (a NumPy scalar would not)
    if not hasattr(target, "dtype"):
        raise TypeError(f"{where}: {target_name} must be a number or an array, got "
                        f"{type(target).__name__}")
    _check_same_kind(where, reference, target, reference_name, target_name)
    if target.shape != reference.shape:
        raise ValueError(f"{where}: {target_name} have shape {tuple(target.shape)} but {reference_name} "
                         f"{tuple(reference.shape)}; give them the same shape (NumPy would broadcast "
                         "the two instead, e.g. (n, 1) against (n,) into an (n, n) loss)")


def _check_scores(where: str, real, fake) -> None:
    """Real and generated scores: one module and dtype, (batch,) or (batch, 1) alike."""
    _check_same_kind(where, real, fake, "the real scores", "the generated scores")
    if real.shape[1:] != fake.shape[1:] or real.ndim > 2:
        raise ValueError(f"{where}: scores must both be (batch,) or both (batch, 1), got "
                         f"{tuple(real.shape)} (real) and {tuple(fake.shape)} (generated)")


def bce_with_logits(logits, targets):
    """Binary cross-entropy  L = mean_i [ softplus(a_i) - t_i a_i ].

    This equals mean_i -[t_i log sigmoid(a_i) + (1 - t_i) log(1 - sigmoid(a_i))].

    Args:
        logits: scores a.
        targets: t in [0, 1], a number or an array of the logits' shape.

    Returns:
        (L, dL/da) with dL/da_i = (sigmoid(a_i) - t_i) / n.

    Raises:
        TypeError: array targets on another device or in another dtype than the logits.
        ValueError: array targets of another shape than the logits.
    """
    _check_target("bce_with_logits", logits, targets, "the logits", "the targets")
    n = logits.size
    value = (functional.softplus(logits) - targets * logits).mean()
    grad = functional.sigmoid(logits) - targets
    grad *= 1.0 / n
    return value, grad


def gan_value(real_logits, fake_logits):
    """The GAN value function V(D, G) = E log D(x) + E log(1 - D(G(z))).

    The discriminator ascends V; the generator (in the minimax game) descends it.

    Returns:
        (V, dV/da_real, dV/da_fake), with dV/da_real = (1 - sigmoid(a_real)) / n_real and
        dV/da_fake = -sigmoid(a_fake) / n_fake.
    """
    _check_scores("gan_value", real_logits, fake_logits)
    value = -functional.softplus(-real_logits).mean() - functional.softplus(fake_logits).mean()
    d_real = 1 - functional.sigmoid(real_logits)
    d_real *= 1.0 / real_logits.size
    d_fake = -functional.sigmoid(fake_logits)
    d_fake *= 1.0 / fake_logits.size
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
    n = fake_logits.size
    if saturating:
        value = -functional.softplus(fake_logits).mean()
        grad = -functional.sigmoid(fake_logits)
    else:
        value = functional.softplus(-fake_logits).mean()
        grad = functional.sigmoid(fake_logits) - 1
    grad *= 1.0 / n
    return value, grad


def wasserstein_critic_loss(real_scores, fake_scores):
    """The WGAN critic's loss  L = E f(G(z)) - E f(x)  (Arjovsky et al., 2017, Algorithm 1).

    ``real_scores`` and ``fake_scores`` are the critic's linear outputs f (no sigmoid).
    The critic maximises the Kantorovich-Rubinstein estimate E f(x) - E f(G(z)) of the
    Wasserstein-1 distance (up to the Lipschitz constant that weight clipping imposes), so
    it descends its negative. The loss is linear in the scores, hence the constant
    gradients.

    Returns:
        (L, dL/df_real, dL/df_fake) with dL/df_real = -1 / n_real and dL/df_fake = 1 / n_fake.
    """
    _check_scores("wasserstein_critic_loss", real_scores, fake_scores)
    xp = array_module(real_scores)
    value = fake_scores.mean() - real_scores.mean()
    d_real = xp.full_like(real_scores, -1.0 / real_scores.size)
    d_fake = xp.full_like(fake_scores, 1.0 / fake_scores.size)
    return value, d_real, d_fake


def wasserstein_generator_loss(fake_scores):
    """The WGAN generator's loss  L = -E f(G(z)), and dL/df = -1 / n (constant).

    It never saturates: whatever the critic's output, each generated sample receives the
    same push along the critic's gradient with respect to its input.
    """
    xp = array_module(fake_scores)
    value = -fake_scores.mean()
    grad = xp.full_like(fake_scores, -1.0 / fake_scores.size)
    return value, grad


def mse(prediction, target):
    """Mean squared error  L = mean_i sum_j (p_ij - t_ij)^2 / 2, and dL/dp = (p - t) / n.

    The target is an array of the prediction's device, dtype and shape (TypeError,
    ValueError otherwise)."""
    if not hasattr(target, "dtype"):
        raise TypeError(f"mse: the target must be an array, got {type(target).__name__}")
    _check_target("mse", prediction, target, "the predictions", "the targets")
    n = prediction.shape[0]
    diff = prediction - target
    value = 0.5 * (diff * diff).sum() / n
    diff *= 1.0 / n
    return value, diff


def softmax_cross_entropy(logits, labels):
    """Multiclass cross-entropy  L = mean_i -log softmax(a_i)[y_i]  on logits.

    Computed from the shifted logits s = a - max_j a_j (per row), so that nothing
    overflows: log softmax(a)_k = s_k - log sum_j e^{s_j}, where every e^{s_j} <= 1 and
    the largest is exactly 1 (the sum is in [1, k], its log finite).

    Args:
        logits: scores a of shape (n, k), one row per example.
        labels: integer class indices y of shape (n,), in [0, k), on the same device as
            the logits. (Out-of-range labels are not checked: that would synchronise a GPU.)

    Returns:
        (L, dL/da): L a 0-d array; dL/da = (softmax(a) - onehot(y)) / n in the logits' dtype.
    """
    xp = array_module(logits)
    if logits.ndim != 2:
        raise ValueError(f"softmax_cross_entropy expects logits of shape (n, k), got {tuple(logits.shape)}")
    if array_module(labels) is not xp:
        raise TypeError(
            f"softmax_cross_entropy: labels are a {type(labels).__module__} array but the "
            f"logits are {xp.__name__}; put both on one device"
        )
    n = logits.shape[0]
    if labels.shape != (n,) or labels.dtype.kind not in "iu":
        raise ValueError(
            f"softmax_cross_entropy expects integer labels of shape ({n},), got "
            f"{labels.dtype} of shape {tuple(labels.shape)}"
        )
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = xp.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    rows = xp.arange(n)
    value = (xp.log(total[:, 0]) - shifted[rows, labels]).mean()
    grad = exp
    grad /= total
    grad[rows, labels] -= 1
    grad *= 1.0 / n
    return value, grad
