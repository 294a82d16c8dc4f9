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
import math
import os
import signal
import sys
from pathlib import Path

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


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer below 2**63, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {value}")
    return value


def _png_path(text: str) -> str:
    if not text.lower().endswith(".png"):
        raise argparse.ArgumentTypeError(f"only PNG images are written: name the file .png, got {text!r}")
    return text


def _add_backend_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=["numpy", "cupy"], default="numpy",
                        help="array backend: numpy (CPU, default) or cupy (CUDA GPU)")
    parser.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")


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
    train.add_argument("--model", choices=["cgan", "gan", "dcgan", "cdcgan"], default="cgan",
                       help="cgan: conditional (default); gan: the unconditional baseline; "
                            "dcgan, cdcgan: the convolutional nets, unconditional and "
                            "conditional, with their own presets (docs/dcgan.md)")
    train.add_argument("--preset", choices=["default", "original", "paper", "adam"], default="default",
                       help="default: the original configuration for 30 epochs, with dropout in "
                            "the conditional generator and none on the discriminator's image "
                            "input (about 8.5 minutes on a 2-core CPU); "
                            "original: the original GAN code's configuration, exactly "
                            "(simultaneous SGD updates, unit-variance uniform noise, 300 epochs); "
                            "paper: the conditional paper's text read as that code (decay "
                            "1.00004, dropout in G too, stopped when the validation "
                            "log-likelihood stops improving); adam: the earlier 30-epoch recipe "
                            "with Adam and Gaussian noise (docs/mnist.md)")
    _add_backend_options(train)
    train.add_argument("--epochs", type=_positive_int, help="number of epochs (overrides the preset)")
    train.add_argument("--out", help="run directory (default runs/mnist-MODEL-PRESET-sSEED)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its last checkpoint (from scratch if it "
                            "stopped before one); it may change --epochs (not below the epochs done), "
                            "--lr, --backend and --data-dir, and refuses any other option that "
                            "differs from the run's (docs/reliability.md)")
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
    wgan.add_argument("--critic-batchnorm", action="store_true", default=None,
                      help="DCGAN nets: keep the discriminator's BatchNorm in the critic, as the "
                           "WGAN code's DCGAN critic does (its scale and shift are clipped like "
                           "every critic parameter); default: the critic without BatchNorm")
    wgan.add_argument("--critic-warmup", action="store_true", default=None,
                      help="the WGAN code's critic schedule: 100 critic steps per generator step "
                           "for the first 25 generator steps and every 500th, --n-critic otherwise")
    wgan.add_argument("--batch-size", type=_positive_int, help="minibatch size (default 100; 64 for WGAN)")
    choices.add_argument("--g-dropout-keep", dest="g_hidden_keep", type=_probability,
                         help="keep probability of dropout on the generator's last hidden layer")
    choices.add_argument("--d-dropout-keep", dest="d_hidden_keep", type=_probability,
                         help="keep probability of dropout on the inputs of the discriminator's "
                              "later layers")
    choices.add_argument("--d-input-keep", dest="d_input_keep", type=_probability,
                         help="keep probability of dropout on the discriminator's image input "
                              "(0.8 in the original code)")
    choices.add_argument("--d-condition", choices=["planes", "projection"],
                         help="conditional DCGAN: the discriminator reads the label as ten planes "
                              "beside the image, or by projection (the label's learned "
                              "embedding dotted with D's last features; docs/dcgan.md)")
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
    ev.add_argument("--generator-dropout", action="store_true",
                    help="sample with the generator's dropout on, as in training: the distribution "
                         "the discriminator was trained against (runs whose generator has dropout)")
    ev.add_argument("--quiet", action="store_true", help="no progress output")
    ev.set_defaults(func=_cmd_eval)

    sample = sub.add_parser("sample", help="draw samples from a trained run into a PNG grid",
                            description="Draw samples from a trained run.")
    sample.add_argument("run_dir", help="a run directory made by cgan train")
    sample.add_argument("--label", type=_digit, help="the digit to condition on (conditional runs); "
                                                      "omit for one row per digit")
    sample.add_argument("-n", type=_positive_int, default=64,
                        help="number of samples (default 64); without --label a conditional run "
                             "gives one row per digit, ceil(N/10) samples each, N in all")
    sample.add_argument("-o", "--output", type=_png_path,
                        help="PNG file to write (default samples.png, or none when --npz is given)")
    sample.add_argument("--npz", metavar="FILE",
                        help="also write the n raw samples to FILE: x (n, 784) float32 in [0, 1] "
                             "and y (n,) their labels (-1 for an unconditional run); without "
                             "--label a conditional run cycles through the labels 0-9")
    sample.add_argument("--checkpoint", choices=["best", "latest"], default="best")
    sample.add_argument("--generator-dropout", action="store_true",
                        help="sample with the generator's dropout on, as in training: the distribution "
                         "the discriminator was trained against (runs whose generator has dropout)")
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
    bench.add_argument("--rounds", type=_positive_int, default=15, help="interleaved rounds (default 15)")
    bench.add_argument("--block", type=_positive_int, default=20, help="iterations per block (default 20)")
    bench.add_argument("--pause", type=_non_negative_float, default=0.3, help="seconds between blocks")
    bench.add_argument("--quick", action="store_true", help="3 rounds of 5, small Parzen and memory runs")
    bench.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    bench.add_argument("--models", type=_bench_models, default="cgan,gan,dcgan,cdcgan",
                       help="comma-separated iterations to measure (default cgan,gan,dcgan,cdcgan; "
                            "the DCGANs at their preset's minibatch 64 with Adam, docs/dcgan.md)")
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
    train.add_argument("--epochs", type=_positive_int, help="at most this many epochs (preset: 30)")
    train.add_argument("--patience", type=_positive_int,
                       help="stop after this many epochs without a better validation P@10 (preset: 3)")
    train.add_argument("--optimizer", choices=["sgd", "adam"], help="the preset's unless given")
    train.add_argument("--lr", type=_positive_float, help="initial learning rate (the preset's unless given)")
    train.add_argument("--d-keep", type=_probability, help="dropout keep probability in D (0.5)")
    train.add_argument("--g-keep", type=_probability, help="dropout keep probability in G (0.5; 1 = none)")
    train.add_argument("--g-output", choices=["linear", "unit", "vocab", "gumbel", "gumbel_hard"],
                       help="G's last layer: linear (the paper's); unit (scaled to unit length); vocab (a "
                            "softmax-weighted mean of the word vectors); gumbel (a Gumbel-softmax draw of "
                            "one word's vector); gumbel_hard (exactly the drawn word's vector, "
                            "straight-through) (the preset's unless given)")
    train.add_argument("--g-estimator", choices=["straight_through", "score"],
                       help="with --g-output gumbel_hard, G's update: straight_through (D's gradient at the "
                            "drawn word, the default) or score (the score-function estimate from D's scores)")
    train.add_argument("--temperature", type=_positive_float,
                       help="the softmax temperature of the vocab and gumbel outputs (the preset's, or 1)")
    train.add_argument("--seed", type=_seed, default=0)
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
    ev.add_argument("--k-nearest", type=_positive_int, default=None,
                    help="nearest words per sample in the tag rule (default: the run's; the paper's is 20)")
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
    features.add_argument("--limit", type=_positive_int, default=None, help="verify: first N images only")
    features.add_argument("--threads", type=_positive_int, default=None, help="torch CPU threads")
    features.add_argument("--csv", default=None,
                          help="verify: also write image_id,cosine per image to this file")
    features.set_defaults(func=_cmd_features)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
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


