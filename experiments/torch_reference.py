"""The MNIST adversarial nets of `cgan train mnist` written again in PyTorch, for cross-checks.

It runs exactly the recipe of the preset it names (with the same overrides as the
command line): the same networks, initialisation (including G's output bias from the
pixel marginals and its clip), noise distribution, dropout placement, labels of the
generated samples, losses, update order (alternating or simultaneous), optimiser (SGD with
pylearn2's momentum and learning-rate schedules, Adam or RMSProp), minibatch order and
validation Parzen estimate. PyTorch computes the gradients by autograd; the random
streams are PyTorch's, so the two runs agree in distribution, not bit for bit.

It answers "is a behaviour (say, mode collapse) ours, or the recipe's?", and it is the
baseline of the performance benchmark. Optional: needs PyTorch (`pip install torch`, the
CPU build is enough).

    python experiments/torch_reference.py --model gan --preset original --epochs 20 \
        --out runs/torch-gan-original-s0.jsonl
    python experiments/torch_reference.py --preset default --set '{"noise": "gaussian"}'

Each epoch prints (and appends to --out) one JSON record with the keys of our
metrics.jsonl: d_loss, g_loss, d_real, d_fake, lr, momentum, valid_ll, sigma, label_acc
(conditional: the project's classifier on the evaluation samples), plus
within_class_std (the per-pixel standard deviation of 100 samples of one label, averaged).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn as tnn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cgan.data.mnist import load_mnist  # noqa: E402
from cgan.experiments.mnist.config import PRESETS, TrainConfig, resolve_config  # noqa: E402


def uniform_(tensor, irange, gen):
    with torch.no_grad():
        tensor.copy_(torch.rand(tensor.shape, generator=gen) * (2 * irange) - irange)


def linear(n_in, n_out, irange, gen):
    layer = tnn.Linear(n_in, n_out)
    uniform_(layer.weight, irange, gen)
    with torch.no_grad():
        layer.bias.zero_()
    return layer


class Maxout(tnn.Module):
    def __init__(self, n_in, units, pieces, irange, gen):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = linear(n_in, units * pieces, irange, gen)

    def forward(self, x):
        return self.linear(x).view(x.shape[0], self.units, self.pieces).max(dim=2).values


def dropout(keep):
    """torch's Dropout takes the drop probability; it scales by 1 / keep, as ours does."""
    return tnn.Dropout(1 - keep) if keep < 1 else tnn.Identity()


def generator_top(cfg, hidden, marginals, gen):
    """The hidden layers, the optional dropout on the last one, and the 784 sigmoid outputs
    whose bias is the logit of the pixel marginals clipped to [c, 1 - c] (cgan.models.mnist)."""
    out = linear(1200, 784, cfg.g_irange, gen)
    if cfg.marginal_bias:
        with torch.no_grad():
            p = marginals.clamp(cfg.marginal_clip, 1 - cfg.marginal_clip)
            out.bias.copy_(torch.log(p / (1 - p)))
    return tnn.Sequential(*hidden, dropout(cfg.g_hidden_keep), out, tnn.Sigmoid())


class Generator(tnn.Module):
    """The conditional paper's generator: z -> 200, y -> 1000, joined -> 1200 -> 784."""

    def __init__(self, cfg, marginals, gen):
        super().__init__()
        g = cfg.g_irange
        self.z = tnn.Sequential(linear(100, 200, g, gen), tnn.ReLU())
        self.y = tnn.Sequential(linear(10, 1000, g, gen), tnn.ReLU())
        self.joint = generator_top(cfg, [linear(1200, 1200, g, gen), tnn.ReLU()], marginals, gen)

    def forward(self, z, y):
        return self.joint(torch.cat([self.z(z), self.y(y)], dim=1))


class Discriminator(tnn.Module):
    """The conditional paper's discriminator: x -> maxout 240x5 (input dropout), y ->
    maxout 50x5, joined -> maxout 240x4 -> 1, dropout on the later layers' inputs."""

    def __init__(self, cfg, gen):
        super().__init__()
        d = cfg.d_irange
        self.x = tnn.Sequential(dropout(cfg.d_input_keep), Maxout(784, 240, 5, d, gen))
        self.y = Maxout(10, 50, 5, d, gen)
        self.joint = tnn.Sequential(dropout(cfg.d_hidden_keep), Maxout(290, 240, 4, d, gen),
                                    dropout(cfg.d_hidden_keep), linear(240, 1, d, gen))

    def forward(self, x, y):
        return self.joint(torch.cat([self.x(x), self.y(y)], dim=1))


class UnconditionalGenerator(tnn.Module):
    """The original GAN's MNIST generator: z -> 1200 -> 1200 -> 784."""

    def __init__(self, cfg, marginals, gen):
        super().__init__()
        g = cfg.g_irange
        hidden = [linear(100, 1200, g, gen), tnn.ReLU(), linear(1200, 1200, g, gen), tnn.ReLU()]
        self.net = generator_top(cfg, hidden, marginals, gen)

    def forward(self, z, y=None):
        return self.net(z)


