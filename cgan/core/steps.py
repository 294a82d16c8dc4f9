"""The training steps of the adversarial game, and the registry of update rules.

One training iteration follows Algorithm 1 of Goodfellow et al. (2014): a discriminator
step on a real minibatch and a generated one, and (every ``k_steps`` discriminator steps)
a generator step on fresh noise, backpropagated through the discriminator without
touching the discriminator's gradients.

What the two players minimise is an **objective**:

* :class:`BCE`, the papers' game: D descends 0.5 (BCE(D(x), 1) + BCE(D(G(z)), 0)) =
  -V(D, G) / 2 (the original code's AdversaryCost2); G descends -log D(G(z))
  (non-saturating, the original code's choice) or log(1 - D(G(z))) (``saturating``,
  the minimax objective).
* :class:`Wasserstein` (Arjovsky et al., 2017, Algorithm 1): D's output is read as a
  critic f; the critic descends E f(G(z)) - E f(x) and has every parameter clipped to
  [-clip, clip] after each update; G descends -E f(G(z)).

Every step has one signature, ``step(pair, opt, batch, objective) -> dict`` of 0-d arrays
(no host synchronisation): ``opt`` holds both optimisers (:class:`Optimizers`), ``batch``
the real rows, their condition, the noise and the generated rows' condition
(:class:`Minibatch`). The steps:

* :func:`discriminator_step`: D (or the critic) on real and generated rows, one update;
* :func:`generator_step`: G through D, one update; the same body for both objectives;
* :func:`simultaneous_step`: both gradients from one pass, then both updates (the
  original code's update);
* :func:`regression_step`: G alone, mean squared error to the real rows (a baseline).

An **update rule** says which steps one real minibatch drives; :data:`UPDATES` is the
registry (``alternating``, ``simultaneous``, ``discriminator``, ``regression``), and
cgan.core.loop.train_epoch runs any of them. The Wasserstein GAN is the ``alternating``
rule with the :class:`Wasserstein` objective.
"""

from __future__ import annotations

from dataclasses import dataclass

import nn
from nn.backend import array_module
from nn.functional import sigmoid, softplus

from .pair import AdversarialPair

__all__ = ["Minibatch", "BCE", "Wasserstein", "discriminator_step", "generator_step",
           "simultaneous_step", "regression_step", "score_function_generator_step", "Update", "UPDATES"]


@dataclass
class Minibatch:
    """What one step reads: real rows ``x`` with their condition ``y``, noise ``z`` for the
    generated rows and their condition ``y_fake`` (both conditions None for an
    unconditional pair)."""

    x: object
    y: object
    z: object
    y_fake: object


# -- objectives -------------------------------------------------------------------------------
@dataclass(frozen=True)
class BCE:
    """The papers' minimax game, on D's logits (nn.losses: the sigmoid lives in the loss).

    ``one_pass``: the discriminator step runs the real and the generated rows through D as
    one batch of 2n rows. When every layer works row by row (dropout draws a mask per row),
    this is the same function and gradient as two passes, but each matrix product is twice
    as tall, which BLAS and the GPU run more efficiently (docs/performance.md). A
    discriminator with BatchNorm does not work row by row (its statistics pool the batch):
    give it ``one_pass=False``, and the real and the generated rows go through it in two
    passes, each normalised by its own statistics.
    """

    saturating: bool = False
    one_pass: bool = True

    def discriminator(self, real_logits, fake_logits):
        """0.5 (BCE(D(x), 1) + BCE(D(G(z)), 0)) and its gradients."""
        loss, real_grad, fake_grad = nn.discriminator_loss(real_logits, fake_logits)
        real_grad *= 0.5
        fake_grad *= 0.5
        return 0.5 * loss, real_grad, fake_grad

    def generator(self, fake_logits):
        return nn.generator_loss(fake_logits, saturating=self.saturating)

    def generator_per_row(self, fake_logits):
        """The generator's loss of each row (its mean is ``generator``'s value):
        softplus(-a) (non-saturating) or -softplus(a) (saturating)."""
        return -softplus(fake_logits) if self.saturating else softplus(-fake_logits)

    @staticmethod
    def output(logits):
        """Mean D(.) = sigmoid(logit), a probability."""
        return sigmoid(logits).mean()

    def after_discriminator_update(self, discriminator) -> None:
        pass

    @staticmethod
    def record(record: dict) -> dict:
        return record