def _bench_models(text: str) -> list[str]:
    models = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in models if m not in ("cgan", "gan", "dcgan", "cdcgan")]
    if unknown or not models:
        raise argparse.ArgumentTypeError(f"expected models among cgan, gan, dcgan, cdcgan, got {text!r}")
    return models


def _digit(text: str) -> int:
    if text not in [str(d) for d in range(10)]:
        raise argparse.ArgumentTypeError(f"expected a digit 0-9, got {text!r}")
    return int(text)


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``): handled as Ctrl-C is, so that files being written are cleaned up."""


def _check_backend(name: str | None, seed: int = 0) -> nn.Backend | None:
    """The backend, or exit with a message when it cannot be used (CuPy missing)."""
    if name is None:
        return None
    try:
        return nn.get_backend(name, seed=seed)
    except nn.BackendUnavailable as exc:
        print(f"cgan: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _backend(args) -> nn.Backend:
    return _check_backend(args.backend, args.seed)


def _absolute(path: str | None) -> str | None:
    """A path given on the command line, made absolute: a run records it in config.json,
    and is later used from other directories."""
    return None if path is None else os.path.abspath(os.path.expanduser(path))


def _after(exc: BaseException, line: str) -> None:
    """Attach a line for main to print after the exception's message."""
    try:
        exc._cgan_after = line
    except AttributeError:
        pass


