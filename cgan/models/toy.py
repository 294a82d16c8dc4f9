"""Small networks for the toy problems (docs/minimax.md) and the demo.

* :func:`mlp` and :func:`toy_pair`: Linear-ReLU MLPs, an unconditional generator
  (noise -> data) and discriminator (data -> one logit);
* :class:`MixtureGenerator`: a frozen generator whose density is known in closed form;
* :func:`demo_pair`: the 1-D GAN of ``cgan demo`` (a maxout discriminator with dropout).
"""

from __future__ import annotations

import math

import nn

from ..core.pair import AdversarialPair

__all__ = ["mlp", "toy_pair", "MixtureGenerator", "demo_pair", "DEMO_NOISE_DIM"]


def mlp(backend: nn.Backend, n_in: int, hidden: int, n_out: int, depth: int = 2, std=None):
    """Linear-ReLU x depth, then Linear: He-style N(0, 2 / fan_in) weights unless ``std``."""
    layers, width = [], n_in
    for _ in range(depth):
        layers += [nn.Linear(width, hidden, backend, init=nn.Gaussian(std or math.sqrt(2.0 / width))),
                   nn.ReLU(backend)]
        width = hidden
    layers.append(nn.Linear(width, n_out, backend, init=nn.Gaussian(std or math.sqrt(1.0 / width))))
    return nn.Sequential(*layers)


def toy_pair(backend: nn.Backend, noise_dim: int, data_dim: int, hidden: int = 32,
             depth: int = 2, g_hidden: int | None = None) -> AdversarialPair:
    """An unconditional generator (noise -> data) and discriminator (data -> one logit)."""
    g = mlp(backend, noise_dim, g_hidden or hidden, data_dim, depth)
    d = mlp(backend, data_dim, hidden, 1, depth)
    return AdversarialPair(g, d, conditional=False, noise_dim=noise_dim)


class MixtureGenerator(nn.Layer):
    """A frozen generator whose density is known: G(u, n) = mean_k(u) + std_k(u) n maps noise
    z = (u ~ U[0, 1), n ~ N(0, 1)) to the 1-D mixture ``p_g`` (anything with ``weights``,
    ``means`` and ``stds``; component k(u) by the cumulative weights). No parameters; its
    backward is never needed (it is not trained)."""

    noise_dim = 2

    def __init__(self, p_g, backend: nn.Backend):
        super().__init__(backend)
        self.p_g = p_g
        b = backend
        self._edges = b.asarray([sum(p_g.weights[:k + 1]) for k in range(len(p_g.weights) - 1)])
        self._means, self._stds = b.asarray(p_g.means), b.asarray(p_g.stds)

    def forward(self, z, train: bool = True):
        k = (z[:, :1] >= self._edges[None, :]).sum(axis=1, keepdims=True)
        return self._means[k] + self._stds[k] * z[:, 1:2], None

    def backward(self, dy, cache, *, param_grads: bool = True, input_grad: bool = True):
        raise NotImplementedError("MixtureGenerator is frozen")

    @staticmethod
    def noise(backend: nn.Backend, n: int):
        return backend.xp.concatenate([backend.uniform((n, 1)), backend.normal((n, 1))], axis=1)


DEMO_NOISE_DIM = 4


def demo_pair(backend: nn.Backend) -> AdversarialPair:
    """The demo's 1-D GAN: G 4 -> 32 ReLU -> 1; D maxout 16 x 3 -> dropout 0.8 -> 1 logit."""
    generator = nn.Sequential(
        nn.Linear(DEMO_NOISE_DIM, 32, backend, init=nn.Gaussian(0.5)),
        nn.ReLU(backend),
        nn.Linear(32, 1, backend, init=nn.Gaussian(0.1)),
    )
    discriminator = nn.Sequential(
        nn.Maxout(1, 16, 3, backend, init=nn.Gaussian(0.5)),
        nn.Dropout(0.8, backend),
        nn.Linear(16, 1, backend, init=nn.Gaussian(0.1)),
    )
    return AdversarialPair(generator, discriminator, conditional=False, noise_dim=DEMO_NOISE_DIM)