@dataclass(frozen=True)
class Wasserstein:
    """The WGAN critic and generator losses, and weight clipping to [-clip, clip].

    ``one_pass`` is False: the critic step runs the real and the generated rows through
    the critic in two passes. With dropout in the critic the masks are drawn per pass,
    in another order than one pass over 2n rows would draw them; two passes is how the
    Wasserstein runs were trained and recorded.
    """

    clip: float = 0.01
    one_pass = False

    def discriminator(self, real_scores, fake_scores):
        return nn.wasserstein_critic_loss(real_scores, fake_scores)

    def generator(self, fake_scores):
        return nn.wasserstein_generator_loss(fake_scores)

    @staticmethod
    def output(scores):
        """Mean f(.), the critic's raw output."""
        return scores.mean()

    def after_discriminator_update(self, discriminator) -> None:
        nn.clip_values(discriminator.params, self.clip)

    @staticmethod
    def record(record: dict) -> dict:
        """An epoch record of a WGAN run: the critic's mean outputs (not probabilities)
        under critic_real / critic_fake, and their difference, the critic's estimate of
        the Wasserstein distance (times the Lipschitz constant that clipping allows)."""
        record["critic_real"] = record.pop("d_real")
        record["critic_fake"] = record.pop("d_fake")
        record["wasserstein_estimate"] = record["critic_real"] - record["critic_fake"]
        return record


# -- the steps ---------------------------------------------------------------------------------
def _discriminator_gradients(pair: AdversarialPair, batch: Minibatch, fake, objective, one_pass: bool):
    """D's parameter gradients (zeroed first) of the objective on the real rows and the
    generated rows ``fake``. Returns (loss, real scores, fake scores, the generated rows'
    cache; None after one pass)."""
    d = pair.discriminator
    if one_pass:
        xp = array_module(batch.x)
        n = batch.x.shape[0]
        scores, cache = pair.discriminate(xp.concatenate([batch.x, fake]),
                                          None if batch.y is None else xp.concatenate([batch.y, batch.y_fake]))
        real_scores, fake_scores = scores[:n], scores[n:]
        loss, real_grad, fake_grad = objective.discriminator(real_scores, fake_scores)
        d.zero_grads()
        d.backward(xp.concatenate([real_grad, fake_grad]), cache, input_grad=False)
        return loss, real_scores, fake_scores, None
    real_scores, real_cache = pair.discriminate(batch.x, batch.y)
    fake_scores, fake_cache = pair.discriminate(fake, batch.y_fake)
    loss, real_grad, fake_grad = objective.discriminator(real_scores, fake_scores)
    d.zero_grads()
    d.backward(real_grad, real_cache, input_grad=False)
    d.backward(fake_grad, fake_cache, input_grad=False)
    return loss, real_scores, fake_scores, fake_cache


def discriminator_step(pair: AdversarialPair, opt, batch: Minibatch, objective) -> dict:
    """One discriminator (critic) update on the real rows and G(z | y_fake).

    Returns d_loss, d_real (mean D(x), or mean f(x) for the critic) and d_fake.
    """
    fake, _ = pair.generate(batch.z, batch.y_fake)
    loss, real_scores, fake_scores, _ = _discriminator_gradients(pair, batch, fake, objective,
                                                                 objective.one_pass)
    opt.d.step()
    objective.after_discriminator_update(pair.discriminator)
    return {"d_loss": loss, "d_real": objective.output(real_scores), "d_fake": objective.output(fake_scores)}


def generator_step(pair: AdversarialPair, opt, batch: Minibatch, objective) -> dict:
    """One generator update through D, whose gradients stay untouched: G descends the
    objective's generator loss on D's scores of G(z | y_fake). Returns g_loss."""
    fake, g_cache = pair.generate(batch.z, batch.y_fake)
    scores, d_cache = pair.discriminate(fake, batch.y_fake)
    loss, score_grad = objective.generator(scores)
    pair.backward_to_generator(score_grad, d_cache, g_cache)
    opt.g.step()
    return {"g_loss": loss}


