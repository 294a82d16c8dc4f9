"""What each speed choice of nn and cgan.core buys, measured alone (docs/performance.md).

    python experiments/bench_levers.py [--repeat 7] [--threads N]

Each row times the code as it is against the alternative it replaced (or would have
needed), on the shapes of the MNIST conditional GAN at minibatch 100, best of --repeat
blocks, in one process (NumPy, float32):

* Maxout forward: piece-major columns and pairwise maxima (nn.layers.Maxout) against
  pylearn2's unit-major columns with argmax + take_along_axis (this project until
  2026-11-22), on D's first layer (200 rows, 240 units x 5 pieces);
* the discriminator on real and generated rows: one pass over 200 rows
  (cgan.core.steps.discriminator_step) against two passes over 100 rows, forward + backward;
* the Join's concatenation of the generator's branches (100 x 200 and 100 x 1000), the
  copy that splitting the next layer's weight matrix per branch would save;
* one SGD momentum update of all the generator's parameters as nn.optim does it (fresh
  temporaries) against temporaries in reused buffers (tried, measured no faster here, and
  not kept);
* one Adam update of the same parameters (the `adam` preset's optimiser) as nn.optim
  does it (one reused work array per parameter) against the textbook expression with
  fresh temporaries;
* the weight gradients of one iteration's largest layers, ``dW += x^T dz`` as nn's
  ``_affine_backward`` writes it (a product into a fresh array, then an add) against BLAS
  ``sgemm`` with beta = 1 accumulating into dW in place (``scipy.linalg.blas``; dW is
  C-ordered, so the product is written as ``dW^T += dz^T x`` into its F-ordered transpose).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def best_ms(fn, repeat: int, inner: int = 20) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - start) / inner)
    return 1000.0 * best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)

    import numpy as np

    import nn
    from cgan.core.noise import one_hot
    from cgan.models.mnist import ModelConfig, build_pair

    b = nn.get_backend("numpy", seed=0)
    rows = []

    # Maxout forward
    z = b.uniform((200, 1200))
    units, pieces = 240, 5

    def unit_major():
        z3 = z.reshape(200, units, pieces)
        winner = z3.argmax(axis=2)
        mask = np.arange(pieces) == winner[:, :, None]
        return np.take_along_axis(z3, winner[:, :, None], axis=2)[:, :, 0], mask

    layer = nn.Maxout(784, units, pieces, b)

    def piece_major():  # the body of Maxout.forward after its matrix product
        zz = z.reshape(200, pieces, units)
        y = zz[:, 0].copy()
        for p in range(1, pieces):
            np.maximum(y, zz[:, p], out=y)
        mask = zz == y[:, None, :]
        taken = mask[:, 0].copy()
        for p in range(1, pieces):
            mask[:, p] &= ~taken
            taken |= mask[:, p]
        return y, mask

    assert layer.pieces == pieces
    rows.append(("Maxout forward after the product, 200 x 240 units x 5 pieces",
                 best_ms(piece_major, args.repeat), best_ms(unit_major, args.repeat)))

    # one D pass over 200 rows against two over 100
    pair = build_pair(b, ModelConfig(model="cgan"))
    d = pair.discriminator
    x, fake = b.uniform((100, 784)), b.uniform((100, 784))
    y = one_hot(b, b.xp.arange(100) % 10, 10)

    def one_pass():
        logits, cache = pair.discriminate(np.concatenate([x, fake]), np.concatenate([y, y]))
        d.zero_grads()
        d.backward(np.ones_like(logits), cache, input_grad=False)

    def two_passes():
        l1, c1 = pair.discriminate(x, y)
        l2, c2 = pair.discriminate(fake, y)
        d.zero_grads()
        d.backward(np.ones_like(l1), c1, input_grad=False)
        d.backward(np.ones_like(l2), c2, input_grad=False)

    rows.append(("discriminator forward + backward on 100 real + 100 generated rows",
                 best_ms(one_pass, args.repeat, 5), best_ms(two_passes, args.repeat, 5)))

    # Join's concatenation
    a_branch, b_branch = b.uniform((100, 200)), b.uniform((100, 1000))
    rows.append(("Join: concatenating the generator's branches (the copy a split weight saves)",
                 best_ms(lambda: np.concatenate([a_branch, b_branch], axis=1), args.repeat), None))

    # SGD as built (fresh temporaries) against reused buffers
    g = pair.generator
    opt = nn.SGD(g.params, g.grads, lr=1e-9, momentum=0.5)
    opt.set_epoch(1)
    velocity = {k: np.zeros_like(p) for k, p in g.params.items()}
    scratch = {k: np.empty_like(p) for k, p in g.params.items()}

    def buffered():
        for key, p in g.params.items():
            v = velocity[key]
            v *= 0.5
            v -= np.multiply(g.grads[key], 1e-9, out=scratch[key])
            p += v

    rows.append(("SGD momentum update of the generator's 2.4 M parameters (alternative: reused buffers)",
                 best_ms(opt.step, args.repeat, 5), best_ms(buffered, args.repeat, 5)))

    adam = nn.Adam(g.params, g.grads, lr=1e-9)
    adam_m = {k: np.zeros_like(p) for k, p in g.params.items()}
    adam_v = {k: np.zeros_like(p) for k, p in g.params.items()}

    def adam_fresh():
        for key, p in g.params.items():
            grad, m, v = g.grads[key], adam_m[key], adam_v[key]
            m *= 0.5
            m += 0.5 * grad
            v *= 0.999
            v += 0.001 * (grad * grad)
            p -= 1e-9 * m / (np.sqrt(v) + 1e-8)

    rows.append(("Adam update of the generator's 2.4 M parameters (alternative: fresh temporaries)",
                 best_ms(adam.step, args.repeat, 5), best_ms(adam_fresh, args.repeat, 5)))

    # weight gradients: product then add, against gemm accumulating in place (beta = 1)
    from scipy.linalg import blas

    shapes = [(200, 784, 1200), (200, 290, 960), (100, 1200, 1200), (100, 1200, 784)]  # rows, n_in, n_out
    blocks = [(b.uniform((n, n_in)), b.uniform((n, n_out)), b.xp.zeros((n_in, n_out), b.dtype))
              for n, n_in, n_out in shapes]

    def product_then_add():
        for x_, dz_, dw in blocks:
            dw += x_.T @ dz_

    def gemm_in_place():
        for x_, dz_, dw in blocks:
            blas.sgemm(1.0, dz_, x_, beta=1.0, c=dw.T, trans_a=True, overwrite_c=True)

    x_, dz_, dw = blocks[0]
    dw[...] = 0
    product_then_add()
    expected = dw.copy()
    dw[...] = 0
    gemm_in_place()
    assert np.allclose(dw, expected, rtol=1e-5, atol=1e-4), "gemm with beta = 1 did not accumulate in place"
    rows.append(("weight gradients of D's two maxout layers and G's two 1200-wide layers "
                 "(alternative: sgemm with beta = 1 into dW)",
                 best_ms(product_then_add, args.repeat, 5), best_ms(gemm_in_place, args.repeat, 5)))

    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"NumPy {np.__version__}, float32, OPENBLAS_NUM_THREADS={threads}, "
          f"load average {os.getloadavg()[0]:.2f}; best of {args.repeat} blocks")
    print()
    print("| what | as built, ms | the alternative, ms | saved |")
    print("| --- | ---: | ---: | ---: |")
    for name, ours, alternative in rows:
        if alternative is None:
            print(f"| {name} | {ours:.3f} | - | - |")
        else:
            print(f"| {name} | {ours:.3f} | {alternative:.3f} | {alternative - ours:.3f} ms "
                  f"({alternative / ours:.1f}x) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
