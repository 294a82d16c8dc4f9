"""The minimax experiments of docs/minimax.md: each a function that trains small networks
(cgan.models.toy) with the core loop (train.train_toy), compares them with the theory
(theory) and returns its numbers; the scripts in experiments/ draw the figures and print
the numbers, and tests/experiments/toy/test_minimax.py runs reduced settings.

1. ``optimal_discriminator``: a frozen generator of known density, a discriminator trained
   to convergence, compared with D* = p_data / (p_data + p_g); C(G) = V(D*, G) against
   -log 4 + 2 JSD(p_data || p_g) as p_g moves to p_data.
2. ``figure1``: a 1-D GAN, p_data, p_g and D(x) at four moments of training.
3. ``saturation``: the generator's gradient under log(1 - D(G(z))) and -log D(G(z)) as the
   discriminator grows confident, and a run with each loss from that point.
4. ``ring``: modes of a ring of 8 Gaussians covered over training, BCE or Wasserstein.
"""

from __future__ import annotations

import time

import nn

from ...core.pair import AdversarialPair
from ...core.streams import Recorded, Streams
from ...models import toy as nets
from . import theory
from .train import discriminator_probability, generator_gradient_norms, train_toy

# The random streams of each experiment (cgan.core.streams), seeded as they always were:
# from the experiment's seed plus a fixed offset.
STREAMS = {
    "train": Recorded(0),          # the networks, the minibatches, the noise
    "family": Recorded(1),         # optimal D: the discriminators trained along p_g,t
    "ring_eval": Recorded(5),      # the ring: the fixed noise whose samples are counted
    "probe": Recorded(7),          # saturation: the fixed noise the gradients are measured on
    "runs": Recorded(11),          # saturation: the minibatches of both runs from the same point
    "figure1_eval": Recorded(99),  # Figure 1: the noise of the samples p_g is estimated from
}

# The 1-D problems: data a two-component mixture (optimal D), or one Gaussian (Figure 1,
# saturation).
P_DATA = theory.Mixture1D((0.4, 0.6), (-2.0, 2.0), (0.5, 0.7))
P_G = theory.Mixture1D((1.0,), (0.5,), (1.5,))
DATA_MEAN, DATA_STD = 1.5, 0.5


def _grid(backend: nn.Backend, low=-12.0, high=12.0, n=24001):
    return backend.xp.linspace(low, high, n, dtype=backend.dtype)


def _adam(net, lr, beta1=0.5):
    return nn.Adam(net.params, net.grads, lr=lr, beta1=beta1)


# -- 1. the optimal discriminator and C(G) = -log 4 + 2 JSD ------------------------------------
def train_discriminator_against(p_g: theory.Mixture1D, backend: nn.Backend, *, steps: int, batch: int,
                                hidden: int = 64, lr=None, seed: int = 0) -> AdversarialPair:
    """A discriminator trained by the core's discriminator step against a frozen generator
    of density p_g (cgan.models.toy.MixtureGenerator), the data being P_DATA; the backend's
    stream restarts at ``seed``."""
    backend.reseed(seed)
    d = nets.mlp(backend, 1, hidden, 1, depth=2)
    pair = AdversarialPair(nets.MixtureGenerator(p_g, backend), d, conditional=False,
                           noise_dim=nets.MixtureGenerator.noise_dim)
    opt = _adam(d, lr or nn.ExponentialDecay(2e-3, 1.001, 1e-4))
    train_toy(pair, opt, None, lambda n: P_DATA.sample(backend, n),
              lambda n: nets.MixtureGenerator.noise(backend, n), steps=steps, batch=batch,
              train_generator=False)
    return pair


