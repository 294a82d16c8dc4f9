"""The tagging experiment's data on the device: MIR Flickr split by image into train,
validation and test, (image, tag) pairs, standardised features, unit word vectors."""

from __future__ import annotations

from dataclasses import dataclass, field

import nn
from nn.backend import Backend

from ...core.loop import Dataset
from .config import CONDITIONS, TaggingConfig

__all__ = ["Images", "TaggingData", "ImageRows", "prepare_data", "load_data"]


@dataclass
class Images:
    """One held-out split's images (validation or test): their conditions on the device,
    their dataset rows, tags (vocabulary indices), image ids and paths."""

    cond: object
    rows: list
    tags: list
    image_ids: list
    image_paths: list

    def __len__(self) -> int:
        return len(self.rows)


@dataclass
class TaggingData(Dataset):
    """One condition's split, on the device. Rows are dataset rows (images); what the core
    loop reads (``n``, ``rows``) are the training (image, tag) pairs."""

    vocab: list
    word_vectors: object      # (V, d) unit rows
    train_cond: object        # (n_train, c)
    pair_image: object        # (n_pairs,) index into train_cond
    pair_tag: object          # (n_pairs,) vocabulary index
    train_rows: list
    train_tags: list          # per training image, vocabulary indices
    valid: Images
    test: Images
    cond_mean: object = None  # host (c,) standardisation of the features condition
    cond_std: object = None
    features_file: str | None = None
    instance_noise: tuple | None = None   # (backend, sigma): noise added to the real vectors
    _train_truth: object = field(default=None, repr=False)

    # what the core loop reads (cgan.core.loop.Dataset): the training pairs
    @property
    def n(self) -> int:
        return int(self.pair_tag.shape[0])

    def rows(self, idx):
        """(x, y) of training pairs ``idx``: their tags' word vectors (plus instance noise,
        where a run set it), their images' conditions."""
        x = self.word_vectors[self.pair_tag[idx]]
        if self.instance_noise is not None:
            backend, sigma = self.instance_noise
            x = x + backend.dtype.type(sigma) * backend.normal(x.shape)
        return x, self.train_cond[self.pair_image[idx]]

    def split(self, name: str) -> Images:
        if name not in ("valid", "test"):
            raise ValueError(f"split must be 'valid' or 'test', got {name!r}")
        return getattr(self, name)

    # the names of earlier versions
    test_cond = property(lambda self: self.test.cond)
    test_rows = property(lambda self: self.test.rows)
    test_tags = property(lambda self: self.test.tags)
    test_image_ids = property(lambda self: self.test.image_ids)
    test_image_paths = property(lambda self: self.test.image_paths)

    def train_truth(self, backend: Backend):
        """(n_train, V) 0/1 matrix of the training images' tags (made once)."""
        if self._train_truth is None:
            self._train_truth = multi_hot(self.train_tags, len(self.vocab), backend)
        return self._train_truth


class ImageRows(Dataset):
    """The training images as the classifier's rows: (their multi-hot tags, their condition)."""

    def __init__(self, data: TaggingData, backend: Backend):
        self.truth = data.train_truth(backend)
        self.cond = data.train_cond

    @property
    def n(self) -> int:
        return int(self.cond.shape[0])

    def rows(self, idx):
        return self.truth[idx], self.cond[idx]


def multi_hot(tag_lists, n_words: int, backend: Backend):
    """(len(tag_lists), n_words) 0/1 matrix in the backend's dtype."""
    xp = backend.xp
    rows = [i for i, tags in enumerate(tag_lists) for _ in tags]
    cols = [t for tags in tag_lists for t in tags]
    m = backend.zeros((len(tag_lists), n_words))
    if rows:
        m[xp.asarray(rows), xp.asarray(cols)] = 1
    return m


def _host() -> Backend:
    return nn.get_backend("numpy", seed=0)


