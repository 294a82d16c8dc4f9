"""Toy adversarial problems in one and two dimensions, for the minimax experiments.

The experiments of docs/minimax.md (``experiments/minimax_*.py``, ``experiments/mode_collapse.py``)
and their tests share what is here: densities that are known in closed form (a 1-D
Gaussian mixture, a ring of 2-D Gaussians), small networks built from nn layers, the
quantities of the theory evaluated on a grid (the optimal discriminator, the value
function, the Jensen-Shannon divergence), the mode count of the ring, and one training
loop that runs the MNIST experiment's own steps (cgan.train.discriminator_step,
generator_step, critic_step, wasserstein_generator_step) on toy data.

Array math goes through the backend's ``xp``; the theory is evaluated on a float64
backend, the networks train in float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import nn

from .models import AdversarialPair, ModelConfig
from .train import critic_step, discriminator_step, generator_step, wasserstein_generator_step

LOG4 = math.log(4.0)


# -- densities known in closed form ----------------------------------------------------
def normal_pdf(xp, x, mean: float, std: float):
    return xp.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


@dataclass(frozen=True)
class Mixture1D:
    """sum_k w_k N(mean_k, std_k^2) on the real line."""

    weights: tuple
    means: tuple
    stds: tuple

    def pdf(self, x):
        xp = nn.backend.array_module(x)
        return sum(w * normal_pdf(xp, x, m, s) for w, m, s in zip(self.weights, self.means, self.stds))

    def sample(self, backend: nn.Backend, n: int):
        """n draws, shape (n, 1), in the backend's dtype: a component per draw, then its Gaussian."""
        edges = backend.asarray([sum(self.weights[:k + 1]) for k in range(len(self.weights) - 1)])
        k = (backend.uniform((n, 1)) >= edges[None, :]).sum(axis=1, keepdims=True)
        means, stds = backend.asarray(self.means), backend.asarray(self.stds)
        return means[k] + stds[k] * backend.normal((n, 1))

    def blend(self, other: "Mixture1D", t: float) -> "Mixture1D":
        """(1 - t) self + t other, itself a mixture."""
        return Mixture1D(tuple((1 - t) * w for w in self.weights) + tuple(t * w for w in other.weights),
                         self.means + other.means, self.stds + other.stds)


def ring_centres(xp, modes: int = 8, radius: float = 2.0, dtype="float32"):
    """The centres of ``modes`` Gaussians evenly spaced on a circle, shape (modes, 2)."""
    angles = xp.arange(modes, dtype="float64") * (2 * math.pi / modes)
    return (radius * xp.stack([xp.cos(angles), xp.sin(angles)], axis=1)).astype(dtype)


def sample_ring(backend: nn.Backend, n: int, modes: int = 8, radius: float = 2.0, std: float = 0.05):
    """n points from the equal mixture of N(c_k, std^2 I) over the ring's centres c_k, shape (n, 2)."""
    xp = backend.xp
    centres = ring_centres(xp, modes, radius, backend.dtype.name)
    k = xp.minimum((backend.uniform((n,)) * modes).astype(xp.int64), modes - 1)
    return centres[k] + backend.normal((n, 2), std=std)


# -- the theory on a grid -------------------------------------------------------------------
def integrate(x, f):
    """Trapezoidal rule on the (sorted) grid x."""
    return (0.5 * (f[1:] + f[:-1]) * (x[1:] - x[:-1])).sum()