def optimal_discriminator(*, seed: int = 0, steps: int = 3000, batch: int = 512, hidden: int = 64,
                          family_steps: int = 1500, family=(0.0, 0.25, 0.5, 0.75, 1.0),
                          support: float = 0.05) -> dict:
    """Train D against p_g = N(0.5, 1.5^2) (frozen) and compare it with D*; then C(G_t) and
    -log 4 + 2 JSD along p_g,t = (1 - t) p_g + t p_data, with D trained at each t in ``family``.

    The largest gap |D - D*| is taken where m(x) = (p_data + p_g) / 2 >= ``support`` (most of
    the mass; in the tails D sees almost no samples and D* is a ratio of vanishing densities).
    """
    start = time.perf_counter()
    streams = Streams(seed, STREAMS)
    b32 = nn.get_backend("numpy", seed=streams.seed("train"))
    b64 = nn.get_backend("numpy", "float64")
    xp = b64.xp
    x = _grid(b64)
    p_data, p_g = P_DATA.pdf(x), P_G.pdf(x)
    pair = train_discriminator_against(P_G, b32, steps=steps, batch=batch, hidden=hidden,
                                       seed=streams.seed("train"))
    d = discriminator_probability(pair, x[:, None].astype(b32.dtype)).astype(xp.float64)
    d_star = theory.optimal_discriminator(p_data, p_g)
    inside = 0.5 * (p_data + p_g) >= support
    gap = xp.abs(d - d_star)
    worst = int(xp.argmax(xp.where(inside, gap, -1.0)))
    c_g = float(theory.virtual_training_criterion(x, p_data, p_g))
    jsd = float(theory.jensen_shannon(x, p_data, p_g))
    eps = 1e-7
    result = {
        "x": x, "p_data": p_data, "p_g": p_g, "d": d, "d_star": d_star, "support": inside,
        "max_gap": float(gap[worst]), "max_gap_at": float(x[worst]),
        "mean_gap": float(theory.integrate(x, gap * 0.5 * (p_data + p_g))),
        "c_g": c_g, "jsd": jsd, "minus_log4_plus_2jsd": -theory.LOG4 + 2 * jsd,
        "v_trained": float(theory.value_function(x, p_data, p_g, xp.clip(d, eps, 1 - eps))),
    }
    # the family p_g,t -> p_data
    ts = xp.linspace(0.0, 1.0, 41)
    curve_c, curve_jsd = [], []
    for t in ts:
        q = P_G.blend(P_DATA, float(t)).pdf(x)
        curve_c.append(float(theory.virtual_training_criterion(x, p_data, q)))
        curve_jsd.append(float(theory.jensen_shannon(x, p_data, q)))
    trained = []
    for t in family:
        q_mix = P_G.blend(P_DATA, float(t))
        q = q_mix.pdf(x)
        fam_pair = train_discriminator_against(q_mix, b32, steps=family_steps, batch=batch,
                                               hidden=hidden, seed=streams.seed("family"))
        d_t = discriminator_probability(fam_pair, x[:, None].astype(b32.dtype)).astype(xp.float64)
        trained.append({"t": float(t), "v_trained": float(theory.value_function(x, p_data, q, xp.clip(d_t, eps, 1 - eps))),
                        "c_g": float(theory.virtual_training_criterion(x, p_data, q))})
    result.update(ts=ts, curve_c=curve_c, curve_jsd=curve_jsd, family=trained,
                  identity_error=max(abs(c - (-theory.LOG4 + 2 * j)) for c, j in zip(curve_c, curve_jsd)),
                  seconds=time.perf_counter() - start)
    return result


# -- 2. Figure 1 of Goodfellow et al. from a run ------------------------------------------------
def _one_d_gan(backend: nn.Backend, hidden: int = 32, start: float = -2.0):
    """A 1-D GAN: z ~ U[-1, 1] -> G (MLP) -> x; the generator starts near ``start``, left of
    the data N(1.5, 0.5^2)."""
    pair = nets.toy_pair(backend, 1, 1, hidden=hidden, depth=2)
    last = pair.generator.layers[-1]
    last.params["b"][...] = start
    last.params["W"][...] *= 0.3
    return pair


def _data(backend):
    return lambda n: backend.normal((n, 1), std=DATA_STD, mean=DATA_MEAN)


def _noise(backend):
    return lambda n: backend.uniform((n, 1), -1.0, 1.0)


