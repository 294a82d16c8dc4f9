"""Automated image tagging with a conditional adversarial net (Mirza & Osindero 2014, 4.2).

The paper's networks, with input widths following the data:

    generator      z (100, Gaussian) -> 500 ReLU;  condition -> 2000 ReLU;
                   joined (2500) -> [dropout] -> linear 200 (a word vector)
    discriminator  x (200, a word vector) -> 500 ReLU;  condition -> 1200 ReLU;
                   joined (1700) -> dropout -> maxout 1000 units x 3 pieces -> dropout -> 1
                   (a logit: the sigmoid lives in the loss, nn.losses)

The condition is an image's 1280-d EfficientNet-Lite0 features (``condition="features"``,
standardised with the training images' mean and std), or its 24 MIR Flickr concept
labels (``condition="labels"``, raw 0/1). Examples are (image, tag) pairs; the tag's
200-d skip-gram vector is scaled to unit length.

Evaluation follows the paper: for each test image, 100 samples; for each sample its 20
nearest vocabulary words by cosine similarity; the image's tags are the 10 most common
words over all its samples. Beyond the paper, precision@10 and recall@10 against the
image's user tags, and three baselines on the same split (:func:`popular_tags`,
:func:`knn_tags`, and the same generator trained by regression, ``method="regression"``).

Training reuses :func:`cgan.train.discriminator_step` and :func:`cgan.train.generator_step`.
No NumPy import here: arrays go through ``backend.xp`` (see tests/test_no_numpy_rule.py).

CLI (for cgan/cli.py): ``add_subcommands(sub)`` adds ``train-tagging`` and
``eval-tagging RUN_DIR``; ``add_train_arguments(parser)`` and :func:`cmd_train_tagging`
serve a ``cgan train tagging`` dispatch. See docs/tagging.md.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import nn
from nn import checkpoint
from nn.backend import Backend

from .models import AdversarialPair
from .progress import Progress
from .train import (OptimConfig, RunDirError, make_optimizer, TrainingDiverged, discriminator_step, generator_step, sample_noise,
                    write_json, write_json_lines)
from .wordvec import nearest_words

__all__ = [
    "TaggingConfig", "TaggingData", "make_config", "sample_spread", "tagging_generator", "tagging_discriminator",
    "build_networks", "prepare_data", "load_data", "train_tagging", "generate_tags",
    "tags_from_samples", "top_k", "multi_hot", "precision_recall_at_k", "popular_tags",
    "knn_tags", "evaluate_predictions", "evaluate_run", "add_subcommands",
    "add_train_arguments", "cmd_train_tagging", "cmd_eval_tagging",
]

DEFAULT_VECTORS = "runs/wordvec/mirflickr-sgns-200.txt"
CONDITIONS = ("features", "labels")
METHODS = ("cgan", "regression")
# Default epochs, measured to stay under 3 minutes (features) and 6 minutes (labels) on
# one CPU thread (docs/tagging.md).
DEFAULT_EPOCHS = {"features": 4, "labels": 1}
# The labels condition has 74k training pairs (740 updates an epoch); its default run stops
# after this many updates (a fifth of an epoch) to fit the time budget.
DEFAULT_MAX_UPDATES = {"features": None, "labels": 150}


@dataclass
class TaggingConfig(OptimConfig):
    """Everything that determines a tagging run.

    ``model`` and ``noise_dim`` are what :class:`cgan.models.AdversarialPair` reads
    (a conditional pair); ``method`` picks adversarial training or the regression baseline.
    """

    condition: str = "features"
    method: str = "cgan"
    model: str = "cgan"
    noise_dim: int = 100
    backend: str = "numpy"
    seed: int = 0
    split_seed: int = 0
    epochs: int = 20
    momentum_end_epoch: int = 20
    d_keep: float = 0.5          # dropout keep probability before D's joint maxout and its output
    g_keep: float = 0.5          # ... on the input of G's joint linear layer (1 = none)
    width_scale: float = 1.0     # tests only: the same networks, narrower
    n_samples: int = 100
    k_nearest: int = 20
    top: int = 10
    train_limit: int | None = None   # tests only: the first N training images
    max_updates: int | None = None   # stop after this many updates (labels default: 150)
    data_dir: str | None = None
    vectors: str = DEFAULT_VECTORS

    def width(self, published: int) -> int:
        return max(1, round(published * self.width_scale))

    def validate(self) -> None:
        self.validate_optimizer()
        if self.condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {', '.join(CONDITIONS)}, got {self.condition!r}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.model != "cgan":
            raise ValueError("the tagging pair is conditional: model must be 'cgan'")
        for name in ("epochs", "batch_size", "noise_dim", "n_samples", "k_nearest", "top"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("d_keep", "g_keep"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a keep probability in (0, 1], got {getattr(self, name)}")


def make_config(condition: str = "features", **overrides) -> TaggingConfig:
    """A config with the condition's default epochs (momentum ramped over the run)."""
    values = {k: v for k, v in overrides.items() if v is not None}
    epochs = values.setdefault("epochs", DEFAULT_EPOCHS.get(condition, 1))
    values.setdefault("momentum_end_epoch", epochs)
    values.setdefault("max_updates", DEFAULT_MAX_UPDATES.get(condition))
    config = TaggingConfig(condition=condition, **values)
    config.validate()
    return config