def prepare_data(dataset, vectors, condition: str, backend: Backend, *, split_seed: int = 0,
                 train_limit: int | None = None, features_file: str | None = None) -> TaggingData:
    """Split by image (split_rows: 80/10/10), standardise features, normalise word vectors,
    make pairs.

    ``dataset`` is a :class:`cgan.data.mirflickr.MirFlickr`; ``vectors`` (V, d) host
    word vectors aligned to ``dataset.vocab``. Validation and test images without tags
    are dropped (the list files have none).
    """
    from ...data.mirflickr import split_rows, tag_pairs

    hxp = _host().xp
    if condition == "features":
        available = hxp.asarray(dataset.feature_rows, dtype=hxp.int64)
        table = dataset.features
    elif condition == "labels":
        available = hxp.arange(len(dataset), dtype=hxp.int64)
        table = dataset.labels
    else:
        raise ValueError(f"condition must be one of {', '.join(CONDITIONS)}, got {condition!r}")
    if len(available) < 3:
        raise ValueError(f"only {len(available)} images have the {condition} condition")
    split = split_rows(len(available), seed=split_seed)   # positions into `available`
    has_tags = hxp.asarray([bool(dataset.tags[r]) for r in available.tolist()])
    positions = {name: split[name][has_tags[split[name]]] for name in ("train", "valid", "test")}
    if train_limit is not None:
        positions["train"] = positions["train"][:train_limit]
    conds = {name: table[pos].astype(hxp.float32) for name, pos in positions.items()}
    mean = std = None
    if condition == "features":
        mean = conds["train"].mean(axis=0)
        std = hxp.maximum(conds["train"].std(axis=0), 1e-6)
        conds = {name: (c - mean) / std for name, c in conds.items()}
    rows = {name: available[pos].tolist() for name, pos in positions.items()}

    def images(name):
        return Images(cond=backend.asarray(conds[name]), rows=rows[name],
                      tags=[list(dataset.tags[r]) for r in rows[name]],
                      image_ids=[dataset.image_ids[r] for r in rows[name]],
                      image_paths=[dataset.image_paths[r] for r in rows[name]])

    row_index, tag_index = tag_pairs(rows["train"], dataset.tags)
    pair_image = hxp.searchsorted(hxp.asarray(rows["train"], dtype=hxp.int64), row_index)
    vec = hxp.asarray(vectors, dtype=hxp.float32)
    norms = hxp.sqrt((vec * vec).sum(axis=1, keepdims=True))
    vec = vec / hxp.maximum(norms, 1e-12)
    return TaggingData(
        vocab=list(dataset.vocab),
        word_vectors=backend.asarray(vec),
        train_cond=backend.asarray(conds["train"]),
        pair_image=backend.xp.asarray(pair_image),
        pair_tag=backend.xp.asarray(tag_index),
        train_rows=rows["train"],
        train_tags=[list(dataset.tags[r]) for r in rows["train"]],
        valid=images("valid"),
        test=images("test"),
        cond_mean=mean,
        cond_std=std,
        features_file=features_file if condition == "features" else None,
    )


_CACHE: dict = {}


def load_data(config: TaggingConfig, backend: Backend, stream=None) -> TaggingData:
    """Read MIR Flickr and the word vectors (cached per process; the default vectors are
    trained on first use) and prepare the split."""
    from ...data.mirflickr import load_mirflickr
    from ...models.wordvec import load_word2vec
    from .vectors import resolve_vectors

    key = (config.data_dir, config.features_file, config.vectors)
    if key not in _CACHE:
        dataset = load_mirflickr(config.data_dir, features_file=config.features_file, stream=stream)
        path = resolve_vectors(config.vectors, dataset, stream=stream)
        _, vectors = load_word2vec(path, vocab=dataset.vocab, stream=stream)
        _CACHE[key] = (dataset, vectors)
    dataset, vectors = _CACHE[key]
    return prepare_data(dataset, vectors, config.condition, backend, split_seed=config.split_seed,
                        train_limit=config.train_limit, features_file=config.features_file)