class UnconditionalDiscriminator(tnn.Module):
    """The original GAN's MNIST discriminator: maxout 240x5 -> maxout 240x5 -> 1."""

    def __init__(self, cfg, gen):
        super().__init__()
        d = cfg.d_irange
        self.net = tnn.Sequential(dropout(cfg.d_input_keep), Maxout(784, 240, 5, d, gen),
                                  dropout(cfg.d_hidden_keep), Maxout(240, 240, 5, d, gen),
                                  dropout(cfg.d_hidden_keep), linear(240, 1, d, gen))

    def forward(self, x, y=None):
        return self.net(x)


def noise(cfg, n, gen):
    if cfg.noise == "uniform01":
        return torch.rand(n, 100, generator=gen)
    if cfg.noise == "uniform_pm1":
        return torch.rand(n, 100, generator=gen) * 2 - 1
    if cfg.noise == "uniform_unit_variance":
        return (torch.rand(n, 100, generator=gen) * 2 - 1) * math.sqrt(3)
    return torch.randn(n, 100, generator=gen)


class Optimizer:
    """nn.SGD (pylearn2's momentum: v <- m v - lr g, p <- p + v), nn.Adam or nn.RMSProp,
    with the learning rate lr / decay**updates floored at lr_min and the momentum ramped
    per epoch, as cgan.core.optim.make_optimizer builds them."""

    def __init__(self, params, cfg: TrainConfig):
        self.params, self.cfg = list(params), cfg
        if cfg.optimizer == "adam":
            self.torch_opt = torch.optim.Adam(self.params, lr=cfg.lr, betas=(cfg.beta1, 0.999), eps=1e-8)
        elif cfg.optimizer == "rmsprop":
            self.torch_opt = torch.optim.RMSprop(self.params, lr=cfg.lr, alpha=cfg.rms_alpha, eps=1e-8)
        else:
            self.torch_opt = None
            self.velocity = [torch.zeros_like(p) for p in self.params]
        self.updates, self.momentum = 0, cfg.momentum_start

    @property
    def lr(self):
        return max(self.cfg.lr / self.cfg.lr_decay ** self.updates, self.cfg.lr_min)

    def set_epoch(self, epoch):
        c = self.cfg
        span = max(c.momentum_end_epoch - c.momentum_start_epoch, 1)
        ramp = min(max((epoch - c.momentum_start_epoch) / span, 0.0), 1.0)
        self.momentum = c.momentum_start + ramp * (c.momentum_end - c.momentum_start)

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        lr = self.lr
        if self.torch_opt is not None:
            for group in self.torch_opt.param_groups:
                group["lr"] = lr
            self.torch_opt.step()
        else:
            for p, v in zip(self.params, self.velocity):
                v.mul_(self.momentum).sub_(lr * p.grad)
                p.add_(v)
        self.updates += 1


def one_hot(labels):
    return torch.eye(10)[labels]


