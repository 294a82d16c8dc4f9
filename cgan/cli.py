"""The ``cgan`` command line."""

from __future__ import annotations

import argparse
import json
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
    return parser


def _backend(args) -> nn.Backend:
    try:
        return nn.get_backend(args.backend, seed=args.seed)
    except nn.BackendUnavailable as exc:
        print(f"cgan: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _cmd_demo(args) -> int:
    from .demo import run_demo

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


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("cgan: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