# -- networks --------------------------------------------------------------------------
def tagging_generator(backend: Backend, c: TaggingConfig, cond_dim: int, word_dim: int) -> nn.Sequential:
    hz, hy = c.width(500), c.width(2000)
    init = nn.Uniform(c.g_irange)
    layers = [
        nn.Join(
            nn.Sequential(nn.Linear(c.noise_dim, hz, backend, init=init), nn.ReLU(backend)),
            nn.Sequential(nn.Linear(cond_dim, hy, backend, init=init), nn.ReLU(backend)),
            names=("z", "y"),
        ),
    ]
    if c.g_keep < 1.0:
        layers.append(nn.Dropout(c.g_keep, backend))
    layers.append(nn.Linear(hz + hy, word_dim, backend, init=init))
    return nn.Sequential(*layers)


def tagging_discriminator(backend: Backend, c: TaggingConfig, cond_dim: int, word_dim: int) -> nn.Sequential:
    hx, hy, joint = c.width(500), c.width(1200), c.width(1000)
    init = nn.Uniform(c.d_irange)
    return nn.Sequential(
        nn.Join(
            nn.Sequential(nn.Linear(word_dim, hx, backend, init=init), nn.ReLU(backend)),
            nn.Sequential(nn.Linear(cond_dim, hy, backend, init=init), nn.ReLU(backend)),
            names=("x", "y"),
        ),
        nn.Dropout(c.d_keep, backend),
        nn.Maxout(hx + hy, joint, 3, backend, init=init),
        nn.Dropout(c.d_keep, backend),
        nn.Linear(joint, 1, backend, init=init),
    )


def build_networks(backend: Backend, c: TaggingConfig, cond_dim: int, word_dim: int) -> AdversarialPair:
    """The pair (for regression the discriminator is built but never trained)."""
    return AdversarialPair(tagging_generator(backend, c, cond_dim, word_dim),
                           tagging_discriminator(backend, c, cond_dim, word_dim), c)


# -- data --------------------------------------------------------------------------------
@dataclass
class TaggingData:
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


def _host() -> Backend:
    return nn.get_backend("numpy", seed=0)


def prepare_data(dataset, vectors, condition: str, backend: Backend, *, split_seed: int = 0,
                 train_limit: int | None = None) -> TaggingData:
    """Split by image (split_rows), standardise features, normalise word vectors, make pairs.

    ``dataset`` is a :class:`cgan.data.mirflickr.MirFlickr`; ``vectors`` (V, d) host
    word vectors aligned to ``dataset.vocab``. Test images without tags are dropped.
    """
    from .data.mirflickr import split_rows, tag_pairs

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
    from .data.mirflickr import load_mirflickr
    from .wordvec import load_word2vec

    key = (config.data_dir, config.vectors)
    if key not in _CACHE:
        dataset = load_mirflickr(config.data_dir, stream=stream)
        _, vectors = load_word2vec(config.vectors, vocab=dataset.vocab, stream=stream)
        _CACHE[key] = (dataset, vectors)
    dataset, vectors = _CACHE[key]
    return prepare_data(dataset, vectors, config.condition, backend,
                        split_seed=config.split_seed, train_limit=config.train_limit)


