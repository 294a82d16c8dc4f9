"""The theory of the minimax game on a grid, and the toy data it is tested on.

Densities known in closed form (a 1-D Gaussian mixture, a ring of 2-D Gaussians), the
quantities of Goodfellow et al. (2014), section 4, evaluated on a grid (the optimal
discriminator D*, the value function V, the Jensen-Shannon divergence, the virtual
training criterion C(G) = -log 4 + 2 JSD), a kernel density estimate for a generator's
samples, and the ring's mode count.

The theory runs on host arrays in float64 with SciPy's special functions, integration
and kernel density estimate (the minimax experiments evaluate it on a NumPy float64
backend); the toy data is drawn through a Backend, in its dtype, for the networks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import nn
from scipy import integrate as _integrate
from scipy import special, stats

__all__ = ["LOG4", "normal_pdf", "Mixture1D", "ring_centres", "sample_ring", "integrate",
           "optimal_discriminator", "value_function", "jensen_shannon", "virtual_training_criterion",
           "kde_density", "ModeCount", "count_modes"]

LOG4 = math.log(4.0)


# -- densities known in closed form ----------------------------------------------------
def normal_pdf(x, mean: float, std: float):
    """The N(mean, std^2) density at x (host arrays; scipy.stats.norm)."""
    return stats.norm.pdf(x, mean, std)


@dataclass(frozen=True)
class Mixture1D:
    """sum_k w_k N(mean_k, std_k^2) on the real line."""

    weights: tuple
    means: tuple
    stds: tuple

    def pdf(self, x):
        return sum(w * normal_pdf(x, m, s) for w, m, s in zip(self.weights, self.means, self.stds))

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
    """The integral of f over the (sorted) grid x by the trapezoidal rule (scipy.integrate)."""
    return _integrate.trapezoid(f, x)


def optimal_discriminator(p_data, p_g):
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)) (Goodfellow et al. 2014, Proposition 1);
    1/2 where both densities vanish."""
    xp = nn.backend.array_module(p_data)
    total = p_data + p_g
    return xp.where(total > 0, p_data / xp.where(total > 0, total, 1.0), 0.5)


def value_function(x, p_data, p_g, d, one_minus_d=None):
    """V(D, G) = int p_data log D + p_g log(1 - D) dx, for D given on the grid (0 log 0 = 0).

    ``one_minus_d`` may give 1 - D computed without cancellation (where D rounds to 1)."""
    return integrate(x, special.xlogy(p_data, d)
                     + special.xlogy(p_g, 1 - d if one_minus_d is None else one_minus_d))


def jensen_shannon(x, p, q):
    """JSD(p || q) = KL(p || m) / 2 + KL(q || m) / 2 with m = (p + q) / 2, in nats."""
    m = 0.5 * (p + q)
    kl_p = integrate(x, special.xlogy(p, p) - special.xlogy(p, m))
    kl_q = integrate(x, special.xlogy(q, q) - special.xlogy(q, m))
    return 0.5 * kl_p + 0.5 * kl_q


def virtual_training_criterion(x, p_data, p_g):
    """C(G) = max_D V(D, G) = V(D*, G), from the densities on the grid (1 - D* computed as
    p_g / (p_data + p_g), which stays exact where D* rounds to 1)."""
    return value_function(x, p_data, p_g, optimal_discriminator(p_data, p_g),
                          optimal_discriminator(p_g, p_data))


def kde_density(samples, x):
    """A Gaussian kernel density estimate of 1-D host samples at x (scipy.stats.gaussian_kde),
    bandwidth by Silverman's rule of thumb h = 1.06 std n^(-1/5) (std over the samples,
    ddof 0; gaussian_kde's factor multiplies the ddof-1 std)."""
    n = samples.size
    h = 1.06 * float(samples.std()) * n ** -0.2
    return stats.gaussian_kde(samples, bw_method=h / float(samples.std(ddof=1)))(x)


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