def _state_line(out, command: str, resumable: bool = True) -> str | None:
    """Where a run directory stands after a failure, and what to do."""
    from .core.run import run_status

    try:
        status = run_status(out)
    except Exception:  # noqa: BLE001: the directory cannot even be read; the error says why
        return None
    return f"{status.describe()}; {status.advice(command, resumable=resumable)}"


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


def _load_mnist(data_dir, quiet: bool = False):
    from .data.mnist import load_mnist

    return load_mnist(data_dir, progress=not quiet)


# Options of `cgan train mnist` that are not configuration keys of the run.
_TRAIN_COMMAND_ONLY = {"dataset", "out", "resume", "quiet"}


def _option_names(parser: argparse.ArgumentParser) -> dict:
    """dest -> the option's name as the help shows it (``k_steps`` -> ``--k``)."""
    return {a.dest: (a.option_strings[0] if a.option_strings else a.dest) for a in parser._actions}


def _resume_changes(args, config_fields) -> dict:
    """The options given on the command line of a resume, as configuration changes; an
    option that is not a configuration key (and not --out, --resume, --quiet) is refused."""
    given = args.given - _TRAIN_COMMAND_ONLY
    unknown = sorted(given - set(config_fields))
    if unknown:
        names = _option_names(args.subparser)
        raise ValueError(f"--resume does not take {', '.join(names.get(d, d) for d in unknown)}: it "
                         "continues the run as config.json records it")
    order = [a.dest for a in args.subparser._actions]   # as --help lists them
    changes = {dest: getattr(args, dest) for dest in sorted(given, key=order.index)}
    if "data_dir" in changes:
        changes["data_dir"] = _absolute(changes["data_dir"])
    return changes