def figure1(*, seed: int = 0, steps: int = 1500, moments=(0, 150, 400, 1500), batch: int = 256,
            lr: float = 3e-4, n_samples: int = 20_000) -> dict:
    """Train the 1-D GAN (Adam, non-saturating loss, k = 1) and record p_g (a kernel density
    estimate from ``n_samples`` generator samples), D(x) and D* (from p_data and that
    estimate) at the given steps."""
    start = time.perf_counter()
    streams = Streams(seed, STREAMS)
    b = nn.get_backend("numpy", seed=streams.seed("train"))
    b64 = nn.get_backend("numpy", "float64")
    xp = b64.xp
    pair = _one_d_gan(b)
    d_opt, g_opt = _adam(pair.discriminator, lr), _adam(pair.generator, lr)
    eval_noise = streams.backend("figure1_eval", like=b)
    x = b64.xp.linspace(-4.0, 6.0, 1001)
    p_data = theory.normal_pdf(x, DATA_MEAN, DATA_STD)
    snaps = []

    def record(step):
        if step not in moments:
            return
        samples, _ = pair.generate(eval_noise.uniform((n_samples, 1), -1.0, 1.0), None, train=False)
        samples = samples[:, 0].astype(xp.float64)
        p_g = theory.kde_density(samples, x)
        d = discriminator_probability(pair, x[:, None].astype(b.dtype)).astype(xp.float64)
        d_star = theory.optimal_discriminator(p_data, p_g)
        inside = 0.5 * (p_data + p_g) >= 0.05
        snaps.append({"step": step, "p_g": p_g, "d": d, "d_star": d_star, "support": inside,
                      "g_mean": float(samples.mean()), "g_std": float(samples.std()),
                      "max_gap": float(xp.abs(d - d_star)[inside].max()),
                      "jsd": float(theory.jensen_shannon(x, p_data, p_g)),
                      "d_at_data_mean": float(d[int(xp.argmin(xp.abs(x - DATA_MEAN)))])})

    train_toy(pair, d_opt, g_opt, _data(b), _noise(b), steps=max(moments), batch=batch,
              callback=record, every=1)
    return {"x": x, "p_data": p_data, "snapshots": snaps, "seconds": time.perf_counter() - start}


# -- 3. saturation -----------------------------------------------------------------------------
def saturation(*, seed: int = 0, pretrain_steps: int = 600, every: int = 50, run_steps: int = 1500,
               lr: float = 0.05, momentum: float = 0.5, batch: int = 256, start: float = -4.0,
               record_every: int = 10) -> dict:
    """The generator's gradient under both losses, then a run with each.

    The generator starts at ``start`` (data N(1.5, 0.5^2)); the discriminator is trained
    alone (SGD, the papers' optimiser: Adam would rescale a vanishing gradient) for
    ``pretrain_steps``, and every ``every`` steps the norm of the generator's parameter
    gradient under each loss is measured through the networks on 512 fixed noise draws.
    Then, from that same point, one run per loss (both networks trained, SGD) records the
    generator's mean every ``record_every`` steps.
    """
    t0 = time.perf_counter()
    streams = Streams(seed, STREAMS)
    b = nn.get_backend("numpy", seed=streams.seed("train"))
    pair = _one_d_gan(b, start=start)
    z = streams.backend("probe", like=b).uniform((512, 1), -1.0, 1.0)
    d_opt = nn.SGD(pair.discriminator.params, pair.discriminator.grads, lr=lr, momentum=momentum)
    measured = []

    def measure(step):
        out = generator_gradient_norms(pair, z)
        measured.append({"step": step, "d_fake": float(out["d_fake"].mean()),
                         "saturating": out["saturating"], "nonsaturating": out["nonsaturating"],
                         "d_fake_samples": out["d_fake"],
                         "per_sample_saturating": out["saturating_per_sample"],
                         "per_sample_nonsaturating": out["nonsaturating_per_sample"]})

    train_toy(pair, d_opt, None, _data(b), _noise(b), steps=pretrain_steps, batch=batch,
              train_generator=False, callback=measure, every=every)
    saved = {name: {k: v.copy() for k, v in net.params.items()}
             for name, net in (("g", pair.generator), ("d", pair.discriminator))}
    runs = {}
    for name, saturating in (("saturating", True), ("nonsaturating", False)):
        for key, net in (("g", pair.generator), ("d", pair.discriminator)):
            for k, v in net.params.items():
                v[...] = saved[key][k]
        streams.reseed(b, "runs")  # the same minibatches for both runs
        d_opt = nn.SGD(pair.discriminator.params, pair.discriminator.grads, lr=lr, momentum=momentum)
        g_opt = nn.SGD(pair.generator.params, pair.generator.grads, lr=lr, momentum=momentum)
        trace = []

        def track(step):
            fake, _ = pair.generate(z, None, train=False)
            trace.append((step, float(fake.mean()), float(discriminator_probability(pair, fake).mean())))

        train_toy(pair, d_opt, g_opt, _data(b), _noise(b), steps=run_steps, batch=batch,
                  saturating=saturating, callback=track, every=record_every)
        near = [s for s, m, _ in trace if abs(m - DATA_MEAN) < 0.25]
        runs[name] = {"trace": trace, "first_within_0.25": near[0] if near else None}
    return {"pretrain": measured, "runs": runs, "seconds": time.perf_counter() - t0}


