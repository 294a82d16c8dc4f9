"""What each speed choice of nn and cgan.core buys, measured alone (docs/performance.md).

    python experiments/bench_levers.py [--repeat 7] [--rounds 5]

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
* one SGD momentum update of all the generator's parameters as nn.optim does it (in place
  by BLAS: ``scal`` and two ``axpy``, nn.blas) against the NumPy expression it replaced
  (``v *= m; v -= lr * g; p += v``: one temporary, one core);
* one Adam update of the same parameters (the `adam` preset's optimiser) as nn.optim
  does it (one reused work array per parameter) against the textbook expression with
  fresh temporaries;
* the weight gradients of one iteration's largest layers, ``dW += x^T dz``, as nn does it
  (``nn.blas.add_matmul``: ``gemm`` with beta = 1 accumulating into dW in place) against
  a product into a fresh array and an add, on the same BLAS;
* D's first product on generated digits whose dark pixels are 0 (``nn.Sigmoid``'s floor)
  against the same with 2 % of the pixels subnormal (1e-39), as a saturated generator's
  sigmoid left them before the floor;
* the whole conditional MNIST iteration of ``cgan bench`` (D step and G step, the paper
  preset's SGD), as built (every product and update through nn.blas, on SciPy's BLAS)
  against ``nn.blas.expressions_only()`` (the plain NumPy expressions: products on
  NumPy's BLAS, ``+=`` and SGD's temporaries): each in a process of its own, the two
  alternated for ``--rounds`` rounds, median ms per iteration. Two processes, because
  in one the idle threads of whichever BLAS ran last keep spinning into the other's turn.
"""

from __future__ import annotations

import argparse
import contextlib
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


def iteration_worker(plain: bool, iterations: int) -> float:
    """ms per iteration of cgan bench's conditional iteration, in this process."""
    import nn
    from cgan.experiments.mnist.bench import OursIteration

    it = OursIteration("cgan", "numpy")
    with nn.blas.expressions_only() if plain else contextlib.nullcontext():
        it.run(10)
        start = time.perf_counter()
        it.run(iterations)
        return 1000.0 * (time.perf_counter() - start) / iterations


def whole_iteration(rounds: int, iterations: int = 40) -> tuple[float, float]:
    """Median ms per iteration as built and with expressions only, alternated."""
    import statistics
    import subprocess

    times = {False: [], True: []}
    for _ in range(rounds):
        for plain in (False, True):
            out = subprocess.run([sys.executable, __file__, "--iteration-worker",
                                  "plain" if plain else "built", "--iterations", str(iterations)],
                                 check=True, capture_output=True, text=True).stdout
            times[plain].append(float(out.split()[-1]))
    return statistics.median(times[False]), statistics.median(times[True])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds of the whole-iteration comparison (0: skip it)")
    parser.add_argument("--iteration-worker", choices=("built", "plain"), help=argparse.SUPPRESS)
    parser.add_argument("--iterations", type=int, default=40, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.iteration_worker:
        print(f"{iteration_worker(args.iteration_worker == 'plain', args.iterations):.4f}")
        return 0

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

    # SGD as built (in place, by BLAS) against the NumPy expression
    g = pair.generator
    opt = nn.SGD(g.params, g.grads, lr=1e-9, momentum=0.5)
    opt.set_epoch(1)
    velocity = {k: np.zeros_like(p) for k, p in g.params.items()}

    def numpy_expression():
        for key, p in g.params.items():
            v = velocity[key]
            v *= 0.5
            v -= 1e-9 * g.grads[key]
            p += v

    rows.append(("SGD momentum update of the generator's 2.4 M parameters (alternative: the NumPy expression)",
                 best_ms(opt.step, args.repeat, 5), best_ms(numpy_expression, args.repeat, 5)))

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

    # weight gradients: gemm accumulating in place (beta = 1) against product then add
    shapes = [(200, 784, 1200), (200, 290, 960), (100, 1200, 1200), (100, 1200, 784)]  # rows, n_in, n_out
    blocks = [(b.uniform((n, n_in)), b.uniform((n, n_out)), b.xp.zeros((n_in, n_out), b.dtype))
              for n, n_in, n_out in shapes]

    def gemm_in_place():
        for x_, dz_, dw in blocks:
            nn.add_matmul(dw, x_.T, dz_)

    def product_then_add():
        for x_, dz_, dw in blocks:
            dw += nn.matmul(x_.T, dz_)

    rows.append(("weight gradients of D's two maxout layers and G's two 1200-wide layers "
                 "(alternative: the product into a fresh array, then +=)",
                 best_ms(gemm_in_place, args.repeat, 5), best_ms(product_then_add, args.repeat, 5)))

    # subnormal inputs: D's first product on generated digits with 2 % of the pixels
    # subnormal (as a saturated sigmoid output left them) against the same pixels at 0
    # (what nn.Sigmoid's floor gives)
    rng = np.random.default_rng(0)
    pixels = rng.random((100, 784), dtype=np.float32)
    dark = rng.random(pixels.shape) < 0.02
    floored, subnormal = pixels.copy(), pixels.copy()
    floored[dark], subnormal[dark] = 0.0, 1e-39
    w1 = d.params["0.x.1.W"]  # 784 x (240 units x 5 pieces)
    rows.append(("D's first product on 100 generated digits, 2 % of the pixels dark "
                 "(alternative: those pixels subnormal, 1e-39, instead of 0)",
                 best_ms(lambda: nn.matmul(floored, w1), args.repeat, 5),
                 best_ms(lambda: nn.matmul(subnormal, w1), args.repeat, 5)))

    if args.rounds:
        built, plain = whole_iteration(args.rounds)
        rows.append((f"the conditional MNIST iteration of cgan bench, median of {args.rounds} rounds "
                     "(alternative: nn.blas.expressions_only())", built, plain))

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