# -- evaluation ------------------------------------------------------------------------------
def top_k(scores, k: int, backend: Backend):
    """Indices of the k largest scores per row, best first; ties go to the lower index."""
    xp = backend.xp
    n_cols = scores.shape[1]
    # Exact for counts below 2^40: subtract a fraction < 1 that grows with the index.
    keyed = scores.astype(xp.float64) - xp.arange(n_cols, dtype=xp.float64) / (n_cols + 1)
    k = min(k, n_cols)
    part = xp.argpartition(-keyed, k - 1, axis=1)[:, :k] if k < n_cols else \
        xp.broadcast_to(xp.arange(n_cols), keyed.shape)
    order = xp.argsort(-xp.take_along_axis(keyed, part, axis=1), axis=1)
    return xp.take_along_axis(part, order, axis=1)


def tags_from_samples(samples, n_images: int, word_vectors, backend: Backend, *,
                      k: int = 20, top: int = 10):
    """The paper's tag rule on image-major samples (rows i*S .. (i+1)*S-1 belong to image i).

    One nearest_words call on all samples, then one bincount over (image, word) cells.
    Returns ``(top_words (n_images, top), counts (n_images, V))``.
    """
    xp = backend.xp
    n_words = word_vectors.shape[0]
    per_image = samples.shape[0] // n_images
    if per_image * n_images != samples.shape[0]:
        raise ValueError(f"{samples.shape[0]} samples do not split evenly over {n_images} images")
    idx, _ = nearest_words(word_vectors, samples, k, backend)
    owner = xp.repeat(xp.arange(n_images, dtype=xp.int64), per_image * k)
    cells = owner * n_words + idx.reshape(-1).astype(xp.int64)
    counts = xp.bincount(cells, minlength=n_images * n_words).reshape(n_images, n_words)
    return top_k(counts, top, backend), counts


def generate_tags(generator: nn.Layer, cond, word_vectors, backend: Backend, *, noise_dim: int = 100,
                  n_samples: int = 100, k: int = 20, top: int = 10, chunk_images: int = 200):
    """Tags for each condition row: n_samples generator samples each, the paper's rule.

    Images are processed in chunks of ``chunk_images`` (one nearest_words call each) so
    the (samples x vocabulary) similarity matrix stays small. Returns (n_images, top).
    """
    xp = backend.xp
    out = []
    for start in range(0, cond.shape[0], chunk_images):
        y = xp.repeat(cond[start:start + chunk_images], n_samples, axis=0)
        z = sample_noise(backend, "gaussian", y.shape[0], noise_dim)
        samples, _ = generator.forward((z, y), False)
        words, _ = tags_from_samples(samples, y.shape[0] // n_samples, word_vectors, backend,
                                     k=k, top=top)
        out.append(words)
    return xp.concatenate(out, axis=0)


def multi_hot(tag_lists, n_words: int, backend: Backend):
    """(len(tag_lists), n_words) 0/1 float matrix."""
    xp = backend.xp
    rows = [i for i, tags in enumerate(tag_lists) for _ in tags]
    cols = [t for tags in tag_lists for t in tags]
    m = backend.zeros((len(tag_lists), n_words))
    if rows:
        m[xp.asarray(rows), xp.asarray(cols)] = 1
    return m


def precision_recall_at_k(predicted, truth, backend: Backend) -> tuple[float, float]:
    """Mean precision@k and recall@k of predicted word indices (n, k) against multi-hot truth.

    precision = hits / k; recall = hits / (number of true tags); both averaged over
    images (images without true tags count 0 recall; prepare_data drops them).
    """
    xp = backend.xp
    k = predicted.shape[1]
    hits = xp.take_along_axis(truth, predicted, axis=1).sum(axis=1)
    n_true = truth.sum(axis=1)
    precision = (hits / k).mean()
    recall = (hits / xp.maximum(n_true, 1)).mean()
    return float(backend.to_numpy(precision)), float(backend.to_numpy(recall))


def _train_counts(data: TaggingData, backend: Backend):
    return multi_hot(data.train_tags, len(data.vocab), backend).sum(axis=0)


def popular_tags(data: TaggingData, backend: Backend, top: int = 10):
    """Baseline: the training set's most frequent tags, the same for every test image."""
    counts = _train_counts(data, backend)
    best = top_k(counts[None, :], top, backend)
    return backend.xp.repeat(best, data.test_cond.shape[0], axis=0)


