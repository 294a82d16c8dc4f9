"""The DCGAN part of ``cgan bench`` (cgan.experiments.mnist.bench runs it; docs/performance.md).

* **The iteration** of ``cgan train mnist --model dcgan|cdcgan`` with the ``default``
  preset: minibatch 64, one discriminator step (the real and the generated rows in two
  passes, each with its own BatchNorm statistics), one generator step through the
  discriminator, Adam (lr 2e-4, beta1 0.5), float32, on synthetic MNIST-shaped data
  (uint8 pixels, as the trainer holds them). Ours is the core loop
  (cgan.core.loop.train_minibatches) on the networks of cgan.models.dcgan; PyTorch's is
  the same networks written in PyTorch (experiments/torch_dcgan.py), the same two passes
  and optimiser.
* **FLOPs**, counted analytically from the layer shapes: two per multiply-add of every
  matrix product the code performs. A convolution is one product per pass
  (cgan/nn/conv.py): forward ``W2 @ im2col(x)``, weight gradient ``G @ im2col(x)^T``,
  input gradient ``W2^T @ G``; a transposed convolution the same three, transposed.
  Input gradients are counted only where the code computes them: not at a network's
  first layer with parameters in a discriminator step, nor anywhere in G's first layer.
* **Where the time goes** (:func:`profile`): one process, the iteration with every
  layer's forward and backward, im2col, col2im, the layout copies and the optimiser
  steps timed in place; the convolutions' share of the iteration.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict

from .bench import Product

DCGAN_MODELS = ("dcgan", "cdcgan")


# -- analytic FLOPs ------------------------------------------------------------------------------
def gemm_layers(net, x) -> list[tuple[object, tuple, bool]]:
    """(layer, its input shape for one example, reads the network's input) of every layer
    that is a matrix product (Linear, Maxout, Conv2d, ConvTranspose2d), in order. ``x`` is
    an input of batch 1 (a pair for a Join); the network runs forward on it (evaluation
    mode) to learn the shapes."""
    import nn

    found: list = []

    def walk(layer, x, at_input):
        if isinstance(layer, nn.Sequential):
            for child in layer.layers:
                x, at_input = walk(child, x, at_input)
            return x, at_input
        if isinstance(layer, nn.Join):
            after = [walk(branch, xi, at_input)[1] for branch, xi in zip(layer.branches, x)]
            return layer.forward(x, train=False)[0], all(after)
        if isinstance(layer, nn.Projection):
            # its features' products; its own (h w and the label's row of V dotted with h)
            # are two numbers per feature and example, not counted
            walk(layer.features, x[0], at_input)
            return layer.forward(x, train=False)[0], False
        if isinstance(layer, (nn.Linear, nn.Maxout, nn.Conv2d, nn.ConvTranspose2d)):
            found.append((layer, tuple(x.shape[1:]), at_input))
        y = layer.forward(x, train=False)[0]
        return y, at_input and not layer.params

    walk(net, x, True)
    return found


def layer_products(layer, in_shape: tuple, rows: int) -> dict[str, Product]:
    """The forward, weight-gradient and input-gradient products of one layer on ``rows``
    examples, with the operand that the code reads transposed named in ``layout``."""
    import nn

    W = layer.params["W"]
    if isinstance(layer, (nn.Linear, nn.Maxout)):
        n_in, n_out = (int(s) for s in W.shape)
        return {"forward": Product(rows, n_in, n_out, "nn"), "weight": Product(n_in, rows, n_out, "tn"),
                "input": Product(rows, n_out, n_in, "nt")}
    if isinstance(layer, nn.Conv2d):
        out_ch, in_ch, kh, kw = (int(s) for s in W.shape)
        oh, ow = (nn.conv.conv_output_size(size, k, s, p) for size, k, s, p in
                  zip(in_shape[1:], layer.kernel, layer.stride, layer.padding))
        cols, k = oh * ow * rows, in_ch * kh * kw
        return {"forward": Product(out_ch, k, cols, "nn"),      # W2 @ X
                "weight": Product(out_ch, cols, k, "nt"),       # G @ X^T
                "input": Product(k, out_ch, cols, "tn")}        # W2^T @ G
    in_ch, out_ch, kh, kw = (int(s) for s in W.shape)           # ConvTranspose2d
    cols, m = in_shape[1] * in_shape[2] * rows, out_ch * kh * kw
    return {"forward": Product(m, in_ch, cols, "tn"),           # W2^T @ X
            "weight": Product(in_ch, cols, m, "nt"),            # X @ D^T
            "input": Product(in_ch, m, cols, "nn")}             # W2 @ D


def iteration_products(pair, batch: int, *, one_pass: bool = False) -> list[Product]:
    """The products of one discriminator step (real and generated rows in two passes, or
    one pass over both) and one generator step, as the code runs them."""
    b = _numpy_float32()
    g_input = b.normal((1, pair.noise_dim))
    y = b.xp.eye(10, dtype=b.dtype)[:1]
    g = gemm_layers(pair.generator, (g_input, y) if pair.conditional else g_input)
    image = pair.generator.forward((g_input, y) if pair.conditional else g_input, train=False)[0]
    d = gemm_layers(pair.discriminator, (image, y) if pair.conditional else image)
    out: list[Product] = []

    def add(layers, rows, *, forward=False, weights=False, inputs=False, inputs_at_input=False):
        for layer, shape, first in layers:
            p = layer_products(layer, shape, rows)
            out.extend([p["forward"]] if forward else [])
            out.extend([p["weight"]] if weights else [])
            out.extend([p["input"]] if inputs and (inputs_at_input or not first) else [])

    add(g, batch, forward=True)                                   # D step: G(z)
    for rows in ([2 * batch] if one_pass else [batch, batch]):    # D on real, D on generated
        add(d, rows, forward=True, weights=True, inputs=True)
    add(g, batch, forward=True)                                   # G step
    add(d, batch, forward=True, inputs=True, inputs_at_input=True)
    add(g, batch, weights=True, inputs=True)
    merged: dict[tuple, int] = defaultdict(int)
    for p in out:
        merged[(p.m, p.k, p.n, p.layout)] += p.count
    return [Product(*key, count=c) for key, c in merged.items()]


def _numpy_float32():
    import nn

    return nn.get_backend("numpy", seed=0)


def bench_config(model: str, seed: int = 0):
    """The run configuration the benchmark's iteration uses: the model's default preset."""
    from .config import resolve_config

    return resolve_config(model, "default", seed=seed)


# -- the iteration, ours and PyTorch's -----------------------------------------------------------
class OursDCGANIteration:
    """The core loop on the DCGAN networks, as ``cgan train mnist --model MODEL`` runs it."""

    def __init__(self, model: str, backend_name: str, seed: int = 0):
        import nn
        from ...core.loop import Draw, Training
        from ...core.noise import noise_sampler, one_hot
        from ...core.optim import Optimizers, make_optimizer
        from ...data.mnist import scale_pixels
        from .train import build_networks

        self.cfg = cfg = bench_config(model, seed)
        b = nn.get_backend(backend_name, seed=seed)
        pair = build_networks(b, cfg)
        opt = Optimizers(d=make_optimizer(cfg, pair.discriminator), g=make_optimizer(cfg, pair.generator))
        opt.set_epoch(1)
        batch = cfg.batch_size
        n = 50 * batch
        images = (b.uniform((n, 784)) * 255).astype(b.xp.uint8)
        labels = (b.uniform((n,)) * 10).astype(b.xp.int64)
        order = b.xp.argsort(b.uniform((n,)))

        def rows(i):
            idx = order[(i % 50) * batch:(i % 50 + 1) * batch]
            y = one_hot(b, labels[idx], 10) if pair.conditional else None
            return scale_pixels(images[idx], b.dtype), y

        self.rows = rows
        self.training = Training(pair=pair, opt=opt, update=cfg.update_rule(), objective=cfg.objective(),
                                 data=None, draw=Draw(noise_sampler(b, cfg.noise, pair.noise_dim)),
                                 backend=b, batch_size=batch)
        self.b = b
        self.i = 0

    def run(self, iterations: int) -> None:
        from ...core.loop import train_minibatches

        start = self.i
        train_minibatches(self.training, iterations, lambda k: self.rows(start + k))
        self.i += iterations
        self.b.synchronize()


def torch_threads(torch) -> int:
    """PyTorch's intra-op threads: OMP_NUM_THREADS, else OPENBLAS_NUM_THREADS (what our
    side's BLAS uses), else PyTorch's default; set, and returned."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        if os.environ.get(name, "").isdigit():
            torch.set_num_threads(int(os.environ[name]))
            break
    return torch.get_num_threads()


class TorchDCGANIteration:
    """The same iteration in PyTorch (experiments/torch_dcgan.py's networks): D on the real
    rows and on the detached generated rows in two passes, then G through D; Adam."""

    def __init__(self, model: str, device: str, seed: int = 0):
        import sys

        import torch

        from .bench import ROOT

        reference = ROOT / "experiments" / "torch_dcgan.py"
        if not reference.is_file():
            raise RuntimeError(f"the PyTorch side uses {reference.name}, which is in a source "
                               "checkout's experiments/, not in the installed package")
        sys.path.insert(0, str(reference.parent))
        import torch_dcgan as ref

        self.torch = torch
        self.threads = torch_threads(torch)
        self.cfg = cfg = bench_config(model, seed)
        torch.manual_seed(seed)
        self.device = torch.device(device)
        gen = torch.Generator().manual_seed(seed)
        self.conditional = model == "cdcgan"
        self.g = ref.Generator(self.conditional, gen).to(self.device)
        self.d = ref.Discriminator(self.conditional, gen,
                                   projection=cfg.d_condition == "projection").to(self.device)
        betas = (cfg.beta1, 0.999)
        self.g_opt = torch.optim.Adam(self.g.parameters(), lr=cfg.lr, betas=betas)
        self.d_opt = torch.optim.Adam(self.d.parameters(), lr=cfg.lr, betas=betas)
        self.bce = torch.nn.BCEWithLogitsLoss()
        self.batch = batch = cfg.batch_size
        n = 50 * batch
        self.images = torch.randint(0, 256, (n, 784), dtype=torch.uint8, device=self.device)
        self.labels = torch.randint(0, 10, (n,), device=self.device)
        self.eye = torch.eye(10, device=self.device)
        self.order = torch.randperm(n, device=self.device)
        self.i = 0

    def run(self, iterations: int) -> None:
        torch, batch = self.torch, self.batch
        for _ in range(iterations):
            j = self.i % 50
            self.i += 1
            idx = self.order[j * batch:(j + 1) * batch]
            x = self.images[idx].float() / 255.0
            y = self.eye[self.labels[idx]] if self.conditional else None
            with torch.no_grad():
                fake = self.g(torch.randn(batch, 100, device=self.device), y)
            real_logits, fake_logits = self.d(x, y), self.d(fake, y)
            d_loss = 0.5 * (self.bce(real_logits, torch.ones_like(real_logits))
                            + self.bce(fake_logits, torch.zeros_like(fake_logits)))
            self.d_opt.zero_grad()
            d_loss.backward()
            self.d_opt.step()
            fake_logits = self.d(self.g(torch.randn(batch, 100, device=self.device), y), y)
            g_loss = self.bce(fake_logits, torch.ones_like(fake_logits))
            self.g_opt.zero_grad()
            g_loss.backward()
            self.g_opt.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize()


# -- where the time goes -------------------------------------------------------------------------
CATEGORIES = (
    ("convolution products and bias", "the matrix products of Conv2d and ConvTranspose2d, and their biases"),
    ("im2col", "the windows copied into the column matrix"),
    ("col2im", "the columns added back into maps"),
    ("layout copies", "NCHW <-> batch-last copies at the convolutions' edges"),
    ("BatchNorm", "forward and backward"),
    ("Linear", "forward and backward (G's projection, D's logit)"),
    ("activations", "ReLU, LeakyReLU, sigmoid, reshapes, label planes"),
    ("Adam", "both optimiser steps"),
    ("rest", "losses, noise, minibatch, concatenation, the projection's score, Python"),
)


def profile(model: str, backend_name: str = "numpy", iterations: int = 20, warmup: int = 3,
            clock=time.perf_counter) -> dict:
    """ms per iteration in each part of our DCGAN iteration (CATEGORIES), timed in place in
    one process, and the convolutions' share (their products, im2col, col2im and layout
    copies) of the whole. The timers add a little overhead, which lands in 'rest'.
    ``clock=time.process_time`` counts this process's CPU time instead of wall time (on a
    shared machine, with one BLAS thread)."""
    import nn
    from nn import conv

    it = OursDCGANIteration(model, backend_name)
    b = it.b
    spent: dict[str, float] = defaultdict(float)
    inner: dict[str, float] = defaultdict(float)  # data movement inside the conv layers

    def timed(fn, key, into):
        def wrapper(*args, **kwargs):
            start = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                b.synchronize()
                into[key] += clock() - start
        return wrapper

    originals = {name: getattr(conv, name) for name in ("im2col", "col2im", "batch_last", "batch_first")}
    for name, fn in originals.items():
        setattr(conv, name, timed(fn, "layout copies" if name.startswith("batch") else name, inner))

    def category(layer):
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            return "conv"
        if isinstance(layer, nn.BatchNorm):
            return "BatchNorm"
        if isinstance(layer, nn.Linear):
            return "Linear"
        return "activations"

    def instrument(layer):
        if isinstance(layer, (nn.Sequential, nn.Join, nn.Projection)):  # a projection's own
            for child in layer.children.values():                         # score: in "rest"
                instrument(child)
            return
        key = category(layer)
        layer.forward = timed(layer.forward, key, spent)
        layer.backward = timed(layer.backward, key, spent)

    pair, opt = it.training.pair, it.training.opt
    try:
        for net in (pair.generator, pair.discriminator):
            instrument(net)
        for o in (opt.d, opt.g):
            o.step = timed(o.step, "Adam", spent)
        it.run(warmup)
        spent.clear()
        inner.clear()
        start = clock()
        it.run(iterations)
        total = clock() - start
    finally:
        for name, fn in originals.items():
            setattr(conv, name, fn)
    ms = {k: 1000 * v / iterations for k, v in {**spent, **inner}.items()}
    conv_total = ms.pop("conv", 0.0)
    moved = sum(ms.get(k, 0.0) for k in ("im2col", "col2im", "layout copies"))
    ms["convolution products and bias"] = conv_total - moved
    total_ms = 1000 * total / iterations
    ms["rest"] = total_ms - sum(ms.get(k, 0.0) for k, _ in CATEGORIES if k != "rest")
    return {"model": model, "iterations": iterations, "total_ms": total_ms,
            "parts_ms": {k: ms.get(k, 0.0) for k, _ in CATEGORIES},
            "convolution_share": conv_total / total_ms, "batch": it.cfg.batch_size}