def _cmd_train(args) -> int:
    from dataclasses import fields

    from .core.run import FINISHED, NEW, NOT_A_RUN, RunDirError, run_lock, run_status
    from .data.mnist import N_TRAIN
    from .experiments.mnist.config import TrainConfig, resolve_config
    from .experiments.mnist.train import new_run, resume_config, train

    wgan = "-wgan" if args.loss == "wasserstein" else ""
    out = args.out or f"runs/mnist-{args.model}{wgan}-{args.preset}-s{args.seed}"
    command = f"cgan train mnist --out {out}"
    if "backend" in args.given or not args.resume:
        _backend(args)  # fails early and clearly if cupy is missing
    status = run_status(out)
    # before the lock, which would create a file (and the directory) there
    if status.state == NOT_A_RUN:
        raise RunDirError(f"{status.describe()}: choose another --out")
    if args.resume and status.state == NEW:
        raise RunDirError(f"nothing to resume in {out}: {status.detail}; run the same command "
                          "without --resume to start it")
    if args.resume:
        changes = _resume_changes(args, [f.name for f in fields(TrainConfig)])
        config = None
    else:
        config = resolve_config(
            args.model, args.preset, backend=args.backend, seed=args.seed, epochs=args.epochs,
            noise=args.noise, g_loss=args.g_loss, k_steps=args.k_steps, lr=args.lr,
            loss=args.loss, clip=args.clip, optimizer=args.optimizer, batch_size=args.batch_size,
            g_hidden_keep=args.g_hidden_keep, d_hidden_keep=args.d_hidden_keep,
            d_input_keep=args.d_input_keep, update=args.update, fake_labels=args.fake_labels,
            lr_decay=args.lr_decay, marginal_clip=args.marginal_clip,
            momentum_end_epoch=args.momentum_end_epoch, d_condition=args.d_condition,
            critic_batchnorm=args.critic_batchnorm, critic_warmup=args.critic_warmup,
            train_limit=args.train_limit,
            eval_samples=args.eval_samples, eval_valid_points=args.eval_valid_points,
            data_dir=_absolute(args.data_dir),
        )
        n_train = min(config.train_limit or N_TRAIN, N_TRAIN)
        if config.batch_size > n_train:
            raise ValueError(f"--batch-size {config.batch_size} is larger than the {n_train} training images")
    with run_lock(out):
        if args.resume:
            config = resume_config(out, changes=changes, option_names=_option_names(args.subparser))
            if status.state == FINISHED and config.epochs <= status.epoch:
                print(f"cgan: {status.describe()}: nothing to train (pass --epochs N above "
                      f"{status.epoch} to train it longer)", file=sys.stderr)
                print(json.dumps(_finished_summary(out)))
                return 0
        else:
            new_run(config, out)
        try:
            splits = _load_mnist(config.data_dir, args.quiet)
            summary = train(config, out, splits, resume=args.resume, progress=not args.quiet, prepared=True)
        except BaseException as exc:
            line = _state_line(out, command)
            if line:
                _after(exc, line)
            raise
    print(json.dumps(summary))
    if not args.quiet:
        label = " --label 7" if config.conditional else ""
        print(f"next: cgan eval {out}    and    cgan sample {out}{label} -o samples.png")
    return 0


def _finished_summary(out) -> dict:
    """The summary line of a finished run, from its last checkpoint."""
    from nn.checkpoint import read_meta

    meta = read_meta(Path(out) / "latest.npz") or {}
    return {"epochs": meta.get("epoch"), "best_valid_ll": meta.get("best_valid_ll"),
            "best_epoch": meta.get("best_epoch"), "seconds": meta.get("seconds"), "run_dir": str(out)}


def _cmd_eval(args) -> int:
    from .experiments.mnist.evaluate import evaluate_run
    from .experiments.mnist.train import checkpoint_path, load_config

    backend = _backend(args)
    config = load_config(args.run_dir)
    checkpoint_path(args.run_dir, args.checkpoint)  # a run without one fails before MNIST loads
    data_dir = _absolute(args.data_dir) or config.data_dir
    splits = _load_mnist(data_dir, args.quiet)
    not_written: list = []
    result = evaluate_run(args.run_dir, backend, splits, which=args.checkpoint,
                          n_samples=args.samples, sigma_points=args.sigma_points,
                          data_dir=data_dir, generator_dropout=args.generator_dropout,
                          progress=not args.quiet, write_errors=not_written)
    print(json.dumps(result, indent=2))
    for error in not_written:
        print(f"cgan: error: {error} (the results above are complete)", file=sys.stderr)
    return 1 if not_written else 0


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
                            which=args.checkpoint, seed=args.seed,
                            generator_dropout=args.generator_dropout))
        if args.output is None:
            return 0
    path = sample_to_png(args.run_dir, backend, label=args.label, n=args.n,
                         output=args.output or "samples.png", which=args.checkpoint, seed=args.seed,
                         generator_dropout=args.generator_dropout)
    print(path)
    return 0


def _cmd_bench(args) -> int:
    from .experiments.mnist import bench

    return bench.run(args, command=" ".join(["cgan", *args.argv]))


