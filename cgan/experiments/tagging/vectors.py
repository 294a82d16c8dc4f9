"""The word vectors a tagging run reads: a word2vec text file, or the project's own.

``vectors="default"`` (the configuration's default) is the project's 200-d skip-gram
vectors of MIR Flickr's tag lists (cgan.models.wordvec, docs/wordvec.md). They are
trained on first use, with a message, into the cache (``$CGAN_DATA_DIR/wordvec`` or
``${XDG_CACHE_HOME:-~/.cache}/cgan-numpy/wordvec``), under a name that spells out their
settings, and read from there afterwards; ``experiments/train_wordvec.py`` trains the
same file by hand. Any other value is the path of a word2vec text file.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nn

__all__ = ["WORDVEC_SETTINGS", "default_vectors_path", "resolve_vectors", "train_default_vectors"]

# The default vectors' settings (docs/wordvec.md): skip-gram with 5 negatives, every other
# tag of an image its context, minibatches of 1,024 pairs, lr 0.025 decayed linearly.
WORDVEC_SETTINGS = dict(dim=200, epochs=20, negatives=5, batch=1024, lr=0.025, seed=0)


def _cache_dir() -> Path:
    root = os.environ.get("CGAN_DATA_DIR")
    if root:
        return Path(root).expanduser() / "wordvec"
    cache = os.environ.get("XDG_CACHE_HOME")
    if not cache or not os.path.isabs(cache):
        cache = Path.home() / ".cache"
    return Path(cache) / "cgan-numpy" / "wordvec"


def default_vectors_path(settings: dict = WORDVEC_SETTINGS) -> Path:
    s = settings
    return _cache_dir() / (f"mirflickr-sgns-{s['dim']}-e{s['epochs']}-k{s['negatives']}-"
                           f"b{s['batch']}-lr{s['lr']}-s{s['seed']}.txt")


def train_default_vectors(dataset, path: Path, settings: dict = WORDVEC_SETTINGS, *, stream=None,
                          progress: bool = False) -> Path:
    """Train the default vectors on ``dataset``'s tag lists and write them to ``path``."""
    from ...models.wordvec import save_word2vec, train_word_vectors

    stream = sys.stderr if stream is None else stream
    backend = nn.get_backend("numpy", "float32", settings["seed"])
    start = time.perf_counter()
    vectors = train_word_vectors(dataset.tags, len(dataset.vocab), backend, dim=settings["dim"],
                                 negatives=settings["negatives"], epochs=settings["epochs"],
                                 batch=settings["batch"], lr=settings["lr"], seed=settings["seed"],
                                 progress=progress, stream=stream)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_word2vec(path, dataset.vocab, vectors)
    print(f"tagging: wrote {path} ({time.perf_counter() - start:.0f} s)", file=stream, flush=True)
    return path


def resolve_vectors(vectors: str, dataset, *, stream=None) -> Path:
    """The word2vec file for the configuration's ``vectors``; the default one is trained
    (about a minute and a half on one core) if the cache does not have it yet."""
    stream = sys.stderr if stream is None else stream
    if vectors == "default":
        path = default_vectors_path()
        if not path.is_file():
            s = WORDVEC_SETTINGS
            print(f"tagging: no word vectors at {path} yet; training them now on the "
                  f"{len(dataset.tags):,} tag lists ({s['dim']}-d skip-gram, {s['epochs']} epochs, seed "
                  f"{s['seed']}; about 1-2 minutes on one core, once; docs/wordvec.md)", file=stream, flush=True)
            train_default_vectors(dataset, path, stream=stream)
        return path
    path = Path(vectors).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"word vectors {path}: no such file (give a word2vec text file with "
                                f"--vectors, or leave --vectors out for the project's own, trained on "
                                f"first use)")
    return path