# -- 4. the ring of 8 Gaussians ------------------------------------------------------------------
RING_STD = 0.05


def ring(*, loss: str = "bce", seed: int = 0, steps: int = 2500, every: int = 250, batch: int = 256,
         hidden: int = 64, clip: float = 0.01, lr: float | None = None, k_steps: int | None = None,
         n_eval: int = 2500, std: float = RING_STD) -> dict:
    """A GAN on the ring (8 modes, radius 2, std ``std``), 2-D Gaussian noise, MLPs of two
    hidden ReLU layers. ``loss="bce"``: Adam (lr 1e-3, beta1 0.5), k = 1, non-saturating.
    ``loss="wasserstein"``: RMSProp (lr 1e-3: the paper's 5e-5 moves too little in a few
    thousand steps), clipping to [-clip, clip], 5 critic steps per generator step.
    Every ``every`` generator steps, the modes covered by ``n_eval`` samples from fixed noise."""
    t0 = time.perf_counter()
    streams = Streams(seed, STREAMS)
    b = nn.get_backend("numpy", seed=streams.seed("train"))
    pair = nets.toy_pair(b, 2, 2, hidden=hidden, depth=2)
    if loss == "wasserstein":
        lr, k = lr or 1e-3, k_steps or 5
        d_opt = nn.RMSProp(pair.discriminator.params, pair.discriminator.grads, lr=lr)
        g_opt = nn.RMSProp(pair.generator.params, pair.generator.grads, lr=lr)
        nn.clip_values(pair.discriminator.params, clip)
    else:
        lr, k = lr or 1e-3, k_steps or 1
        d_opt, g_opt = _adam(pair.discriminator, lr), _adam(pair.generator, lr)
    centres = theory.ring_centres(b.xp)
    z = streams.backend("ring_eval", like=b).normal((n_eval, 2))
    history = []

    def record(step):
        samples, _ = pair.generate(z, None, train=False)
        count = theory.count_modes(samples, centres, std)
        history.append({"step": step, "covered": count.covered, "high_quality": count.high_quality,
                        "per_mode": count.per_mode})

    train_toy(pair, d_opt, g_opt, lambda n: theory.sample_ring(b, n, std=std),
              lambda n: b.normal((n, 2)), steps=steps, batch=batch, loss=loss, k_steps=k,
              clip=clip, callback=record, every=every)
    samples, _ = pair.generate(z, None, train=False)
    return {"loss": loss, "seed": seed, "std": std, "clip": clip if loss == "wasserstein" else None, "lr": lr,
            "k_steps": k, "history": history, "samples": samples, "centres": centres,
            "critic_max_abs": max(float(abs(p).max()) for p in pair.discriminator.params.values()),
            "seconds": time.perf_counter() - t0}


__all__ = ["optimal_discriminator", "figure1", "saturation", "ring", "P_DATA", "P_G",
           "train_discriminator_against", "RING_STD", "STREAMS"]
