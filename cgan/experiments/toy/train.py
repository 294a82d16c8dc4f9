"""Training on toy data with the core loop, and two probes of a trained pair."""

from __future__ import annotations

import math

from nn.functional import sigmoid

from ...core.loop import Draw, Training, train_minibatches
from ...core.optim import Optimizers
from ...core.pair import AdversarialPair
from ...core.steps import BCE, UPDATES, Wasserstein

__all__ = ["train_toy", "discriminator_probability", "generator_gradient_norms"]


def train_toy(pair: AdversarialPair, d_opt, g_opt, real, noise, *, steps: int, batch: int,
              loss: str = "bce", saturating: bool = False, k_steps: int = 1, clip: float = 0.01,
              train_generator: bool = True, callback=None, every: int = 0):
    """``steps`` iterations of k_steps discriminator (critic) updates and one generator
    update, with the core loop and steps (cgan.core.loop.train_minibatches).

    ``real(n)`` and ``noise(n)`` draw minibatches; ``loss`` is "bce" (``saturating``
    picks log(1 - D(G(z))) over -log D(G(z))) or "wasserstein" (critic with clipping).
    ``train_generator=False`` freezes the generator (the ``discriminator`` update rule).
    ``callback(step)`` runs before any update (with 0) and after every ``every`` steps.
    """
    objective = Wasserstein(clip=clip) if loss == "wasserstein" else BCE(saturating=saturating)
    training = Training(pair=pair, opt=Optimizers(d=d_opt, g=g_opt),
                        update=UPDATES["alternating" if train_generator else "discriminator"],
                        objective=objective, data=None, draw=Draw(noise),
                        backend=pair.discriminator.backend, batch_size=batch, k_steps=k_steps)

    def rows(_):
        return real(batch), None

    if callback is not None:
        callback(0)
    for step in range(1, steps + 1):
        train_minibatches(training, k_steps, rows)
        if callback is not None and every and step % every == 0:
            callback(step)


def discriminator_probability(pair: AdversarialPair, x):
    """sigmoid(D's logit) at x (n, d), evaluation mode, shape (n,)."""
    logits, _ = pair.discriminate(x, None, train=False)
    return sigmoid(logits)[:, 0]


def generator_gradient_norms(pair: AdversarialPair, z):
    """The norm of the generator's parameter gradient under each loss, through the actual
    networks at z: (norm for log(1 - D(G(z))), norm for -log D(G(z)), mean D(G(z))).

    Also returns the per-sample |dL/dG(z)| of both losses, the gradient that reaches the
    generator's output, and each sample's D(G(z)).
    """
    xp = pair.generator.backend.xp
    fake, g_cache = pair.generate(z, None, train=False)
    logits, d_cache = pair.discriminate(fake, None, train=False)
    out = {}
    for name, saturating in (("saturating", True), ("nonsaturating", False)):
        _, grad = BCE(saturating=saturating).generator(logits)
        dx = pair.backward_to_generator(grad, d_cache, g_cache)
        total = sum(float((g * g).sum()) for g in pair.generator.grads.values())
        out[name] = math.sqrt(total)
        # per sample: the mean's gradient times n is the sample's own gradient
        out[name + "_per_sample"] = xp.sqrt((dx * dx).sum(axis=1)) * dx.shape[0]
    pair.generator.zero_grads()
    out["d_fake"] = sigmoid(logits)[:, 0]
    return out
