"""A small demo: a GAN that learns a 1-D Gaussian, built only from this project's nn.

It exercises every part of the library that the paper's experiments use: Linear, ReLU,
Maxout, Dropout, the discriminator and generator losses from logits, the generator's step
backpropagated through a frozen discriminator, and SGD with momentum, through the same
training steps as the MNIST experiment (cgan.train.discriminator_step / generator_step). It runs in seconds
on a CPU and prints how the generated distribution approaches the data's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import nn

from .models import AdversarialPair, ModelConfig
from .progress import Progress
from .train import discriminator_step, generator_step


@dataclass
class DemoResult:
    steps: int
    data_mean: float
    data_std: float
    generated_mean: float
    generated_std: float
    d_real: float
    d_fake: float

    def as_dict(self) -> dict:
        return asdict(self)


DATA_MEAN, DATA_STD = 4.0, 1.25
NOISE_DIM = 4


def build_networks(backend: nn.Backend):
    generator = nn.Sequential(
        nn.Linear(NOISE_DIM, 32, backend, init=nn.Gaussian(0.5)),
        nn.ReLU(backend),
        nn.Linear(32, 1, backend, init=nn.Gaussian(0.1)),
    )
    discriminator = nn.Sequential(
        nn.Maxout(1, 16, 3, backend, init=nn.Gaussian(0.5)),
        nn.Dropout(0.8, backend),
        nn.Linear(16, 1, backend, init=nn.Gaussian(0.1)),
    )
    return generator, discriminator


def run_demo(backend: nn.Backend, steps: int = 3000, batch: int = 128, progress: bool = True) -> DemoResult:
    generator, discriminator = build_networks(backend)
    g_opt = nn.SGD(generator.params, generator.grads, lr=nn.ExponentialDecay(0.05, 1.0005, 0.005),
                   momentum=0.5)
    d_opt = nn.SGD(discriminator.params, discriminator.grads,
                   lr=nn.ExponentialDecay(0.05, 1.0005, 0.005), momentum=0.5)

    def data(n):
        return backend.normal((n, 1), std=DATA_STD, mean=DATA_MEAN)

    def noise(n):
        return backend.uniform((n, NOISE_DIM), -1.0, 1.0)

    pair = AdversarialPair(generator, discriminator, ModelConfig(model="gan", noise_dim=NOISE_DIM))
    bar = Progress(range(steps), "demo", every_s=2.0) if progress else range(steps)
    for step in bar:
        # The same two updates as the MNIST experiment (cgan/train.py).
        d_loss, _, _ = discriminator_step(pair, d_opt, data(batch), None, noise(batch))
        g_loss = generator_step(pair, g_opt, None, noise(batch))
        if progress and step % 100 == 0:
            bar.set(d_loss=float(d_loss), g_loss=float(g_loss))

    samples, _ = generator.forward(noise(10_000), train=False)
    real_logits, _ = discriminator.forward(data(10_000), train=False)
    fake_logits, _ = discriminator.forward(samples, train=False)
    samples = backend.to_numpy(samples)
    return DemoResult(
        steps=steps,
        data_mean=DATA_MEAN,
        data_std=DATA_STD,
        generated_mean=float(samples.mean()),
        generated_std=float(samples.std()),
        d_real=float(nn.losses.sigmoid(real_logits).mean()),
        d_fake=float(nn.losses.sigmoid(fake_logits).mean()),
    )