def run(cfg: TrainConfig, epochs: int, seed: int, train_limit=None, out=None, eval_every=1):
    if cfg.loss != "bce" or cfg.k_steps != 1 or cfg.init != "uniform" or cfg.max_col_norm:
        raise SystemExit("torch_reference mirrors the bce loss with one D step per G step, "
                         "uniform initialisation and no column-norm limit")
    from cgan.evaluation.parzen import parzen_evaluate
    import nn

    torch.manual_seed(seed)  # dropout masks
    gen = torch.Generator().manual_seed(seed)
    splits = load_mnist(progress=False)
    n = train_limit or splits.train_images.shape[0]
    x_all = torch.from_numpy(splits.train_images[:n].astype(np.float32) / 255.0)
    labels_all = torch.from_numpy(splits.train_y[:n].astype(np.int64))
    conditional = cfg.model == "cgan"
    marginals = x_all.double().mean(0).float()
    if conditional:
        G, D = Generator(cfg, marginals, gen), Discriminator(cfg, gen)
    else:
        G, D = UnconditionalGenerator(cfg, marginals, gen), UnconditionalDiscriminator(cfg, gen)
    g_opt, d_opt = Optimizer(G.parameters(), cfg), Optimizer(D.parameters(), cfg)
    bce = tnn.BCEWithLogitsLoss()
    host = nn.get_backend("numpy", seed=seed)
    sigma_points = cfg.eval_sigma_points or cfg.eval_valid_points
    valid = host.asarray(splits.valid_x[:cfg.eval_valid_points])
    eval_gen = torch.Generator().manual_seed(seed + 1_000_003)
    fixed_z = noise(cfg, 1000, eval_gen)
    classifier = None
    if conditional:
        # the project's classifier, to score the samples' labels as `cgan eval` does
        from cgan.data.mnist import default_data_dir
        from cgan.evaluation.classifier import load_or_train_classifier
        classifier, _ = load_or_train_classifier(host, splits, default_data_dir(), progress=False)
    records = []
    for epoch in range(1, epochs + 1):
        for opt in (g_opt, d_opt):
            opt.set_epoch(epoch)
        order = torch.randperm(n, generator=gen)
        sums = np.zeros(4)
        start = time.perf_counter()
        batches = n // cfg.batch_size
        for i in range(batches):
            idx = order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            x = x_all[idx]
            y = one_hot(labels_all[idx]) if conditional else None
            if conditional and cfg.fake_labels == "uniform":
                y_fake = one_hot(torch.randint(0, 10, (len(idx),), generator=gen))
            else:
                y_fake = y
            z = noise(cfg, len(idx), gen)
            if cfg.update == "simultaneous":
                # both gradients from one pass, at the same parameters, then both steps
                fake = G(z, y_fake)
                real_logits, fake_logits = D(x, y), D(fake, y_fake)
                d_loss = 0.5 * (bce(real_logits, torch.ones_like(real_logits))
                                + bce(fake_logits, torch.zeros_like(fake_logits)))
                g_loss = (-bce(fake_logits, torch.zeros_like(fake_logits))
                          if cfg.g_loss == "saturating" else bce(fake_logits, torch.ones_like(fake_logits)))
                d_params, g_params = list(D.parameters()), list(G.parameters())
                d_grads = torch.autograd.grad(d_loss, d_params, retain_graph=True)
                g_grads = torch.autograd.grad(g_loss, g_params)
                for p, g in zip(d_params + g_params, d_grads + g_grads):
                    p.grad = g
                d_opt.step()
                g_opt.step()
            else:
                with torch.no_grad():
                    fake = G(z, y_fake)
                real_logits, fake_logits = D(x, y), D(fake, y_fake)
                d_loss = 0.5 * (bce(real_logits, torch.ones_like(real_logits))
                                + bce(fake_logits, torch.zeros_like(fake_logits)))
                d_opt.zero_grad()
                d_loss.backward()
                d_opt.step()
                if conditional and cfg.fake_labels == "uniform":
                    y_fake = one_hot(torch.randint(0, 10, (len(idx),), generator=gen))
                logits = D(G(noise(cfg, len(idx), gen), y_fake), y_fake)
                g_loss = (-bce(logits, torch.zeros_like(logits))
                          if cfg.g_loss == "saturating" else bce(logits, torch.ones_like(logits)))
                g_opt.zero_grad()
                D.zero_grad(set_to_none=True)
                g_loss.backward()
                g_opt.step()
            sums += [d_loss.item(), g_loss.item(), torch.sigmoid(real_logits).mean().item(),
                     torch.sigmoid(fake_logits).mean().item()]
        d, g, dx, dgz = sums / batches
        record = {"epoch": epoch, "d_loss": d, "g_loss": g, "d_real": dx, "d_fake": dgz,
                  "lr": d_opt.lr, "momentum": d_opt.momentum, "updates": d_opt.updates,
                  "train_seconds": time.perf_counter() - start}
        G.eval()
        with torch.no_grad():
            if conditional:
                s = G(fixed_z, one_hot(torch.arange(10).repeat_interleave(100))).view(10, 100, 784)
                record["within_class_std"] = float(s.std(dim=1).mean())
            else:
                record["within_class_std"] = float(G(fixed_z).std(dim=0).mean())
            if epoch % eval_every == 0 or epoch == epochs:
                m = cfg.eval_samples
                if conditional:
                    samples = G(noise(cfg, m, eval_gen), one_hot(torch.arange(10).repeat_interleave(m // 10)))
                else:
                    samples = G(noise(cfg, m, eval_gen))
                result = parzen_evaluate(host.asarray(samples.numpy()), valid[:sigma_points], valid, host)
                record.update(valid_ll=result.mean, sigma=result.sigma)
                if classifier is not None:
                    from cgan.evaluation.metrics import label_accuracy
                    labels = np.repeat(np.arange(10), m // 10)
                    record["label_acc"] = label_accuracy(classifier, host.asarray(samples.numpy()),
                                                         labels)["overall"]
        G.train()
        records.append(record)
        print(json.dumps(record), flush=True)
        if out:
            with open(out, "a") as f:
                f.write(json.dumps(record) + "\n")
        if not math.isfinite(d):
            raise SystemExit("diverged")
    return records


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["cgan", "gan"], default="cgan")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-every", type=int, default=1)
    parser.add_argument("--set", default="{}",
                        help="JSON overrides of the preset, with TrainConfig's names "
                             "(e.g. '{\"update\": \"alternating\"}')")
    parser.add_argument("--out", help="append the epoch records to this JSON-lines file")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", 1)))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = resolve_config(args.model, args.preset, seed=args.seed, **json.loads(args.set))
    run(cfg, args.epochs, args.seed, args.train_limit, args.out, args.eval_every)


if __name__ == "__main__":
    main()