def simultaneous_step(pair: AdversarialPair, opt, batch: Minibatch, objective) -> dict:
    """One update of both networks from one pass, as the original code trained them.

    The original code (goodfeli/adversarial, ``AdversaryCost2.get_gradients``) takes, from
    one minibatch, the discriminator's gradient and the generator's gradient, both at the
    current parameters and through the *same* dropped-out discriminator pass over G(z),
    and applies them in one SGD step. So here:

    1. G(z) once; D on x and on G(z) (dropout masks drawn per row, as in training);
    2. D's parameter gradients from its loss (real and generated rows);
    3. the generator's loss backpropagated through that same pass over G(z) to G's
       parameters, with D's gradients untouched;
    4. only then both optimisers step, so neither gradient sees the other's update.

    Two passes rather than one over [x; G(z)]: the generator's gradient needs D's input
    gradient on the generated rows only, and a backward pass over 2n rows would spend half
    its work on the real rows' zeros. Returns d_loss, g_loss, d_real and d_fake.
    """
    fake, g_cache = pair.generate(batch.z, batch.y_fake)
    d_loss, real_scores, fake_scores, fake_cache = _discriminator_gradients(pair, batch, fake, objective,
                                                                            one_pass=False)
    g_loss, score_grad = objective.generator(fake_scores)
    pair.backward_to_generator(score_grad, fake_cache, g_cache)
    opt.d.step()
    opt.g.step()
    objective.after_discriminator_update(pair.discriminator)
    return {"d_loss": d_loss, "g_loss": g_loss, "d_real": objective.output(real_scores),
            "d_fake": objective.output(fake_scores)}


def regression_step(pair: AdversarialPair, opt, batch: Minibatch, objective=None) -> dict:
    """The generator alone, trained by regression: mean squared error between G(z | y)
    and the real rows x (the tagging experiment's baseline), or the objective's own loss
    ``objective.regression(output, x) -> (loss, dloss/doutput)`` where it has one (the
    tagging classifier's cross-entropy). Returns g_loss."""
    out, cache = pair.generate(batch.z, batch.y)
    loss_fn = getattr(objective, "regression", None) or nn.mse
    loss, grad = loss_fn(out, batch.x)
    pair.generator.zero_grads()
    pair.generator.backward(grad, cache, input_grad=False)
    opt.g.step()
    return {"g_loss": loss}


def score_function_generator_step(pair: AdversarialPair, opt, batch: Minibatch, objective) -> dict:
    """One generator update by the score-function (REINFORCE) estimate, for a generator
    whose output layer draws a categorical sample (a layer with ``log_prob_gradient``, e.g.
    the tagging generator's hard Gumbel draw of one word).

    The generator's loss is E_w f(w) with f the objective's loss on D's score of each
    drawn row (for BCE, -log D(G(z))); its gradient with respect to the drawing layer's
    logits l is E (f(w) - b) d log P(w) / d l, for any baseline b that does not depend on
    w. Here b is the minibatch's mean loss; the estimate is unbiased but for that baseline's
    dependence on the row itself (a factor (n - 1) / n). Unlike the straight-through
    estimate it uses D's score of the drawn word only, never D's gradient. The gradient then
    goes back through the layers below the drawing layer. Returns g_loss.
    """
    g = pair.generator
    layers = getattr(g, "layers", None)
    at = next((i for i, layer in enumerate(layers or []) if hasattr(layer, "log_prob_gradient")), None)
    if at is None:
        raise ValueError("the score-function update needs a generator whose layers include a categorical "
                         "draw (g_output='gumbel_hard')")
    fake, g_cache = pair.generate(batch.z, batch.y_fake)
    scores, _ = pair.discriminate(fake, batch.y_fake)
    per_row = objective.generator_per_row(scores).reshape(-1)
    loss = per_row.mean()   # the objective's generator loss, without its gradient, unused here
    n = per_row.shape[0]
    weights = (per_row - per_row.mean()) * (1.0 / n)
    grad = layers[at].log_prob_gradient(g_cache[at], weights)
    g.zero_grads()
    for i in range(at - 1, -1, -1):
        grad = layers[i].backward(grad, g_cache[i], input_grad=i > 0)
    opt.g.step()
    return {"g_loss": loss}


# -- update rules ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Update:
    """What one real minibatch drives: ``first`` on it, then (if any) ``then`` on fresh
    noise every ``k_steps``-th minibatch. ``paced_by`` names the network updated on every
    minibatch, whose optimiser's schedule an epoch record reports."""

    name: str
    first: object
    then: object = None
    paced_by: str = "d"
    description: str = ""


UPDATES: dict[str, Update] = {u.name: u for u in (
    Update("alternating", discriminator_step, generator_step,
           description="a discriminator step on every minibatch, a generator step on fresh noise "
                       "after every k-th (Algorithm 1; with the Wasserstein objective, WGAN's)"),
    Update("simultaneous", simultaneous_step,
           description="both gradients from one pass, then both optimiser steps (the original code)"),
    Update("discriminator", discriminator_step,
           description="the discriminator alone, against a frozen generator"),
    Update("alternating_score", discriminator_step, score_function_generator_step,
           description="alternating, the generator's update by the score-function estimate (a "
                       "generator that draws a categorical sample)"),
    Update("regression", regression_step, paced_by="g",
           description="the generator alone, by mean squared error to the real rows (a baseline)"),
)}