def knn_tags(data: TaggingData, backend: Backend, k: int = 5, top: int = 10):
    """Baseline: tag transfer from the k training images nearest by cosine similarity of
    the condition; each neighbour votes for its tags; ties go to the more popular tag."""
    xp = backend.xp
    tiny = backend.dtype.type(1e-30)

    def unit(a):
        return a / xp.maximum(xp.sqrt((a * a).sum(axis=1, keepdims=True)), tiny)

    sims = unit(data.test_cond) @ unit(data.train_cond).T
    k = min(k, sims.shape[1])
    neighbours = xp.argpartition(-sims, k - 1, axis=1)[:, :k] if k < sims.shape[1] else \
        xp.broadcast_to(xp.arange(sims.shape[1]), sims.shape)
    train_truth = multi_hot(data.train_tags, len(data.vocab), backend)
    votes = train_truth[neighbours].sum(axis=1)
    popularity = train_truth.sum(axis=0)
    scores = votes.astype(xp.float64) + 0.5 * popularity / (popularity.max() + 1)
    return top_k(scores, top, backend)


def evaluate_predictions(predicted, data: TaggingData, backend: Backend) -> dict:
    truth = multi_hot(data.test_tags, len(data.vocab), backend)
    p, r = precision_recall_at_k(predicted, truth, backend)
    distinct = len({tuple(row) for row in backend.to_numpy(predicted).tolist()})
    return {"precision@10": p, "recall@10": r, "distinct_tag_lists": distinct,
            "test_images": int(predicted.shape[0])}


def sample_spread(generator, data: TaggingData, backend: Backend, c: TaggingConfig, n_images: int = 20) -> dict:
    """Collapse diagnostics: mean cosine between samples of one image and of different images."""
    xp = backend.xp
    cond = data.test_cond[:n_images]
    m = cond.shape[0]
    y = xp.repeat(cond, c.n_samples, axis=0)
    z = sample_noise(backend, "gaussian", y.shape[0], c.noise_dim)
    s, _ = generator.forward((z, y), False)
    s = s / xp.maximum(xp.sqrt((s * s).sum(axis=1, keepdims=True)), backend.dtype.type(1e-30))
    s = s.reshape(m, c.n_samples, -1)
    mean_dir = s.mean(axis=1)
    within = float(backend.to_numpy((mean_dir * mean_dir).sum(axis=1).mean()))  # E cos within image
    overall = s.reshape(m * c.n_samples, -1).mean(axis=0)
    across = float(backend.to_numpy((overall * overall).sum()))                   # E cos over all
    return {"mean_cos_within_image": within, "mean_cos_all_samples": across}


