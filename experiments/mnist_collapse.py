"""How the conditional generator collapses, seen from the discriminator (docs/mnist.md).

Trains a preset's networks (seed 0) for a few hundred updates and, every ``--every``
updates, measures on 100 fixed noise vectors (10 per label for the conditional model),
the generator run as the discriminator sees it in training (with its dropout, if any),
the discriminator in evaluation mode:

* spread: the per-pixel standard deviation of the samples (of one label), averaged
  (real validation digits: about 0.3);
* push_cosine: the mean pairwise cosine similarity, over the 100 samples, of the
  direction D pushes each sample, d(-log D(G(z)))/dx. Near 1, D pushes every sample the
  same way, so G's step moves them together;
* saturated: among the pixels that digits use (training marginal above 0.01), the
  fraction of generated ones whose sigmoid has y (1 - y) < 1e-3, whose gradient to G is
  cut by more than 250 times;
* d_fake: mean D(G(z)) on that batch.

    OPENBLAS_NUM_THREADS=1 python experiments/mnist_collapse.py --model cgan --preset original \
        --updates 1500 --out runs/collapse-cgan-original.jsonl

With ``--plot A.jsonl B.jsonl ...`` it draws the measured curves of several runs into one
figure (``--figure``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def measure(trainer, z, y, used):
    import nn

    pair, xp = trainer.pair, trainer.backend.xp
    # The generator as the discriminator sees it in training (its dropout on, if any).
    x, _ = pair.generate(z, y, train=trainer.config.g_hidden_keep < 1)
    logits, cache = pair.discriminate(x, y, train=False)
    _, grad = nn.generator_loss(logits)
    dx = pair.discriminator.backward(grad, cache, param_grads=False)
    push = dx[0] if pair.conditional else dx  # dL/dx (a conditional D also returns dL/dy)
    unit = push / xp.maximum(xp.sqrt((push * push).sum(axis=1, keepdims=True)), 1e-30)
    n = unit.shape[0]
    cosine = (float((unit @ unit.T).sum()) - n) / (n * (n - 1))
    groups = x.reshape(10, -1, x.shape[1]) if y is not None else x[None]
    return {
        "spread": float(groups.std(axis=1).mean()),
        "push_cosine": cosine,
        "saturated": float((x[:, used] * (1 - x[:, used]) < 1e-3).mean()),
        "d_fake": float(nn.functional.sigmoid(logits).mean()),
    }


def probe(model: str, preset: str, updates: int, every: int, overrides: dict, out=None) -> list[dict]:
    from cgan.data.mnist import load_mnist
    from cgan.core.noise import one_hot, sample_noise
    from cgan.core.steps import Minibatch, discriminator_step, generator_step, simultaneous_step
    from cgan.experiments.mnist.config import resolve_config
    from cgan.experiments.mnist.train import Trainer

    config = resolve_config(model, preset, eval_samples=100, eval_valid_points=100, **overrides)
    trainer = Trainer(config, ROOT / "runs" / "collapse-probe", load_mnist(progress=False), progress=False)
    b, pair, cfg = trainer.backend, trainer.pair, config
    fixed = b.with_seed(99)
    z = sample_noise(fixed, cfg.noise, 100, pair.noise_dim)
    y = one_hot(b, b.xp.arange(100) // 10, 10) if pair.conditional else None
    n = int(trainer.data.train_x.shape[0])
    used = trainer.data.marginals > 0.01
    records = []
    order, epoch, position = None, 0, n
    for update in range(updates + 1):
        if update % every == 0:
            record = {"update": update, **measure(trainer, z, y, used)}
            records.append(record)
            print(json.dumps(record), flush=True)
            if out:
                with open(out, "a") as f:
                    f.write(json.dumps({"model": model, "preset": preset, "overrides": overrides,
                                        **record}) + "\n")
        if update == updates:
            break
        if position + cfg.batch_size > n:
            epoch += 1
            trainer.opt.set_epoch(epoch)
            order, position = b.xp.argsort(b.uniform((n,))), 0
        idx = order[position:position + cfg.batch_size]
        position += cfg.batch_size
        x = trainer.data.train_batch(idx, b.dtype)
        labels = one_hot(b, trainer.data.train_y[idx], 10) if pair.conditional else None
        noise = sample_noise(b, cfg.noise, cfg.batch_size, pair.noise_dim)
        fake_labels = trainer.draw.generated_condition(labels)
        objective = cfg.objective()
        if cfg.update == "simultaneous":
            simultaneous_step(pair, trainer.opt, Minibatch(x, labels, noise, fake_labels), objective)
        else:
            discriminator_step(pair, trainer.opt, Minibatch(x, labels, noise, fake_labels), objective)
            noise = sample_noise(b, cfg.noise, cfg.batch_size, pair.noise_dim)
            fake_labels = trainer.draw.generated_condition(labels)
            generator_step(pair, trainer.opt, Minibatch(x, labels, noise, fake_labels), objective)
    return records


def plot(paths: list[str], figure: str) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 3.2), dpi=110)
    axes = fig.subplots(1, 4)
    for path in paths:
        rows = [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]
        label = Path(path).stem.replace("collapse-", "")
        u = [r["update"] for r in rows]
        for ax, key in zip(axes, ("spread", "push_cosine", "saturated", "d_fake")):
            ax.plot(u, [r[key] for r in rows], label=label)
            ax.set_title(key)
            ax.set_xlabel("update")
    axes[0].set_yscale("log")
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(figure)
    print(figure)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["cgan", "gan"], default="cgan")
    parser.add_argument("--preset", default="original")
    parser.add_argument("--updates", type=int, default=1500)
    parser.add_argument("--every", type=int, default=25)
    parser.add_argument("--set", default="{}", help="JSON overrides of the preset")
    parser.add_argument("--out", help="append the records to this JSON-lines file")
    parser.add_argument("--plot", nargs="+", help="JSON-lines files to draw instead of training")
    parser.add_argument("--figure", default="docs/figures/mnist-collapse.png")
    args = parser.parse_args(argv)
    if args.plot:
        plot(args.plot, args.figure)
        return
    probe(args.model, args.preset, args.updates, args.every, json.loads(args.set), args.out)


if __name__ == "__main__":
    main()
