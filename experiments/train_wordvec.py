"""Train 200-d skip-gram tag vectors on MIR Flickr's all_tags.txt and show nearest neighbours.

The conditional adversarial nets paper conditioned its tagging model on 200-d skip-gram
vectors of user tags; this reproduces that step with cgan.models.wordvec (nn.Embedding tables,
negative sampling, no autograd) and writes them in word2vec's text format. Then it prints
the 8 nearest neighbours (cosine similarity) of a few tags and the intrinsic check (how
often a tag's nearest neighbour co-occurs with it), the tables in docs/wordvec.md:

    OPENBLAS_NUM_THREADS=1 python experiments/train_wordvec.py --seed 0

By default it writes the file that ``cgan train-tagging`` reads by default (the cache:
cgan.experiments.tagging.vectors), which the tagging run otherwise trains on first use.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import nn
from cgan.data.mirflickr import MirFlickrError, load_mirflickr
from cgan.experiments.tagging.vectors import WORDVEC_SETTINGS, default_vectors_path
from cgan.models.wordvec import (load_word2vec, nearest_words, neighbour_cooccurrence, save_word2vec,
                                 train_word_vectors)

QUERIES = ("sky", "dog", "sea", "flower", "night", "portrait", "car", "food")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None,
                        help="MIR Flickr directory (default $CGAN_MIRFLICKR_DIR, else ../shared/mirflickr)")
    parser.add_argument("--out", default=None,
                        help="where to write the vectors (word2vec text format; default: the file "
                             "cgan train-tagging reads by default, for the default settings)")
    parser.add_argument("--dim", type=int, default=WORDVEC_SETTINGS["dim"])
    parser.add_argument("--epochs", type=int, default=WORDVEC_SETTINGS["epochs"])
    parser.add_argument("--negatives", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--lr", type=float, default=0.025)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default="numpy", choices=("numpy", "cupy"))
    parser.add_argument("--neighbours", type=int, default=8)
    parser.add_argument("--queries", nargs="*", default=list(QUERIES))
    args = parser.parse_args(argv)

    try:
        data = load_mirflickr(args.data_dir)
    except MirFlickrError as exc:
        parser.exit(2, f"train_wordvec: {exc}\n")
    backend = nn.get_backend(args.backend, "float32", args.seed)
    start = time.perf_counter()
    vectors = train_word_vectors(data.tags, len(data.vocab), backend, dim=args.dim,
                                 negatives=args.negatives, epochs=args.epochs, batch=args.batch,
                                 lr=args.lr, seed=args.seed)
    seconds = time.perf_counter() - start
    settings = dict(dim=args.dim, epochs=args.epochs, negatives=args.negatives, batch=args.batch, lr=args.lr,
                    seed=args.seed)
    out_path = args.out or default_vectors_path(settings)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    out = save_word2vec(out_path, data.vocab, vectors)
    print(f"trained {len(data.vocab):,} x {args.dim} vectors in {seconds:.1f} s "
          f"({args.epochs} epochs, seed {args.seed}, backend {args.backend}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
          f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}); wrote {out}")

    # The table is computed from the file as written (what a later step will load).
    words, table = load_word2vec(out, vocab=data.vocab)
    host = nn.get_backend("numpy", "float32")
    index = {w: i for i, w in enumerate(words)}
    queries = [q for q in args.queries if q in index]
    for q in args.queries:
        if q not in index:
            print(f"(query {q!r} is not in the vocabulary)", file=sys.stderr)
    ids = [index[q] for q in queries]
    top, sims = nearest_words(table, table[ids], args.neighbours, host, exclude=ids)
    print()
    print("| tag | nearest tags (cosine similarity) |")
    print("| --- | --- |")
    for q, row, row_sims in zip(queries, top.tolist(), sims.tolist()):
        cells = ", ".join(f"{words[i]} {s:.2f}" for i, s in zip(row, row_sims))
        print(f"| {q} | {cells} |")
    check = neighbour_cooccurrence(table, data.tags, host)
    print(f"\nintrinsic check: for {check['words']:,} tags, the nearest other tag co-occurs with it in "
          f"some image for {check['nearest_cooccurs']:.1%} of them (a random other tag: "
          f"{check['random_cooccurs']:.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
