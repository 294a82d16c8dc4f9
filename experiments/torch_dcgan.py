"""The DCGAN and conditional DCGAN of cgan/models/dcgan.py written again in PyTorch: the
baseline of `cgan bench`'s DCGAN iteration (cgan/experiments/mnist/bench_dcgan.py).

Layer for layer the networks of docs/dcgan.md: the same shapes, kernels, strides and
paddings, N(0, 0.02^2) weights and zero biases, BatchNorm (gamma 1, beta 0, momentum 0.1,
eps 1e-5) where ours has it, LeakyReLU 0.2, a sigmoid output on 784 pixels in [0, 1], the
label concatenated to z and, in D, as ten planes beside the image or by projection (the
label's embedding dotted with D's last features, nn.Projection). PyTorch computes the gradients
by autograd; the random streams are PyTorch's. Needs PyTorch (the CPU build is enough).
"""

from __future__ import annotations

import torch
from torch import nn as tnn

INIT_STD = 0.02
N_CLASSES = 10


def _init(module: tnn.Module, gen: torch.Generator) -> None:
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (tnn.Linear, tnn.Conv2d, tnn.ConvTranspose2d)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * INIT_STD)
                if m.bias is not None:
                    m.bias.zero_()


class Generator(tnn.Module):
    def __init__(self, conditional: bool, gen: torch.Generator, noise_dim: int = 100):
        super().__init__()
        self.conditional = conditional
        n_in = noise_dim + (N_CLASSES if conditional else 0)
        self.net = tnn.Sequential(
            tnn.Linear(n_in, 128 * 7 * 7), tnn.Unflatten(1, (128, 7, 7)),
            tnn.BatchNorm2d(128), tnn.ReLU(),
            tnn.ConvTranspose2d(128, 64, 4, stride=2, padding=1, bias=False),
            tnn.BatchNorm2d(64), tnn.ReLU(),
            tnn.ConvTranspose2d(64, 1, 4, stride=2, padding=1), tnn.Sigmoid(), tnn.Flatten(),
        )
        _init(self, gen)

    def forward(self, z, y=None):
        return self.net(torch.cat([z, y], dim=1) if self.conditional else z)


class Discriminator(tnn.Module):
    def __init__(self, conditional: bool, gen: torch.Generator, batchnorm: bool = True,
                 projection: bool = False):
        super().__init__()
        self.conditional = conditional
        self.planes = conditional and not projection
        in_ch = 1 + (N_CLASSES if self.planes else 0)
        layers = [tnn.Conv2d(in_ch, 64, 4, stride=2, padding=1), tnn.LeakyReLU(0.2),
                  tnn.Conv2d(64, 128, 4, stride=2, padding=1, bias=not batchnorm)]
        if batchnorm:
            layers.append(tnn.BatchNorm2d(128))
        layers += [tnn.LeakyReLU(0.2), tnn.Flatten()]
        self.features = tnn.Sequential(*layers)
        self.linear = tnn.Linear(128 * 7 * 7, 1)
        # the projection's label embedding, (10, 6272), N(0, 0.02^2) as ours
        self.embedding = (tnn.Parameter(torch.randn((N_CLASSES, 128 * 7 * 7), generator=gen) * INIT_STD)
                          if conditional and projection else None)
        _init(self, gen)

    def forward(self, x, y=None):
        image = x.view(-1, 1, 28, 28)
        if self.planes:
            planes = y[:, :, None, None].expand(-1, -1, 28, 28)
            image = torch.cat([image, planes], dim=1)
        h = self.features(image)
        out = self.linear(h)
        if self.embedding is not None:
            out = out + (h * (y @ self.embedding)).sum(dim=1, keepdim=True)
        return out