def _cmd_train_tagging(args) -> int:
    from .core.run import NOT_A_RUN, RunDirError, run_lock, run_status
    from .experiments.tagging.config import DEFAULT_VECTORS, make_config
    from .experiments.tagging.train import train_tagging

    _check_backend(args.backend, args.seed)
    vectors = args.vectors
    if vectors != DEFAULT_VECTORS:  # the project's own vectors are trained on first use
        vectors = _absolute(vectors)
        if not Path(vectors).is_file():
            raise RunDirError(f"word vectors {vectors}: no such file. Pass --vectors FILE (word2vec "
                              "text format), or leave --vectors out to use the project's own (trained on "
                              "first use; `python experiments/train_wordvec.py` makes them by hand, "
                              "docs/wordvec.md)")
    config = make_config(args.condition, preset=args.preset, method=args.method, epochs=args.epochs,
                         patience=args.patience, optimizer=args.optimizer, lr=args.lr, d_keep=args.d_keep,
                         g_keep=args.g_keep, g_output=args.g_output, temperature=args.temperature,
                         g_estimator=args.g_estimator, seed=args.seed, backend=args.backend,
                         data_dir=_absolute(args.data_dir), features_file=args.features_file, vectors=vectors)
    out = args.out or f"runs/tagging-{config.condition}-{config.method}-s{config.seed}"
    command = f"cgan train-tagging --out {out}"
    status = run_status(out)
    if status.state == NOT_A_RUN:
        raise RunDirError(f"{status.describe()}: choose another --out")
    with run_lock(out):
        try:
            results = train_tagging(config, out, progress=not args.quiet, resume=args.resume)
        except BaseException as exc:
            if not isinstance(exc, RunDirError):
                line = _state_line(out, command, resumable=True)
                if line:
                    _after(exc, line)
            raise
    print(json.dumps({k: v for k, v in results.items() if k != "predicted"}, sort_keys=True))
    print(out)
    return 0


def _cmd_eval_tagging(args) -> int:
    from .experiments.tagging.evaluate import evaluate_run

    _check_backend(args.backend)
    results = evaluate_run(args.run_dir, backend=args.backend, progress=False, k_nearest=args.k_nearest)
    print(json.dumps({k: v for k, v in results.items() if k != "predicted"}, indent=2, sort_keys=True))
    return 0


def _cmd_tag(args) -> int:
    from .data.features import FeaturesUnavailable, ImageReadError
    from .experiments.tagging.evaluate import tag_photo

    _check_backend(args.backend)
    for photo in args.photo:
        try:
            tags = tag_photo(photo, args.run, backend=args.backend)
        except (FeaturesUnavailable, ImageReadError) as exc:
            print(f"cgan: error: {exc}", file=sys.stderr)
            return 1
        print(" ".join(tags) if len(args.photo) == 1 else f"{photo}: {' '.join(tags)}")
    return 0


def _cmd_features(args) -> int:
    from nn.fileio import atomic_write

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
                with atomic_write(args.csv, "w") as f:
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


def _explicit(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The destinations of the options given on the command line (not left at a default)."""
    actions = [(a, a.default) for a in parser._actions]
    defaults = dict(parser._defaults)
    try:
        for action, _ in actions:
            action.default = argparse.SUPPRESS
        parser._defaults.clear()
        namespace, _ = parser.parse_known_args(argv)
    finally:
        for action, default in actions:
            action.default = default
        parser._defaults.update(defaults)
    return set(vars(namespace))


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    args.subparser = sub.choices[args.command]
    args.given = _explicit(args.subparser, argv[argv.index(args.command) + 1:])
    from nn.checkpoint import CheckpointError
    from nn.fileio import describe_os_error

    from .core.loop import TrainingDiverged
    from .core.run import RunDirError
    from .data.mnist import MnistError

    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread: SIGTERM keeps its default
        pass
    try:
        return args.func(args)
    except KeyboardInterrupt as exc:
        after = getattr(exc, "_cgan_after", None)
        what = "terminated" if isinstance(exc, Terminated) else "interrupted"
        print(f"cgan: {what}" + (f"; {after}" if after else ""), file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    except nn.BackendUnavailable as exc:  # a resumed run's recorded backend
        return _fail(str(exc), 2)
    except (MnistError, RunDirError, CheckpointError, TrainingDiverged, ValueError, OSError) as exc:
        if os.environ.get("CGAN_DEBUG"):
            raise
        code = _fail(describe_os_error(exc) if isinstance(exc, OSError) else str(exc))
        after = getattr(exc, "_cgan_after", None)
        if after:
            print(f"cgan: {after}", file=sys.stderr)
        return code
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
