"""Per-epoch curves of several runs side by side: this project's metrics.jsonl against
experiments/torch_reference.py's --out file, or any runs against each other.

    python experiments/compare_curves.py runs/mnist-gan-original-s0/metrics.jsonl:ours \
        runs/torch-gan-original-s0.jsonl:PyTorch --epochs 15 \
        --figure docs/figures/mnist-gan-original-torch.png

Prints a table (epoch by epoch, each run's D(x), D(G(z)) and validation Parzen estimate)
and draws one panel per quantity. experiments/mnist_watch.py's watch.jsonl works too, e.g.
``--keys wasserstein_estimate label_acc frechet`` for a WGAN run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

KEYS = ("d_real", "d_fake", "valid_ll")
TITLES = {"d_real": "mean D(x)", "d_fake": "mean D(G(z))", "valid_ll": "validation Parzen (nats)",
          "g_loss": "G loss", "d_loss": "D loss", "within_class_std": "within-class spread",
          "wasserstein_estimate": "critic's Wasserstein estimate", "label_acc": "label accuracy",
          "frechet": "Frechet distance", "spread": "spread of samples"}


def load(spec: str, epochs: int | None) -> tuple[str, list[dict]]:
    path, _, name = spec.partition(":")
    rows = [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]
    rows = [r for r in rows if "epoch" in r and (epochs is None or r["epoch"] <= epochs)]
    return name or Path(path).parent.name, rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="FILE.jsonl[:name]")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--keys", nargs="+", default=list(KEYS))
    parser.add_argument("--figure")
    parser.add_argument("--ylim", nargs=2, type=float, metavar=("LOW", "HIGH"),
                        help="the figure's vertical range (every panel)")
    parser.add_argument("--hline", action="append", default=[], metavar="VALUE:LABEL",
                        help="a dashed reference line in the last panel, e.g. 225:'paper, GAN'")
    args = parser.parse_args(argv)
    runs = [load(spec, args.epochs) for spec in args.runs]
    header = "| epoch | " + " | ".join(f"{name} {key}" for name, _ in runs for key in args.keys) + " |"
    print(header)
    print("|" + " --- |" * (1 + len(runs) * len(args.keys)))
    epochs = sorted({r["epoch"] for _, rows in runs for r in rows})
    for epoch in epochs:
        cells = []
        for _, rows in runs:
            r = next((r for r in rows if r["epoch"] == epoch), {})
            cells += [f"{r[k]:.3f}" if isinstance(r.get(k), float) else "-" for k in args.keys]
        print(f"| {epoch} | " + " | ".join(cells) + " |")
    if args.figure:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(max(6.0, 4 * len(args.keys)), 3.2), dpi=110)
        axes = fig.subplots(1, len(args.keys), squeeze=False)[0]
        for name, rows in runs:
            for ax, key in zip(axes, args.keys):
                points = [(r["epoch"], r[key]) for r in rows if isinstance(r.get(key), (int, float))]
                if points:
                    ax.plot(*zip(*points), marker=".", label=name)
                ax.set_title(TITLES.get(key, key))
                ax.set_xlabel("epoch")
                if args.ylim:
                    ax.set_ylim(*args.ylim)
        for spec in args.hline:
            value, _, label = spec.partition(":")
            axes[-1].axhline(float(value), linestyle="--", linewidth=0.8, color="grey")
            axes[-1].annotate(label or value, (0.01, float(value)), xycoords=("axes fraction", "data"),
                              fontsize=7, va="bottom", color="grey")
        axes[-1].legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.figure)
        print(args.figure)


if __name__ == "__main__":
    main()