# -- training ------------------------------------------------------------------------------
def train_tagging(config: TaggingConfig, run_dir, *, data: TaggingData | None = None,
                  progress: bool = True, exist_ok: bool = False, evaluate: bool = True) -> dict:
    """Train one tagging run into ``run_dir`` and (by default) evaluate it on the test images.

    Writes config.json, metrics.jsonl (one record per epoch), latest.npz (atomic) and
    results.json. Returns the results dict.
    """
    config.validate()
    run_dir = Path(run_dir)
    if run_dir.exists() and not exist_ok and any(p.name != "config.json" for p in run_dir.iterdir()):
        raise RunDirError(f"run directory {run_dir} already exists and is not empty; choose another --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", asdict(config))
    b = nn.get_backend(config.backend, seed=config.seed)
    if data is None:
        data = load_data(config, b)
    cond_dim, word_dim = int(data.train_cond.shape[1]), int(data.word_vectors.shape[1])
    pair = build_networks(b, config, cond_dim, word_dim)
    g, d = pair.generator, pair.discriminator
    g_opt, d_opt = make_optimizer(config, g), make_optimizer(config, d)
    adversarial = config.method == "cgan"
    n = int(data.pair_tag.shape[0])
    bs = min(config.batch_size, n)
    batches = n // bs
    metrics, total = [], 0.0
    for epoch in range(1, config.epochs + 1):
        g_opt.set_epoch(epoch)
        d_opt.set_epoch(epoch)
        order = b.xp.argsort(b.uniform((n,)))
        sums = {"d_loss": 0.0, "g_loss": 0.0, "d_real": 0.0, "d_fake": 0.0}
        start = time.perf_counter()
        bar = Progress(range(batches), f"{config.condition}/{config.method} epoch {epoch}/{config.epochs}",
                       every_s=15.0) if progress else range(batches)
        done = 0
        for i in bar:
            if config.max_updates is not None and g_opt.updates >= config.max_updates:
                break
            done += 1
            idx = order[i * bs:(i + 1) * bs]
            x = data.word_vectors[data.pair_tag[idx]]
            y = data.train_cond[data.pair_image[idx]]
            z = sample_noise(b, "gaussian", bs, config.noise_dim)
            if adversarial:
                d_loss, d_real, d_fake = discriminator_step(pair, d_opt, x, y, z)
                sums["d_loss"] += d_loss
                sums["d_real"] += d_real
                sums["d_fake"] += d_fake
                z = sample_noise(b, "gaussian", bs, config.noise_dim)
                sums["g_loss"] += generator_step(pair, g_opt, y, z)
            else:
                out, cache = pair.generate(z, y)
                loss, grad = nn.mse(out, x)
                g.zero_grads()
                g.backward(grad, cache, input_grad=False)
                g_opt.step()
                sums["g_loss"] += loss
            if progress and (i + 1) % 20 == 0:
                bar.set(**{k: float(v) / (i + 1) for k, v in sums.items() if adversarial or k == "g_loss"})
        record = {k: float(v) / max(done, 1) for k, v in sums.items()}
        if not all(math.isfinite(v) for v in record.values()):
            raise TrainingDiverged(f"a loss became {record} at epoch {epoch}; lower the learning rate (--lr)")
        seconds = time.perf_counter() - start
        total += seconds
        record.update(epoch=epoch, lr=g_opt.current_lr, momentum=g_opt.current_momentum,
                      updates=g_opt.updates, train_seconds=seconds)
        metrics.append(record)
        write_json_lines(run_dir / "metrics.jsonl", metrics)
        checkpoint.save(run_dir / "latest.npz",
                        {"generator": g, "discriminator": d, "g_opt": g_opt, "d_opt": d_opt},
                        meta={"epoch": epoch, "seconds": total, "config": asdict(config)})
        if progress:
            tail = (f"d_loss {record['d_loss']:.4f} D(x) {record['d_real']:.3f} D(G(z)) {record['d_fake']:.3f} "
                    if adversarial else "")
            print(f"epoch {epoch}: {tail}g_loss {record['g_loss']:.4f} [{seconds:.1f}s]", flush=True)
    results = {"train_seconds": total, "epochs": config.epochs, "pairs": n,
               "train_images": len(data.train_rows), "updates": g_opt.updates}
    if evaluate:
        results.update(_evaluate(g, data, config, progress=progress))
    write_json(run_dir / "results.json", results)
    return results


def _evaluate(generator, data: TaggingData, config: TaggingConfig, progress: bool = False) -> dict:
    b = nn.get_backend(config.backend, seed=config.seed + 1_000_003)
    start = time.perf_counter()
    predicted = generate_tags(generator, data.test_cond, data.word_vectors, b,
                              noise_dim=config.noise_dim, n_samples=config.n_samples,
                              k=config.k_nearest, top=config.top)
    results = evaluate_predictions(predicted, data, b)
    results.update(sample_spread(generator, data, b, config))
    results["eval_seconds"] = time.perf_counter() - start
    results["predicted"] = b.to_numpy(predicted).tolist()
    if progress:
        print(f"test: precision@10 {results['precision@10']:.4f} recall@10 {results['recall@10']:.4f} "
              f"({results['test_images']} images, {results['distinct_tag_lists']} distinct tag lists) "
              f"[{results['eval_seconds']:.1f}s]", flush=True)
    return results


def load_run(run_dir, *, backend: str | None = None):
    """A run's config, data split and networks (from latest.npz)."""
    run_dir = Path(run_dir)
    path = run_dir / "config.json"
    if not path.exists():
        raise RunDirError(f"{run_dir} is not a run directory: it has no config.json")
    config = TaggingConfig.from_dict(json.loads(path.read_text()))
    if backend is not None:
        config.backend = backend
    if not (run_dir / "latest.npz").exists():
        raise RunDirError(f"{run_dir} has no latest.npz checkpoint (has training run one epoch?)")
    b = nn.get_backend(config.backend, seed=config.seed)
    data = load_data(config, b)
    pair = build_networks(b, config, int(data.train_cond.shape[1]), int(data.word_vectors.shape[1]))
    checkpoint.load(run_dir / "latest.npz", {"generator": pair.generator, "discriminator": pair.discriminator})
    return config, data, pair, b


def evaluate_run(run_dir, *, backend: str | None = None, progress: bool = True) -> dict:
    """Rebuild a run's networks from latest.npz and evaluate them on its test images."""
    config, data, pair, _ = load_run(run_dir, backend=backend)
    return _evaluate(pair.generator, data, config, progress=progress)


