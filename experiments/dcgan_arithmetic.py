"""The DCGAN paper's noise arithmetic on a trained MNIST run (cgan.experiments.mnist.arithmetic).

    python experiments/dcgan_arithmetic.py runs/mnist-cdcgan-default-s0 --digit 7 -o arithmetic.png

Draws ``--n`` samples of one digit, averages the noise of the ``--k`` thickest, thinnest
and most slanted, draws ``thin - thick + slanted`` (and, for a conditional run, every
style with each label 0-9) and the interpolations between them, and prints the measured
ink and slant of each average's image (docs/dcgan.md). Any run works, the MLPs' too; an
unconditional run picks its digit's samples with the project's MNIST classifier.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv=None) -> int:
    import nn
    from cgan.experiments.mnist.arithmetic import noise_arithmetic
    from cgan.experiments.mnist.train import load_config

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--digit", type=int, default=7)
    parser.add_argument("--n", type=int, default=2000, help="samples drawn (default 2000)")
    parser.add_argument("--k", type=int, default=3, help="samples per style (default 3, as the paper)")
    parser.add_argument("--steps", type=int, default=8, help="points per interpolation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", choices=["best", "latest"], default="best")
    parser.add_argument("--data-dir", default=None, help="the classifier's cache (unconditional runs)")
    parser.add_argument("-o", "--output", default="arithmetic.png")
    args = parser.parse_args(argv)

    backend = nn.get_backend("numpy", seed=args.seed)
    classifier = None
    if not load_config(args.run_dir).conditional:
        from cgan.data.mnist import default_data_dir, load_mnist
        from cgan.evaluation.classifier import load_or_train_classifier

        cache = Path(args.data_dir) if args.data_dir else default_data_dir()
        classifier, _ = load_or_train_classifier(backend, load_mnist(args.data_dir, progress=False), cache)
    report = noise_arithmetic(args.run_dir, backend, digit=args.digit, n=args.n, k=args.k,
                              steps=args.steps, seed=args.seed, output=args.output,
                              which=args.checkpoint, classifier=classifier)
    for name, values in report["averages"].items():
        print(f"{name:>24}: ink {values['ink']:.3f}  slant {values['slant']:+.3f}")
    print(json.dumps(report["paths"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
