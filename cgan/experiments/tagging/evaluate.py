"""The tagging experiment's evaluation (the paper's rule) and its baselines.

For each test image, ``n_samples`` generator samples; for each sample its ``k_nearest``
vocabulary words by cosine similarity (cgan.models.wordvec.nearest_words); the image's
tags are the ``top`` most common words over all its samples. Beyond the paper,
precision@10 and recall@10 against the image's user tags, and two baselines on the same
split (:func:`popular_tags`, :func:`knn_tags`; the regression baseline is a training
method, cgan.experiments.tagging.train).
"""

from __future__ import annotations

import time
from pathlib import Path

import nn
from nn.backend import Backend

from ...core.noise import sample_noise
from ...core.streams import Streams
from ...models.wordvec import nearest_words
from .config import STREAMS, TaggingConfig
from .data import TaggingData

__all__ = ["top_k", "tags_from_samples", "generate_tags", "multi_hot", "precision_recall_at_k",
           "popular_tags", "knn_tags", "evaluate_predictions", "sample_spread", "evaluate", "evaluate_run",
           "tag_photo"]


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
        samples, _ = generator.forward((z, y), False)  # G's input: (noise, condition)
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
    s, _ = generator.forward((z, y), False)  # G's input: (noise, condition)
    s = s / xp.maximum(xp.sqrt((s * s).sum(axis=1, keepdims=True)), backend.dtype.type(1e-30))
    s = s.reshape(m, c.n_samples, -1)
    mean_dir = s.mean(axis=1)
    within = float(backend.to_numpy((mean_dir * mean_dir).sum(axis=1).mean()))  # E cos within image
    overall = s.reshape(m * c.n_samples, -1).mean(axis=0)
    across = float(backend.to_numpy((overall * overall).sum()))                   # E cos over all
    return {"mean_cos_within_image": within, "mean_cos_all_samples": across}


def evaluate(generator, data: TaggingData, config: TaggingConfig, progress: bool = False,
             backend: Backend | None = None) -> dict:
    """Tag the test images (noise from the run's ``evaluation`` stream) and score the tags."""
    seed = Streams(config.seed, STREAMS).seed("evaluation")
    b = backend.with_seed(seed) if backend is not None else nn.get_backend(config.backend, seed=seed)
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


def evaluate_run(run_dir, *, backend: str | None = None, progress: bool = True) -> dict:
    """Rebuild a run's networks from latest.npz and evaluate them on its test images."""
    from .train import load_run

    config, data, pair, _ = load_run(run_dir, backend=backend)
    return evaluate(pair.generator, data, config, progress=progress)


def tag_photo(photo, run_dir, *, backend: str | None = None) -> list[str]:
    """The generated tags of any image, for a run trained on image features.

    The photo's EfficientNet-Lite0 features (the optional ``features`` extra) are
    standardised as the run's training features were, then the paper's rule picks tags.
    """
    from ...data.features import ImageReadError, features_for_photo
    from .train import load_run

    if not Path(photo).is_file():
        raise ImageReadError(f"{photo}: no such image file")
    config, data, pair, b = load_run(run_dir, backend=backend)
    if config.condition != "features":
        raise ValueError(f"{run_dir} was trained on the {config.condition} condition; tagging a "
                         "photo needs a run trained with --condition features")
    row = nn.get_backend("numpy").xp.asarray([features_for_photo(photo)], dtype="float32")
    cond = b.asarray((row - data.cond_mean) / data.cond_std)
    words = generate_tags(pair.generator, cond, data.word_vectors, b, noise_dim=config.noise_dim,
                          n_samples=config.n_samples, k=config.k_nearest, top=config.top)
    return [data.vocab[i] for i in b.to_numpy(words)[0].tolist()]
