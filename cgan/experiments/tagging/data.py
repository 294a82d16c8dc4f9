"""The tagging experiment's data on the device: MIR Flickr split by image, (image, tag)
pairs, standardised features, unit word vectors."""

from __future__ import annotations

from dataclasses import dataclass

import nn
from nn.backend import Backend

from ...core.loop import Dataset
from .config import CONDITIONS, TaggingConfig

__all__ = ["TaggingData", "prepare_data", "load_data"]


@dataclass
class TaggingData(Dataset):
    """One condition's split, on the device. Rows are dataset rows (images)."""

    vocab: list
    word_vectors: object      # (V, d) unit rows
    train_cond: object        # (n_train, c)
    test_cond: object         # (n_test, c)
    pair_image: object        # (n_pairs,) index into train_cond
    pair_tag: object          # (n_pairs,) vocabulary index
    train_rows: list
    test_rows: list
    train_tags: list          # per training image, vocabulary indices
    test_tags: list
    test_image_ids: list
    test_image_paths: list
    cond_mean: object = None  # host (c,) standardisation of the features condition
    cond_std: object = None

    # what the core loop reads (cgan.core.loop.Dataset): the training pairs
    @property
    def n(self) -> int:
        return int(self.pair_tag.shape[0])

    def rows(self, idx):
        """(x, y) of training pairs ``idx``: their tags' word vectors, their images' conditions."""
        return self.word_vectors[self.pair_tag[idx]], self.train_cond[self.pair_image[idx]]


def _host() -> Backend:
    return nn.get_backend("numpy", seed=0)


def prepare_data(dataset, vectors, condition: str, backend: Backend, *, split_seed: int = 0,
                 train_limit: int | None = None) -> TaggingData:
    """Split by image (split_rows), standardise features, normalise word vectors, make pairs.

    ``dataset`` is a :class:`cgan.data.mirflickr.MirFlickr`; ``vectors`` (V, d) host
    word vectors aligned to ``dataset.vocab``. Test images without tags are dropped.
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
    train_pos = split["train"][has_tags[split["train"]]]
    test_pos = split["test"][has_tags[split["test"]]]
    if train_limit is not None:
        train_pos = train_pos[:train_limit]
    train_cond = table[train_pos].astype(hxp.float32)
    test_cond = table[test_pos].astype(hxp.float32)
    mean = std = None
    if condition == "features":
        mean = train_cond.mean(axis=0)
        std = hxp.maximum(train_cond.std(axis=0), 1e-6)
        train_cond = (train_cond - mean) / std
        test_cond = (test_cond - mean) / std
    train_rows = available[train_pos].tolist()
    test_rows = available[test_pos].tolist()
    row_index, tag_index = tag_pairs(train_rows, dataset.tags)
    pair_image = hxp.searchsorted(hxp.asarray(train_rows, dtype=hxp.int64), row_index)
    vec = hxp.asarray(vectors, dtype=hxp.float32)
    norms = hxp.sqrt((vec * vec).sum(axis=1, keepdims=True))
    vec = vec / hxp.maximum(norms, 1e-12)
    return TaggingData(
        vocab=list(dataset.vocab),
        word_vectors=backend.asarray(vec),
        train_cond=backend.asarray(train_cond),
        test_cond=backend.asarray(test_cond),
        pair_image=backend.xp.asarray(pair_image),
        pair_tag=backend.xp.asarray(tag_index),
        train_rows=train_rows,
        test_rows=test_rows,
        train_tags=[list(dataset.tags[r]) for r in train_rows],
        test_tags=[list(dataset.tags[r]) for r in test_rows],
        test_image_ids=[dataset.image_ids[r] for r in test_rows],
        test_image_paths=[dataset.image_paths[r] for r in test_rows],
        cond_mean=mean,
        cond_std=std,
    )


_CACHE: dict = {}


def load_data(config: TaggingConfig, backend: Backend, stream=None) -> TaggingData:
    """Read MIR Flickr and the word vectors (cached per process) and prepare the split."""
    from ...data.mirflickr import load_mirflickr
    from ...models.wordvec import load_word2vec

    key = (config.data_dir, config.vectors)
    if key not in _CACHE:
        dataset = load_mirflickr(config.data_dir, stream=stream)
        _, vectors = load_word2vec(config.vectors, vocab=dataset.vocab, stream=stream)
        _CACHE[key] = (dataset, vectors)
    dataset, vectors = _CACHE[key]
    return prepare_data(dataset, vectors, config.condition, backend,
                        split_seed=config.split_seed, train_limit=config.train_limit)
