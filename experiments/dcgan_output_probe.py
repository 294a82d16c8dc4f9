"""What a DCGAN generator's last layer does: the figures behind docs/dcgan.md's account of
the Wasserstein runs' grey blobs.

For each run, on 200 samples (noise from seed 0, labels 0-9 in turn), evaluation mode:
the share of positive weights in G's last transposed convolution, its bias, the largest
pixel, and the share of pixels above 0.9 (real MNIST digits: about 9 %).

    python experiments/dcgan_output_probe.py runs/mnist-cdcgan-wgan-bn-s0 runs/mnist-cdcgan-default-s0
"""

from __future__ import annotations

import argparse
import json


def probe(run_dir: str, which: str = "latest", n: int = 200) -> dict:
    import nn
    from cgan.core.noise import one_hot
    from cgan.experiments.mnist.train import load_pair

    b = nn.get_backend("numpy", seed=0)
    _, pair, meta = load_pair(run_dir, b, which)
    last = next(layer for layer in reversed(pair.generator.layers) if isinstance(layer, nn.ConvTranspose2d))
    z = b.normal((n, pair.noise_dim))
    y = one_hot(b, b.xp.arange(n) % 10, 10) if pair.conditional else None
    pixels, _ = pair.generate(z, y, train=False)
    W = b.to_numpy(last.params["W"])
    return {"run": str(run_dir), "epoch": int(meta["epoch"]),
            "last_layer_positive_weights": round(float((W > 0).mean()), 3),
            "last_layer_bias": float(b.to_numpy(last.params["b"])[0]),
            "max_pixel": round(float(pixels.max()), 3),
            "pixels_above_0.9": round(float((pixels > 0.9).mean()), 4)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--checkpoint", choices=["best", "latest"], default="latest")
    args = parser.parse_args(argv)
    for run in args.runs:
        print(json.dumps(probe(run, args.checkpoint)))


if __name__ == "__main__":
    main()
