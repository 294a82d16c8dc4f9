"""The ``cgan`` command line: every subcommand is defined here.

    cgan train mnist / eval / sample      the MNIST experiment (cgan.experiments.mnist)
    cgan bench                            its benchmark (cgan.experiments.mnist.bench)
    cgan demo                             a 1-D GAN in seconds (cgan.experiments.toy.demo)
    cgan train-tagging / eval-tagging / tag   image tagging (cgan.experiments.tagging)
    cgan features verify | PHOTO...       image features (cgan.data.features)

Each command parses its options here and calls one function of the experiment.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import nn

from . import __version__


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _add_backend_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=["numpy", "cupy"], default="numpy",
                        help="array backend: numpy (CPU, default) or cupy (CUDA GPU)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cgan",
        description="Conditional and unconditional adversarial nets with hand-written "
                    "backward passes, on NumPy or CuPy.",
    )
    parser.add_argument("--version", action="version", version=f"cgan-numpy {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    demo = sub.add_parser("demo", help="train a tiny GAN on a 1-D Gaussian (seconds, CPU)",
                          description="Train a tiny GAN on N(4, 1.25^2) with this library and "
                                      "report how close the generated distribution gets.")
    _add_backend_options(demo)
    demo.add_argument("--steps", type=_positive_int, default=3000,
                      help="training iterations (default 3000)")
    demo.add_argument("--json", action="store_true", help="print the result as JSON")
    demo.set_defaults(func=_cmd_demo)

    train = sub.add_parser("train", help="train the MNIST adversarial nets (Table 1, Figure 2)",
                           description="Train the paper's conditional adversarial net (or the "
                                       "original GAN baseline) on MNIST.")
    train.add_argument("dataset", choices=["mnist"], help="the dataset (mnist)")
    train.add_argument("--model", choices=["cgan", "gan"], default="cgan",
                       help="cgan: conditional (default); gan: the unconditional baseline")
    train.add_argument("--preset", choices=["default", "paper", "original"], default="default",
                       help="default: the papers' networks for 30 epochs with Adam (lr 2e-4, "
                            "beta1 0.5), Gaussian noise and dropout 0.5 (docs/mnist.md); "
                            "original: the original GAN code's configuration, exactly "
                            "(simultaneous SGD updates, unit-variance uniform noise, 300 epochs); "
                            "paper: the conditional paper's text read as that code (decay "
                            "1.00004, dropout in G too, stopped when the validation "
                            "log-likelihood stops improving)")
    _add_backend_options(train)
    train.add_argument("--epochs", type=_positive_int, help="number of epochs (overrides the preset)")
    train.add_argument("--out", help="run directory (default runs/mnist-MODEL-PRESET-sSEED)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    train.add_argument("--data-dir", help="where MNIST is (or goes); default $CGAN_DATA_DIR or the user cache")
    choices = train.add_argument_group("choices the paper leaves open (see docs/mnist.md)")
    choices.add_argument("--noise", choices=["uniform01", "uniform_pm1", "uniform_unit_variance", "gaussian"],
                         help="noise distribution: U[0,1]^100, U[-1,1]^100, U[-sqrt 3, sqrt 3]^100 "
                              "(the original code's 'uniform') or N(0, I)")
    choices.add_argument("--update", choices=["alternating", "simultaneous"],
                         help="alternating: a D step, then a G step on fresh noise (Algorithm 1); "
                              "simultaneous: both gradients from one pass, one step (the original code)")
    choices.add_argument("--fake-labels", choices=["batch", "uniform"],
                         help="conditional runs: generated samples take the real minibatch's "
                              "labels, or labels drawn uniformly (the original code's extension)")
    choices.add_argument("--lr-decay", type=_decay_factor,
                         help="the learning rate is divided by this after every update "
                              "(1.000004 in the original code, 1.00004 in the conditional paper)")
    choices.add_argument("--marginal-clip", type=_marginal_clip,
                         help="G's output bias is the logit of the pixel marginals clipped to "
                              "[c, 1-c] (1e-7 in the original code)")
    choices.add_argument("--g-loss", choices=["nonsaturating", "saturating"],
                         help="generator loss: -log D(G(z)) or log(1 - D(G(z)))")
    choices.add_argument("--k", "--n-critic", dest="k_steps", type=_positive_int,
                         help="discriminator (critic) steps per generator step (default 1; 5 "
                              "with --loss wasserstein)")
    choices.add_argument("--lr", type=_positive_float, help="initial learning rate")
    wgan = train.add_argument_group("the Wasserstein GAN (see docs/minimax.md)")
    wgan.add_argument("--loss", choices=["bce", "wasserstein"],
                      help="bce: the papers' minimax game (default); wasserstein: WGAN, the "
                           "discriminator's linear output as a critic with weight clipping, "
                           "RMSProp lr 5e-5, batch 64, 5 critic steps per generator step")
    wgan.add_argument("--clip", type=_positive_float,
                      help="WGAN: clip every critic parameter to [-c, c] after each update (default 0.01)")
    wgan.add_argument("--optimizer", choices=["sgd", "adam", "rmsprop"],
                      help="optimiser of both networks (overrides the preset, or the WGAN default rmsprop)")
    wgan.add_argument("--batch-size", type=_positive_int, help="minibatch size (default 100; 64 for WGAN)")
    choices.add_argument("--g-dropout-keep", dest="g_hidden_keep", type=_probability,
                         help="keep probability of dropout on the generator's last hidden layer")
    choices.add_argument("--d-dropout-keep", dest="d_hidden_keep", type=_probability,
                         help="keep probability of dropout on the inputs of the discriminator's "
                              "later layers")
    choices.add_argument("--d-input-keep", dest="d_input_keep", type=_probability,
                         help="keep probability of dropout on the discriminator's image input "
                              "(0.8 in the original code)")
    choices.add_argument("--momentum-ramp-epochs", dest="momentum_end_epoch", type=_positive_int,
                         help="epoch at which momentum reaches its final value")
    train.add_argument("--train-limit", type=_positive_int, help=argparse.SUPPRESS)
    train.add_argument("--eval-samples", type=_positive_int, help=argparse.SUPPRESS)
    train.add_argument("--eval-valid-points", type=_positive_int, help=argparse.SUPPRESS)
    train.add_argument("--quiet", action="store_true", help="no progress output")
    train.set_defaults(func=_cmd_train)

    ev = sub.add_parser("eval", help="evaluate a run: Parzen log-likelihood, label accuracy, Frechet distance",
                        description="Evaluate a trained run on the MNIST test set.")
    ev.add_argument("run_dir", help="a run directory made by cgan train")
    ev.add_argument("--checkpoint", choices=["best", "latest"], default="best")
    _add_backend_options(ev)
    ev.add_argument("--data-dir", help="where MNIST is; default $CGAN_DATA_DIR or the user cache")
    ev.add_argument("--samples", type=_positive_int, default=10_000,
                    help="generator samples used as Parzen centres (default 10000)")
    ev.add_argument("--sigma-points", type=_positive_int, default=1_000,
                    help="Parzen bandwidth chosen on the first N validation images (default "
                         "1000, as the original parzen_ll.py; 10000 uses all of them)")
    ev.add_argument("--quiet", action="store_true", help="no progress output")
    ev.set_defaults(func=_cmd_eval)

    sample = sub.add_parser("sample", help="draw samples from a trained run into a PNG grid",
                            description="Draw samples from a trained run.")
    sample.add_argument("run_dir", help="a run directory made by cgan train")
    sample.add_argument("--label", type=_digit, help="the digit to condition on (conditional runs); "
                                                      "omit for one row per digit")
    sample.add_argument("-n", type=_positive_int, default=64, help="number of samples (default 64)")
    sample.add_argument("-o", "--output", help="PNG file to write (default samples.png, or none "
                                                "when --npz is given)")
    sample.add_argument("--npz", metavar="FILE",
                        help="also write the n raw samples to FILE: x (n, 784) float32 in [0, 1] "
                             "and y (n,) their labels (-1 for an unconditional run); without "
                             "--label a conditional run cycles through the labels 0-9")
    sample.add_argument("--checkpoint", choices=["best", "latest"], default="best")
    sample.add_argument("--interpolate", action="store_true",
                        help="conditional runs: write OUTPUT-labels.png (fixed noise per row, labels "
                             "0-9 across) and OUTPUT-interpolation.png (one row per label, noise "
                             "interpolated between two fixed points across)")
    sample.add_argument("--rows", type=_positive_int, default=8,
                        help="--interpolate: noise vectors in the labels figure (default 8)")
    sample.add_argument("--steps", type=_positive_int, default=10,
                        help="--interpolate: points on the noise path, ends included (default 10)")
    sample.add_argument("--spherical", action="store_true",
                        help="--interpolate: spherical (slerp) instead of linear interpolation")
    _add_backend_options(sample)
    sample.set_defaults(func=_cmd_sample)

    bench = sub.add_parser(
        "bench", help="measure the training iteration against PyTorch, Parzen and memory (docs/performance.md)",
        description="The performance benchmark: the MNIST training iteration (ours against "
                    "PyTorch, interleaved in worker processes), its FLOPs and the matrix-product "
                    "limit, the Parzen protocol, and the peak memory of a training epoch; "
                    "docs/performance.md and JSON.")
    bench.add_argument("--backend", choices=("numpy", "cupy"), default="numpy")
    bench.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    bench.add_argument("--block", type=int, default=20, help="iterations per block (default 20)")
    bench.add_argument("--pause", type=float, default=0.3, help="seconds between blocks")
    bench.add_argument("--quick", action="store_true", help="3 rounds of 5, small Parzen and memory runs")
    bench.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    bench.add_argument("--no-parzen", action="store_true")
    bench.add_argument("--no-memory", action="store_true")
    bench.add_argument("--doc", default=None,
                       help="markdown file whose section for this backend is rewritten (default: "
                            "docs/performance.md of the source checkout; '' for none)")
    bench.add_argument("--json", default=None, help="JSON output (default runs/bench/bench-BACKEND.json)")
    bench.add_argument("--quiet", action="store_true")
    bench.set_defaults(func=_cmd_bench)

    _add_tagging_subcommands(sub)
    _add_features_subcommand(sub)
    return parser


def _add_tagging_subcommands(sub) -> None:
    """train-tagging, eval-tagging and tag (docs/tagging.md)."""
    from .experiments.tagging.config import CONDITIONS, DEFAULT_VECTORS, METHODS, PRESETS

    train = sub.add_parser("train-tagging", help="train the image-tagging model (paper section 4.2)",
                           description="Train the conditional adversarial tagger (or a baseline) on MIR "
                                       "Flickr until the validation precision@10 stops improving, then "
                                       "tag the test images with the best epoch.")
    train.add_argument("--condition", choices=CONDITIONS, default="features",
                       help="features: 1280-d image features (15,677 images); labels: the 24 concept labels "
                            "(20,015 images)")
    train.add_argument("--method", choices=METHODS, default="cgan",
                       help="cgan: adversarial (default); regression: the same generator trained by MSE; "
                            "classifier: the generator's condition branch with one sigmoid per tag")
    train.add_argument("--preset", choices=sorted(PRESETS), default="default",
                       help="default: the settings chosen on validation (docs/tagging.md); paper: the "
                            "paper's SGD schedule; quick: two epochs on 2,000 images")
    train.add_argument("--quick", dest="preset", action="store_const", const="quick",
                       help="the same as --preset quick (a minute or two)")
    train.add_argument("--epochs", type=int, help="at most this many epochs (preset: 30)")
    train.add_argument("--patience", type=int,
                       help="stop after this many epochs without a better validation P@10 (preset: 3)")
    train.add_argument("--optimizer", choices=["sgd", "adam"], help="the preset's unless given")
    train.add_argument("--lr", type=float, help="initial learning rate (the preset's unless given)")
    train.add_argument("--d-keep", type=float, help="dropout keep probability in D (0.5)")
    train.add_argument("--g-keep", type=float, help="dropout keep probability in G (0.5; 1 = none)")
    train.add_argument("--g-output", choices=["linear", "unit"], help="G's last layer (preset default: unit)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--backend", choices=["numpy", "cupy"], default="numpy")
    train.add_argument("--data-dir", help="MIR Flickr directory (default: shared/mirflickr found from the "
                                          "current directory or beside the checkout)")
    train.add_argument("--features-file", help="features .npz relative to the data directory (default "
                                               "features/efficientnet_lite0_crops128.npz; the 730-image "
                                               "features/efficientnet_lite0.npz also works)")
    train.add_argument("--vectors", default=DEFAULT_VECTORS,
                       help="word vectors, a word2vec text file (default: the project's own, trained on "
                            "first use into the cache, about 1-2 minutes)")
    train.add_argument("--out", help="run directory (default runs/tagging-CONDITION-METHOD-sSEED)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its latest.npz")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=_cmd_train_tagging)
    ev = sub.add_parser("eval-tagging", help="evaluate a tagging run: precision@10, recall@10",
                        description="Generate tags for a run's test images and score them.")
    ev.add_argument("run_dir")
    ev.add_argument("--backend", choices=["numpy", "cupy"], default=None)
    ev.set_defaults(func=_cmd_eval_tagging)
    tag = sub.add_parser("tag", help="print generated tags for a photo (needs the features extra)",
                         description="Generate tags for any image with a tagging run trained on "
                                     "image features (pip install 'cgan-numpy[features]').")
    tag.add_argument("photo", nargs="+", help="image files (JPEG, PNG, ...)")
    tag.add_argument("--run", required=True, help="a run directory made by cgan train-tagging")
    tag.add_argument("--backend", choices=["numpy", "cupy"], default=None)
    tag.set_defaults(func=_cmd_tag)


def _add_features_subcommand(sub) -> None:
    """cgan features verify [DATA_DIR] | PHOTO... (docs/features.md; also python -m cgan.features)."""
    features = sub.add_parser(
        "features", help="image features of photos, or their check against the shared file (features extra)",
        description="`cgan features verify [DATA_DIR]`: the EfficientNet-Lite0 features of the "
                    "shared MIR Flickr images against the shared features file; `cgan features "
                    "PHOTO...`: the features of any images (pip install 'cgan-numpy[features]').")
    features.add_argument("what", help="'verify', or an image path")
    features.add_argument("rest", nargs="*", help="verify: [DATA_DIR]; else more image paths")
    features.add_argument("--limit", type=int, default=None, help="verify: first N images only")
    features.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    features.add_argument("--csv", default=None,
                          help="verify: also write image_id,cosine per image to this file")
    features.set_defaults(func=_cmd_features)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _probability(text: str) -> float:
    value = _positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a probability in (0, 1], got {value}")
    return value


def _decay_factor(text: str) -> float:
    value = _positive_float(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a decay factor of at least 1 (the learning "
                                         f"rate is divided by it), got {value}")
    return value


def _marginal_clip(text: str) -> float:
    value = _positive_float(text)
    if not value < 0.5:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 0.5), got {value}")
    return value


def _digit(text: str) -> int:
    if text not in [str(d) for d in range(10)]:
        raise argparse.ArgumentTypeError(f"expected a digit 0-9, got {text!r}")
    return int(text)


def _backend(args) -> nn.Backend:
    try:
        return nn.get_backend(args.backend, seed=args.seed)
    except nn.BackendUnavailable as exc:
        print(f"cgan: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _cmd_demo(args) -> int:
    from .experiments.toy.demo import run_demo

    backend = _backend(args)
    result = run_demo(backend, steps=args.steps, progress=not args.json)
    if args.json:
        print(json.dumps(result.as_dict()))
        return 0
    print(f"backend {backend.name}, seed {args.seed}, {result.steps} steps")
    print(f"data       mean {result.data_mean:6.3f}  std {result.data_std:6.3f}")
    print(f"generated  mean {result.generated_mean:6.3f}  std {result.generated_std:6.3f}")
    print(f"mean D(x) {result.d_real:.3f}, mean D(G(z)) {result.d_fake:.3f} "
          "(both tend to 0.5 as the generator matches the data)")
    return 0


def _fail(message: str, code: int = 1) -> int:
    print(f"cgan: error: {message}", file=sys.stderr)
    return code


def _load_mnist(args):
    from .data.mnist import load_mnist

    return load_mnist(args.data_dir, progress=not getattr(args, "quiet", False))


def _cmd_train(args) -> int:
    from .experiments.mnist.config import resolve_config
    from .experiments.mnist.train import new_run, resume_config, train

    wgan = "-wgan" if args.loss == "wasserstein" else ""
    out = args.out or f"runs/mnist-{args.model}{wgan}-{args.preset}-s{args.seed}"
    _backend(args)  # fails early and clearly if cupy is missing
    if args.resume:
        config = resume_config(out, epochs=args.epochs, backend=args.backend)
    else:
        config = resolve_config(
            args.model, args.preset, backend=args.backend, seed=args.seed, epochs=args.epochs,
            noise=args.noise, g_loss=args.g_loss, k_steps=args.k_steps, lr=args.lr,
            loss=args.loss, clip=args.clip, optimizer=args.optimizer, batch_size=args.batch_size,
            g_hidden_keep=args.g_hidden_keep, d_hidden_keep=args.d_hidden_keep,
            d_input_keep=args.d_input_keep, update=args.update, fake_labels=args.fake_labels,
            lr_decay=args.lr_decay, marginal_clip=args.marginal_clip,
            momentum_end_epoch=args.momentum_end_epoch, train_limit=args.train_limit,
            eval_samples=args.eval_samples, eval_valid_points=args.eval_valid_points,
            data_dir=args.data_dir,
        )
        new_run(config, out)
    splits = _load_mnist(args)
    summary = train(config, out, splits, resume=args.resume, progress=not args.quiet, prepared=True)
    print(json.dumps(summary))
    if not args.quiet:
        label = " --label 7" if config.model == "cgan" else ""
        print(f"next: cgan eval {out}    and    cgan sample {out}{label} -o samples.png")
    return 0


def _cmd_eval(args) -> int:
    from .experiments.mnist.evaluate import evaluate_run

    backend = _backend(args)
    splits = _load_mnist(args)
    result = evaluate_run(args.run_dir, backend, splits, which=args.checkpoint,
                          n_samples=args.samples, sigma_points=args.sigma_points,
                          data_dir=args.data_dir,
                          progress=not args.quiet)
    print(json.dumps(result, indent=2))
    return 0


def _cmd_sample(args) -> int:
    from .experiments.mnist.evaluate import sample_to_png

    backend = _backend(args)
    if args.interpolate:
        from .experiments.mnist.evaluate import interpolation_figures

        if args.label is not None:
            raise ValueError("--interpolate sweeps every label; leave out --label")
        result = interpolation_figures(args.run_dir, backend, output=args.output or "samples.png",
                                       which=args.checkpoint,
                                       seed=args.seed, rows=args.rows, steps=args.steps,
                                       spherical=args.spherical)
        print(result["labels"])
        print(result["interpolation"])
        return 0
    if args.npz:
        from .experiments.mnist.evaluate import sample_to_npz

        print(sample_to_npz(args.run_dir, backend, args.npz, label=args.label, n=args.n,
                            which=args.checkpoint, seed=args.seed))
        if args.output is None:
            return 0
    path = sample_to_png(args.run_dir, backend, label=args.label, n=args.n,
                         output=args.output or "samples.png", which=args.checkpoint, seed=args.seed)
    print(path)
    return 0


def _cmd_bench(args) -> int:
    from .experiments.mnist import bench

    return bench.run(args, command=" ".join(["cgan", *args.argv]))


def _cmd_train_tagging(args) -> int:
    from .experiments.tagging.config import make_config
    from .experiments.tagging.train import train_tagging

    config = make_config(args.condition, preset=args.preset, method=args.method, epochs=args.epochs,
                         patience=args.patience, optimizer=args.optimizer, lr=args.lr, d_keep=args.d_keep,
                         g_keep=args.g_keep, g_output=args.g_output, seed=args.seed, backend=args.backend,
                         data_dir=args.data_dir, features_file=args.features_file, vectors=args.vectors)
    out = args.out or f"runs/tagging-{config.condition}-{config.method}-s{config.seed}"
    results = train_tagging(config, out, progress=not args.quiet, resume=args.resume)
    print(json.dumps({k: v for k, v in results.items() if k != "predicted"}, sort_keys=True))
    print(out)
    return 0


def _cmd_eval_tagging(args) -> int:
    from .experiments.tagging.evaluate import evaluate_run

    results = evaluate_run(args.run_dir, backend=args.backend, progress=False)
    print(json.dumps({k: v for k, v in results.items() if k != "predicted"}, indent=2, sort_keys=True))
    return 0


def _cmd_tag(args) -> int:
    from .data.features import FeaturesUnavailable, ImageReadError
    from .experiments.tagging.evaluate import tag_photo

    for photo in args.photo:
        try:
            tags = tag_photo(photo, args.run, backend=args.backend)
        except (FeaturesUnavailable, ImageReadError) as exc:
            print(f"cgan: error: {exc}", file=sys.stderr)
            return 1
        print(" ".join(tags) if len(args.photo) == 1 else f"{photo}: {' '.join(tags)}")
    return 0


def _cmd_features(args) -> int:
    from .data import features
    from .data.mirflickr import MirFlickrError

    try:
        if args.threads:
            features._require()["torch"].set_num_threads(args.threads)
        if args.what == "verify":
            data_dir = args.rest[0] if args.rest else None
            result = features.verify_shared(data_dir, limit=args.limit, stream=sys.stderr)
            per_image = result.pop("per_image")
            if args.csv:
                with open(args.csv, "w") as f:
                    f.write("image_id,cosine\n")
                    f.writelines(f"{i},{c:.6f}\n" for i, c in per_image)
            for key, value in result.items():
                if key == "seconds":
                    print(f"{key}: {value:.1f}")
                else:
                    print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
            return 0
        for path in [args.what, *args.rest]:
            row = features.features_for_photo(path)
            print(path, " ".join(f"{v:.6g}" for v in row))
        return 0
    except (features.FeaturesUnavailable, features.ImageReadError, MirFlickrError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    from nn.checkpoint import CheckpointError

    from .core.loop import TrainingDiverged
    from .core.run import RunDirError
    from .data.mnist import MnistError

    try:
        return args.func(args)
    except (MnistError, RunDirError, CheckpointError, TrainingDiverged, ValueError) as exc:
        if os.environ.get("CGAN_DEBUG"):
            raise
        return _fail(str(exc))
    except KeyboardInterrupt:
        print("cgan: interrupted (the last completed epoch is checkpointed; use --resume)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
