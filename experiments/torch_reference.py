"""The conditional MNIST GAN of cgan/train.py written again in PyTorch, for cross-checks.

Same networks, initialisation, dropout, losses, update order and SGD schedule as
``cgan train mnist --preset default``; PyTorch computes the gradients by autograd. It
answers "is a behaviour (say, mode collapse) ours, or the recipe's?" and is the baseline
of the performance benchmark. Optional: needs ``pip install torch`` (CPU build is fine).

    python experiments/torch_reference.py --epochs 3 --train-limit 10000
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch
from torch import nn as tnn

from cgan.data.mnist import load_mnist
from cgan.train import resolve_config


class Maxout(tnn.Module):
    def __init__(self, n_in, units, pieces, irange):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = tnn.Linear(n_in, units * pieces)
        with torch.no_grad():
            self.linear.weight.uniform_(-irange, irange)
            self.linear.bias.zero_()

    def forward(self, x):
        return self.linear(x).view(x.shape[0], self.units, self.pieces).max(dim=2).values


def linear(n_in, n_out, irange):
    layer = tnn.Linear(n_in, n_out)
    with torch.no_grad():
        layer.weight.uniform_(-irange, irange)
        layer.bias.zero_()
    return layer


def generator_top(cfg, hidden, marginals):
    """The hidden layers, the optional dropout, and the 784 sigmoid outputs whose bias is
    the logit of the pixel marginals (cgan.models)."""
    layers = list(hidden)
    if cfg.g_hidden_keep < 1:
        layers.append(tnn.Dropout(1 - cfg.g_hidden_keep))
    out = linear(1200, 784, cfg.g_irange)
    with torch.no_grad():
        p = marginals.clamp(1e-3, 1 - 1e-3)
        out.bias.copy_(torch.log(p / (1 - p)))
    return tnn.Sequential(*layers, out, tnn.Sigmoid())


class Generator(tnn.Module):
    def __init__(self, cfg, marginals):
        super().__init__()
        g = cfg.g_irange
        self.z = tnn.Sequential(linear(100, 200, g), tnn.ReLU())
        self.y = tnn.Sequential(linear(10, 1000, g), tnn.ReLU())
        self.joint = generator_top(cfg, [linear(1200, 1200, g), tnn.ReLU()], marginals)

    def forward(self, z, y):
        return self.joint(torch.cat([self.z(z), self.y(y)], dim=1))


class Discriminator(tnn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg.d_irange
        self.x = tnn.Sequential(tnn.Dropout(1 - cfg.d_input_keep), Maxout(784, 240, 5, d))
        self.y = Maxout(10, 50, 5, d)
        self.joint = tnn.Sequential(tnn.Dropout(1 - cfg.d_hidden_keep), Maxout(290, 240, 4, d),
                                    tnn.Dropout(1 - cfg.d_hidden_keep), linear(240, 1, d))

    def forward(self, x, y):
        return self.joint(torch.cat([self.x(x), self.y(y)], dim=1))


class UnconditionalGenerator(tnn.Module):
    """The original GAN's MNIST generator (cgan.models.unconditional_generator)."""

    def __init__(self, cfg, marginals):
        super().__init__()
        g = cfg.g_irange
        hidden = [linear(100, 1200, g), tnn.ReLU(), linear(1200, 1200, g), tnn.ReLU()]
        self.net = generator_top(cfg, hidden, marginals)

    def forward(self, z, y=None):
        return self.net(z)


class UnconditionalDiscriminator(tnn.Module):
    """The original GAN's MNIST discriminator (cgan.models.unconditional_discriminator)."""

    def __init__(self, cfg):
        super().__init__()
        d = cfg.d_irange
        self.net = tnn.Sequential(tnn.Dropout(1 - cfg.d_input_keep), Maxout(784, 240, 5, d),
                                  tnn.Dropout(1 - cfg.d_hidden_keep), Maxout(240, 240, 5, d),
                                  tnn.Dropout(1 - cfg.d_hidden_keep), linear(240, 1, d))

    def forward(self, x, y=None):
        return self.net(x)


def noise(cfg, n, gen):
    if cfg.noise == "uniform01":
        return torch.rand(n, 100, generator=gen)
    if cfg.noise == "uniform_pm1":
        return torch.rand(n, 100, generator=gen) * 2 - 1
    return torch.randn(n, 100, generator=gen)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", default="{}", help="JSON overrides of the default preset")
    args = parser.parse_args()
    cfg = resolve_config("cgan", "default", **json.loads(args.set))
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    splits = load_mnist(progress=False)
    n = args.train_limit or splits.train_x.shape[0]
    x_all = torch.from_numpy(splits.train_x[:n])
    y_all = torch.eye(10)[torch.from_numpy(splits.train_y[:n])]
    G, D = Generator(cfg, x_all.mean(0)), Discriminator(cfg)
    g_opt = torch.optim.SGD(G.parameters(), lr=cfg.lr, momentum=cfg.momentum_start)
    d_opt = torch.optim.SGD(D.parameters(), lr=cfg.lr, momentum=cfg.momentum_start)
    bce = tnn.BCEWithLogitsLoss()
    updates = 0
    for epoch in range(1, args.epochs + 1):
        ramp = min(max((epoch - cfg.momentum_start_epoch)
                       / max(cfg.momentum_end_epoch - cfg.momentum_start_epoch, 1), 0), 1)
        momentum = cfg.momentum_start + ramp * (cfg.momentum_end - cfg.momentum_start)
        order = torch.randperm(n, generator=gen)
        sums = np.zeros(4)
        start = time.perf_counter()
        for i in range(n // cfg.batch_size):
            lr = max(cfg.lr / cfg.lr_decay ** updates, cfg.lr_min)
            for opt in (g_opt, d_opt):
                for group in opt.param_groups:
                    group["lr"], group["momentum"] = lr, momentum
            idx = order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            x, y = x_all[idx], y_all[idx]
            with torch.no_grad():
                fake = G(noise(cfg, len(idx), gen), y)
            real_logits, fake_logits = D(x, y), D(fake, y)
            d_loss = 0.5 * (bce(real_logits, torch.ones_like(real_logits))
                            + bce(fake_logits, torch.zeros_like(fake_logits)))
            d_opt.zero_grad()
            d_loss.backward()
            d_opt.step()
            fake_logits = D(G(noise(cfg, len(idx), gen), y), y)
            g_loss = bce(fake_logits, torch.ones_like(fake_logits))
            g_opt.zero_grad()
            g_loss.backward()
            g_opt.step()
            updates += 1
            sums += [d_loss.item(), g_loss.item(), torch.sigmoid(real_logits).mean().item(),
                     torch.sigmoid(fake_logits).mean().item()]
        batches = n // cfg.batch_size
        G.eval()
        with torch.no_grad():
            labels = torch.arange(10).repeat_interleave(100)
            s = G(noise(cfg, 1000, gen), torch.eye(10)[labels]).view(10, 100, 784)
        G.train()
        d, g, dx, dgz = sums / batches
        print(json.dumps({"epoch": epoch, "d_loss": round(d, 4), "g_loss": round(g, 4),
                          "d_real": round(dx, 4), "d_fake": round(dgz, 4),
                          "within_class_std": round(float(s.std(dim=1).mean()), 4),
                          "seconds": round(time.perf_counter() - start, 1)}), flush=True)
    if not math.isfinite(d):
        raise SystemExit("diverged")


if __name__ == "__main__":
    main()