def tag_photo(photo, run_dir, *, backend: str | None = None) -> list[str]:
    """The generated tags of any image, for a run trained on image features.

    The photo's EfficientNet-Lite0 features (the optional ``features`` extra) are
    standardised as the run's training features were, then the paper's rule picks tags.
    """
    from .features import ImageReadError, features_for_photo

    if not Path(photo).is_file():
        raise ImageReadError(f"{photo}: no such image file")
    config, data, pair, b = load_run(run_dir, backend=backend)
    if config.condition != "features":
        raise ValueError(f"{run_dir} was trained on the {config.condition} condition; tagging a "
                         "photo needs a run trained with --condition features")
    row = _host().xp.asarray([features_for_photo(photo)], dtype="float32")
    cond = b.asarray((row - data.cond_mean) / data.cond_std)
    words = generate_tags(pair.generator, cond, data.word_vectors, b, noise_dim=config.noise_dim,
                          n_samples=config.n_samples, k=config.k_nearest, top=config.top)
    return [data.vocab[i] for i in b.to_numpy(words)[0].tolist()]


# -- command line ------------------------------------------------------------------------------
def add_train_arguments(parser) -> None:
    parser.add_argument("--condition", choices=CONDITIONS, default="features",
                        help="features: 1280-d image features (730 images); labels: the 24 concept labels")
    parser.add_argument("--method", choices=METHODS, default="cgan",
                        help="cgan: adversarial (default); regression: the same generator trained by MSE")
    parser.add_argument("--epochs", type=int, help="epochs (default: 4 for features, 1 for labels)")
    parser.add_argument("--lr", type=float, help="initial learning rate (default 0.1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", choices=["numpy", "cupy"], default="numpy")
    parser.add_argument("--data-dir", help="MIR Flickr directory (default ../shared/mirflickr)")
    parser.add_argument("--vectors", default=DEFAULT_VECTORS, help="word vectors, word2vec text format")
    parser.add_argument("--out", help="run directory (default runs/tagging-CONDITION-METHOD-sSEED)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_train_tagging(args) -> int:
    config = make_config(args.condition, method=args.method, epochs=args.epochs, lr=args.lr,
                         seed=args.seed, backend=args.backend, data_dir=args.data_dir,
                         vectors=args.vectors)
    out = args.out or f"runs/tagging-{config.condition}-{config.method}-s{config.seed}"
    results = train_tagging(config, out, progress=not args.quiet)
    print(json.dumps({k: v for k, v in results.items() if k != "predicted"}, sort_keys=True))
    print(out)
    return 0


def cmd_eval_tagging(args) -> int:
    results = evaluate_run(args.run_dir, backend=args.backend, progress=False)
    print(json.dumps({k: v for k, v in results.items() if k != "predicted"}, indent=2, sort_keys=True))
    return 0


def cmd_tag(args) -> int:
    from .features import FeaturesUnavailable, ImageReadError

    try:
        tags = tag_photo(args.photo, args.run, backend=args.backend)
    except (FeaturesUnavailable, ImageReadError) as exc:
        print(f"cgan: error: {exc}", file=sys.stderr)
        return 1
    print(" ".join(tags))
    return 0


def add_subcommands(sub) -> None:
    """Add ``train-tagging`` and ``eval-tagging`` to an argparse subparsers object."""
    train = sub.add_parser("train-tagging", help="train the image-tagging model (paper section 4.2)",
                           description="Train the conditional adversarial tagger on MIR Flickr.")
    add_train_arguments(train)
    train.set_defaults(func=cmd_train_tagging)
    ev = sub.add_parser("eval-tagging", help="evaluate a tagging run: precision@10, recall@10",
                        description="Generate tags for a run's test images and score them.")
    ev.add_argument("run_dir")
    ev.add_argument("--backend", choices=["numpy", "cupy"], default=None)
    ev.set_defaults(func=cmd_eval_tagging)
    tag = sub.add_parser("tag", help="print generated tags for a photo (needs the features extra)",
                         description="Generate tags for any image with a tagging run trained on "
                                     "image features (pip install 'cgan-numpy[features]').")
    tag.add_argument("photo", help="an image file (JPEG, PNG, ...)")
    tag.add_argument("--run", required=True, help="a run directory made by cgan train-tagging")
    tag.add_argument("--backend", choices=["numpy", "cupy"], default=None)
    tag.set_defaults(func=cmd_tag)
