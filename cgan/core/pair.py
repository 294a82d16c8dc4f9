"""A generator and a discriminator, conditional or not, with one calling convention."""

from __future__ import annotations

import nn

__all__ = ["AdversarialPair"]


class AdversarialPair:
    """G and D, built elsewhere (cgan.models), with whether they are conditional said when
    the pair is made.

    * ``generate(z, y)`` -> (G(z | y), cache) and ``discriminate(x, y)`` -> (D's score of
      x | y, cache): a logit for the BCE objective, the critic's output for Wasserstein.
      ``y`` is the condition (one-hot labels, image features); an unconditional pair
      takes ``y=None``. A conditional network's first layer is an ``nn.Join`` of
      (data, condition), so it is given that pair.
    * ``backward_to_generator(score_grad, d_cache, g_cache)`` carries dL/d(score) of
      generated rows back through D, whose parameter gradients stay untouched, into G's
      parameter gradients. This is the generator's half of every adversarial step.
    """

    def __init__(self, generator: nn.Layer, discriminator: nn.Layer, *, conditional: bool,
                 noise_dim: int):
        self.generator = generator
        self.discriminator = discriminator
        self.conditional = bool(conditional)
        self.noise_dim = int(noise_dim)

    def __repr__(self) -> str:
        kind = "conditional" if self.conditional else "unconditional"
        return f"AdversarialPair({kind}, noise_dim={self.noise_dim})"

    def _input(self, data, y):
        if self.conditional:
            if y is None:
                raise ValueError("a conditional pair needs the condition y")
            return data, y
        if y is not None:
            raise ValueError("an unconditional pair takes no condition: pass y=None")
        return data

    def generate(self, z, y=None, train: bool = True):
        return self.generator.forward(self._input(z, y), train)

    def discriminate(self, x, y=None, train: bool = True):
        return self.discriminator.forward(self._input(x, y), train)

    def backward_to_generator(self, score_grad, d_cache, g_cache):
        """G's parameter gradients (zeroed first) of a loss on D's scores of G's rows.

        D's backward returns dL/d(its input): for a conditional D the pair (dL/dx,
        dL/dy). The condition y is given, not generated, so only dL/dx goes on into G.
        Returns dL/dx, the gradient that reaches G's output.
        """
        dx = self.discriminator.backward(score_grad, d_cache, param_grads=False)
        if self.conditional:
            dx, _dy = dx
        self.generator.zero_grads()
        self.generator.backward(dx, g_cache, input_grad=False)
        return dx