def optimal_discriminator(p_data, p_g):
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)) (Goodfellow et al. 2014, Proposition 1);
    1/2 where both densities vanish."""
    xp = nn.backend.array_module(p_data)
    total = p_data + p_g
    return xp.where(total > 0, p_data / xp.where(total > 0, total, 1.0), 0.5)


def _xlogy(xp, a, b):
    """a log b with 0 log 0 = 0 (and 0 log of anything = 0)."""
    return xp.where(a > 0, a * xp.log(xp.where(a > 0, b, 1.0)), 0.0)


def value_function(x, p_data, p_g, d, one_minus_d=None):
    """V(D, G) = int p_data log D + p_g log(1 - D) dx, for D given on the grid.

    ``one_minus_d`` may give 1 - D computed without cancellation (where D rounds to 1)."""
    xp = nn.backend.array_module(x)
    return integrate(x, _xlogy(xp, p_data, d) + _xlogy(xp, p_g, 1 - d if one_minus_d is None else one_minus_d))


def jensen_shannon(x, p, q):
    """JSD(p || q) = KL(p || m) / 2 + KL(q || m) / 2 with m = (p + q) / 2, in nats."""
    xp = nn.backend.array_module(x)
    m = 0.5 * (p + q)
    kl_p = integrate(x, _xlogy(xp, p, p) - _xlogy(xp, p, m))
    kl_q = integrate(x, _xlogy(xp, q, q) - _xlogy(xp, q, m))
    return 0.5 * kl_p + 0.5 * kl_q


def virtual_training_criterion(x, p_data, p_g):
    """C(G) = max_D V(D, G) = V(D*, G), from the densities on the grid (1 - D* computed as
    p_g / (p_data + p_g), which stays exact where D* rounds to 1)."""
    return value_function(x, p_data, p_g, optimal_discriminator(p_data, p_g),
                          optimal_discriminator(p_g, p_data))


# -- the ring's modes -------------------------------------------------------------------------
@dataclass
class ModeCount:
    covered: int           # modes with at least min_fraction of the samples within 3 std
    high_quality: float    # fraction of samples within 3 std of some centre
    per_mode: list         # fraction of the samples near each mode


def count_modes(samples, centres, std: float, min_fraction: float = 0.01) -> ModeCount:
    """Mode coverage of 2-D samples (n, 2) on the ring (the measure of Metz et al., 2017 and
    Srivastava et al., 2017): a sample is high-quality if it lies within 3 std of a centre;
    a mode is covered if at least ``min_fraction`` of all samples are high-quality samples
    of that mode (a fair share is 1 / modes)."""
    d2 = ((samples[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)   # (n, modes)
    nearest = d2.argmin(axis=1)
    good = d2.min(axis=1) <= (3 * std) ** 2
    n = samples.shape[0]
    per_mode = [float((good & (nearest == k)).sum()) / n for k in range(centres.shape[0])]
    return ModeCount(covered=sum(f >= min_fraction for f in per_mode),
                     high_quality=float(good.mean()), per_mode=per_mode)


# -- small networks and one training loop ------------------------------------------------------
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
    return AdversarialPair(g, d, ModelConfig(model="gan", noise_dim=noise_dim))


def train_toy(pair: AdversarialPair, d_opt, g_opt, real, noise, *, steps: int, batch: int,
              loss: str = "bce", saturating: bool = False, k_steps: int = 1, clip: float = 0.01,
              train_generator: bool = True, callback=None, every: int = 0):
    """``steps`` iterations of k_steps discriminator (critic) updates and one generator update,
    with the MNIST experiment's step functions.

    ``real(n)`` and ``noise(n)`` draw minibatches; ``loss`` is "bce" (``saturating``
    picks log(1 - D(G(z))) over -log D(G(z))) or "wasserstein" (critic with clipping).
    ``train_generator=False`` freezes the generator. ``callback(step)`` runs after step 0
    (before any update it is called with 0) and every ``every`` steps.
    """
    if callback is not None:
        callback(0)
    for step in range(1, steps + 1):
        for _ in range(k_steps):
            if loss == "wasserstein":
                critic_step(pair, d_opt, real(batch), None, noise(batch), clip=clip)
            else:
                discriminator_step(pair, d_opt, real(batch), None, noise(batch))
        if train_generator:
            if loss == "wasserstein":
                wasserstein_generator_step(pair, g_opt, None, noise(batch))
            else:
                generator_step(pair, g_opt, None, noise(batch), saturating=saturating)
        if callback is not None and every and step % every == 0:
            callback(step)


def discriminator_probability(pair: AdversarialPair, x):
    """sigmoid(D's logit) at x (n, d), evaluation mode, shape (n,)."""
    logits, _ = pair.discriminate(x, None, train=False)
    return nn.functional.sigmoid(logits)[:, 0]


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
        _, grad = nn.generator_loss(logits, saturating=saturating)
        dx = pair.discriminator.backward(grad, d_cache, param_grads=False)
        pair.generator.zero_grads()
        pair.generator.backward(dx, g_cache, input_grad=False)
        total = sum(float((g * g).sum()) for g in pair.generator.grads.values())
        out[name] = math.sqrt(total)
        # per sample: the mean's gradient times n is the sample's own gradient
        out[name + "_per_sample"] = xp.sqrt((dx * dx).sum(axis=1)) * dx.shape[0]
    pair.generator.zero_grads()
    out["d_fake"] = nn.functional.sigmoid(logits)[:, 0]
    return out


class MixtureGenerator(nn.Layer):
    """A frozen generator whose density is known: G(u, n) = mean_k(u) + std_k(u) n maps noise
    z = (u ~ U[0, 1), n ~ N(0, 1)) to the mixture ``p_g`` (component k(u) by the cumulative
    weights). No parameters; its backward is never needed (it is not trained)."""

    def __init__(self, p_g: Mixture1D, backend: nn.Backend):
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
