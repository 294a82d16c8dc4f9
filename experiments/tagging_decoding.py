"""What the paper's tag rule can score: the rule fed with ideal samples.

The rule tags an image with the 10 words most common among the k = 20 nearest words of
each of its 100 generator samples. Here the samples are the word vectors of tags drawn from
a known distribution, as a generator that had learned that distribution exactly would
draw them: the tag votes of the image's 100 nearest training images (kNN, whose top 10
read directly is the kNN baseline), or the training tags' marginal distribution (the
popular baseline's). Scored on the validation images (and the test images, for the
record), for k = 1, 2, 5, 10, 20 nearest words per sample:

    python experiments/tagging_decoding.py [--condition features|labels] [--split valid|test|both]
                                           [--knn-k K]

Writes runs/tagging-exp/decoding.json (decoding-labels.json for the labels) and prints a
Markdown table (docs/tagging.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nn  # noqa: E402
from cgan.experiments.tagging import evaluate as ev  # noqa: E402
from cgan.experiments.tagging.config import make_config  # noqa: E402
from cgan.experiments.tagging.data import load_data  # noqa: E402

K_NEAREST = (1, 2, 5, 10, 20)
DRAW_SEED = 20_141_106   # the stream of the ideal draws (the conditional paper's arXiv date)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--condition", choices=["features", "labels"], default="features")
    parser.add_argument("--split", choices=["valid", "test", "both"], default="both")
    parser.add_argument("--knn-k", type=int, default=None, help="neighbours of the kNN distribution (default: "
                                                              "the kNN baseline's k chosen on validation, 100 "
                                                              "for the features, 200 for the labels)")
    parser.add_argument("--n-samples", type=int, default=100)
    parser.add_argument("--out", default=None, help="default runs/tagging-exp/decoding[-labels].json")
    args = parser.parse_args(argv)
    if args.knn_k is None:
        args.knn_k = 100 if args.condition == "features" else 200
    if args.out is None:
        suffix = "" if args.condition == "features" else "-labels"
        args.out = str(ROOT / "runs" / "tagging-exp" / f"decoding{suffix}.json")
    b = nn.get_backend("numpy", seed=DRAW_SEED)
    data = load_data(make_config(args.condition, preset="default"), b)
    splits = ["valid", "test"] if args.split == "both" else [args.split]
    out = {"condition": args.condition, "knn_k": args.knn_k, "n_samples": args.n_samples, "draw_seed": DRAW_SEED, "rows": []}
    start = time.perf_counter()
    for split in splits:
        images = data.split(split)
        truth = ev.multi_hot(images.tags, len(data.vocab), b)
        knn = ev.knn_vote_distribution(data, b, args.knn_k, images)
        counts = data.train_truth(b).sum(axis=0).astype(b.xp.float64)
        marginal = b.xp.broadcast_to(counts / counts.sum(), knn.shape)
        # the baselines, which read the same distributions' top 10 directly
        for name, tags in (("kNN votes", ev.knn_tags(data, b, k=args.knn_k, images=images)),
                           ("marginal", ev.popular_tags(data, b, images=images))):
            p, r = ev.precision_recall_at_k(tags, truth, b)
            out["rows"].append({"split": split, "samples_of": name, "k_nearest": "top 10 read directly",
                                "precision@10": p, "recall@10": r})
        for name, dist in (("kNN votes", knn), ("marginal", marginal)):
            for k in K_NEAREST:
                b.reseed(DRAW_SEED)
                p, r = ev.precision_recall_at_k(ev.rule_on_draws(dist, data, b, n_samples=args.n_samples, k=k),
                                                truth, b)
                out["rows"].append({"split": split, "samples_of": name, "k_nearest": k,
                                    "precision@10": p, "recall@10": r})
    out["seconds"] = time.perf_counter() - start
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print("| split | samples drawn from | nearest words per sample | P@10 | R@10 |")
    print("|---|---|---|---|---|")
    for row in out["rows"]:
        print(f"| {row['split']} | {row['samples_of']} | {row['k_nearest']} | {row['precision@10']:.3f} | "
              f"{row['recall@10']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
