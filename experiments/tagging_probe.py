"""What a tagging run's networks have learned, measured on the networks themselves
(docs/tagging.md, "What the numbers say"):

    python experiments/tagging_probe.py samples RUN [--which latest.npz]   # G's samples: how near a tag
    python experiments/tagging_probe.py auc RUN          # D's rankings (or a classifier's logits)
    python experiments/tagging_probe.py discriminator-alone [--d-keep 0.5] [--epochs 4]

``samples``: 50 samples of each of the first 200 validation images (the run's best.npz,
or ``--which``; noise seed 0): their length (before any scaling to unit length), the
cosine of each sample to its nearest vocabulary word, how many distinct
nearest words, the cosine of a sample to its image's mean direction, and the most common
nearest words.

``auc``: from the run's latest.npz, D's score of (tag, image) pairs ranked as an AUC:
an image's true tag against a tag drawn from the training tags' marginal distribution
(does D use the image?), against G's sample for the image, and a marginal draw against G's
sample; on 2,000 training pairs and on the first 1,000 validation images (one user tag
each). For a classifier run, the logit of the true tag against that of a marginal draw.

``discriminator-alone``: the tagging discriminator (width 0.5, Adam 2e-4, beta1 0.5, as
the default preset) trained by the core loop's ``discriminator`` rule against a frozen
generator that draws tags from the marginal distribution (the straight-through output
with the log-frequency bias and weights ~1e-9: its draws are the marginal's), so D can
only win by telling an image's true tag from a frequent one; the validation AUC after each
epoch. Seeds: 0 for everything.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import nn  # noqa: E402
from cgan.core.loop import Draw, Training, train_epoch  # noqa: E402
from cgan.core.noise import noise_sampler, sample_noise  # noqa: E402
from cgan.core.optim import Optimizers, make_optimizer  # noqa: E402
from cgan.core.steps import BCE, UPDATES  # noqa: E402
from cgan.experiments.tagging.config import make_config  # noqa: E402
from cgan.experiments.tagging.data import load_data  # noqa: E402
from cgan.experiments.tagging.evaluate import drawing_from, generator_samples  # noqa: E402
from cgan.experiments.tagging.train import build_networks, load_run  # noqa: E402


def auc(positive, negative) -> float:
    """P(a positive's score > a negative's), every pair compared."""
    a, c = np.asarray(positive).ravel(), np.asarray(negative).ravel()
    return float((a[:, None] > c[None, :]).mean())


def marginal(data) -> np.ndarray:
    counts = np.bincount(data.pair_tag, minlength=len(data.vocab)).astype(np.float64)
    return counts / counts.sum()


def probe_pairs(data, rng):
    """(split, conditions, true tags) on 2,000 training pairs and 1,000 validation images."""
    idx = rng.choice(data.n, 2000, replace=False)
    yield "train", data.train_cond[data.pair_image[idx]], data.pair_tag[idx]
    n = min(1000, len(data.valid))
    yield "valid", data.valid.cond[:n], np.array([data.valid.tags[i][0] for i in range(n)])


def cmd_samples(run: str, which: str | None = None) -> None:
    config, data, pair, b = load_run(run, which=which)
    g = b.with_seed(0)
    cond = np.repeat(data.valid.cond[:200], 50, axis=0)
    z = sample_noise(g, "gaussian", cond.shape[0], config.noise_dim)
    with drawing_from(pair.generator, g):
        raw, _ = pair.generator.forward((z, cond), False)
    print(f"{run} ({which or 'best.npz'}): median length of a sample "
          f"{np.median(np.linalg.norm(raw.astype(np.float64), axis=1)):.4g}")
    s = generator_samples(pair.generator, data.valid.cond[:200], b.with_seed(0), noise_dim=config.noise_dim,
                          n_samples=50)
    flat = s.reshape(-1, s.shape[2])
    sim = flat @ data.word_vectors.T
    best = sim.max(axis=1)
    nearest = sim.argmax(axis=1).reshape(s.shape[0], s.shape[1])
    mean_dir = s.mean(axis=1)
    mean_dir /= np.linalg.norm(mean_dir, axis=1, keepdims=True)
    print(f"cosine of a sample to its nearest word: median {np.median(best):.3f}, "
          f"10th-90th percentile {np.percentile(best, 10):.3f}-{np.percentile(best, 90):.3f}")
    print(f"distinct nearest words: {len(set(nearest.ravel().tolist()))} over all samples, "
          f"{np.mean([len(set(row.tolist())) for row in nearest]):.2f} per image (of 50 samples)")
    print(f"cosine of a sample to its image's mean direction: {np.einsum('nsd,nd->ns', s, mean_dir).mean():.4f}")
    common = Counter(nearest.ravel().tolist()).most_common(8)
    print("most common nearest words:", ", ".join(f"{data.vocab[w]} ({c})" for w, c in common))


def cmd_auc(run: str) -> None:
    config, data, pair, b = load_run(run, which="latest.npz")
    rng = np.random.default_rng(0)
    p = marginal(data)
    vectors = data.word_vectors
    for split, cond, tags in probe_pairs(data, rng):
        drawn = rng.choice(len(p), len(tags), p=p)
        if config.method == "classifier":
            logits, _ = pair.generator.forward((None, cond), False)
            rows = np.arange(len(tags))
            print(f"{split}: classifier logits, true tag vs marginal draw: AUC "
                  f"{auc(logits[rows, tags], logits[rows, drawn]):.3f}")
            continue
        true, _ = pair.discriminate(vectors[tags], cond, train=False)
        other, _ = pair.discriminate(vectors[drawn], cond, train=False)
        g = b.with_seed(0)
        z = sample_noise(g, "gaussian", len(tags), config.noise_dim)
        with drawing_from(pair.generator, g):
            fake, _ = pair.generate(z, cond, train=False)
        fake_scores, _ = pair.discriminate(fake, cond, train=False)
        print(f"{split}: D's AUC, true tag vs marginal draw {auc(true, other):.3f}, true tag vs G "
              f"{auc(true, fake_scores):.3f}, marginal draw vs G {auc(other, fake_scores):.3f}")


def cmd_discriminator_alone(d_keep: float, epochs: int) -> None:
    config = make_config("features", preset="default", d_keep=d_keep, g_irange=1e-9)
    b = nn.get_backend("numpy", seed=0)
    data = load_data(config, b)
    pair = build_networks(config, b, data)   # G: the marginal's draws (bias log-frequency, weights ~0)
    opt = Optimizers(d=make_optimizer(config, pair.discriminator), g=make_optimizer(config, pair.generator))
    training = Training(pair=pair, opt=opt, update=UPDATES["discriminator"], objective=BCE(), data=data,
                        draw=Draw(noise_sampler(b, "gaussian", config.noise_dim)), backend=b,
                        batch_size=config.batch_size)
    rng = np.random.default_rng(0)
    p = marginal(data)
    _, cond, tags = list(probe_pairs(data, rng))[1]
    drawn = rng.choice(len(p), len(tags), p=p)
    for epoch in range(1, epochs + 1):
        record = train_epoch(training, epoch)
        true, _ = pair.discriminate(data.word_vectors[tags], cond, train=False)
        other, _ = pair.discriminate(data.word_vectors[drawn], cond, train=False)
        print(f"epoch {epoch} (d_keep {d_keep}): D(x) {record['d_real']:.3f} D(G(z)) {record['d_fake']:.3f}; "
              f"validation AUC, true tag vs marginal draw {auc(true, other):.3f} "
              f"[{record['train_seconds']:.0f} s]", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    samples = sub.add_parser("samples")
    samples.add_argument("run")
    samples.add_argument("--which", help="checkpoint file in the run (default best.npz)")
    sub.add_parser("auc").add_argument("run")
    alone = sub.add_parser("discriminator-alone")
    alone.add_argument("--d-keep", type=float, default=0.5)
    alone.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args(argv)
    if args.what == "samples":
        cmd_samples(args.run, args.which)
    elif args.what == "auc":
        cmd_auc(args.run)
    else:
        cmd_discriminator_alone(args.d_keep, args.epochs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
