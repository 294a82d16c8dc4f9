"""A small demo: a GAN that learns a 1-D Gaussian, built only from this project's nn.

It exercises every part of the library that the paper's experiments use: Linear, ReLU,
Maxout, Dropout, the discriminator and generator losses from logits, the generator's step
backpropagated through a frozen discriminator, and SGD with momentum, through the same
training loop and steps as the MNIST experiment (cgan.core.loop, cgan.core.steps). It runs
in seconds on a CPU and prints how the generated distribution approaches the data's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import nn
from nn.functional import sigmoid

from ...core.loop import Draw, Training, train_minibatches
from ...core.optim import Optimizers
from ...core.progress import Progress
from ...core.steps import BCE, UPDATES
from ...models.toy import DEMO_NOISE_DIM, demo_pair

__all__ = ["DemoResult", "run_demo", "DATA_MEAN", "DATA_STD"]


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


def run_demo(backend: nn.Backend, steps: int = 3000, batch: int = 128, progress: bool = True) -> DemoResult:
    pair = demo_pair(backend)
    generator, discriminator = pair.generator, pair.discriminator
    opt = Optimizers(
        d=nn.SGD(discriminator.params, discriminator.grads, lr=nn.ExponentialDecay(0.05, 1.0005, 0.005),
                 momentum=0.5),
        g=nn.SGD(generator.params, generator.grads, lr=nn.ExponentialDecay(0.05, 1.0005, 0.005),
                 momentum=0.5),
    )

    def data(n):
        return backend.normal((n, 1), std=DATA_STD, mean=DATA_MEAN)

    def noise(n):
        return backend.uniform((n, DEMO_NOISE_DIM), -1.0, 1.0)

    # The same loop and steps as the MNIST experiment: each iteration a discriminator step
    # on a data minibatch, then a generator step on fresh noise.
    training = Training(pair=pair, opt=opt, update=UPDATES["alternating"], objective=BCE(), data=None,
                        draw=Draw(noise), backend=backend, batch_size=batch)
    bar = Progress(range(steps), "demo", every_s=2.0) if progress else None
    train_minibatches(training, steps, lambda _: (data(batch), None), bar=bar, where="the demo")

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
        d_real=float(sigmoid(real_logits).mean()),
        d_fake=float(sigmoid(fake_logits).mean()),
    )
