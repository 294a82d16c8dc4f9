"""The tagging experiment's evaluation (the paper's rule) and its baselines.

For each test image, ``n_samples`` generator samples; for each sample its ``k_nearest``
vocabulary words by cosine similarity (cgan.models.wordvec.nearest_words); the image's
tags are the ``top`` most common words over all its samples. Beyond the paper,
precision@10 and recall@10 against the image's user tags, and two baselines on the same
split (:func:`popular_tags`, :func:`knn_tags`; the regression baseline and the multi-label
classifier are training methods, cgan.experiments.tagging.train). The one-to-many
measures (:func:`one_to_many`): how many distinct words one image's samples land on, and
how many of its user tags they cover.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

import nn
from nn.backend import Backend

from ...core.noise import sample_noise
from ...core.streams import Streams
from ...models.wordvec import nearest_words
from .config import STREAMS, TaggingConfig
from .data import Images, TaggingData, multi_hot

__all__ = ["top_k", "tags_from_samples", "generate_tags", "classifier_tags", "predict", "multi_hot",
           "precision_recall_at_k", "popular_tags", "drawing_from", "knn_tags", "evaluate_predictions", "sample_spread",
           "generator_samples", "one_to_many", "draw_words", "knn_vote_distribution", "rule_on_draws",
           "evaluate", "validate", "evaluate_run", "tag_photo"]


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


@contextmanager
def drawing_from(net: nn.Layer, backend: Backend):
    """The draws ``net``'s layers make themselves (the Gumbel noise of G's "gumbel*"
    outputs, drawn in evaluation too) come from ``backend``'s stream while inside, as z's
    do, and not from the training stream: evaluation then depends on its own seed alone
    and leaves training's stream where it was."""
    own = net.backend
    if own is backend:
        yield
        return
    saved = own.rng
    own.rng = backend.rng
    try:
        yield
    finally:
        own.rng = saved


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
        with drawing_from(generator, backend):
            samples, _ = generator.forward((z, y), False)  # G's input: (noise, condition)
        words, _ = tags_from_samples(samples, y.shape[0] // n_samples, word_vectors, backend,
                                     k=k, top=top)
        out.append(words)
    return xp.concatenate(out, axis=0)


def classifier_tags(classifier: nn.Layer, cond, backend: Backend, *, top: int = 10, chunk_images: int = 2000):
    """The classifier's tags: the ``top`` largest logits per condition row (dropout off)."""
    out = []
    for start in range(0, cond.shape[0], chunk_images):
        logits, _ = classifier.forward((None, cond[start:start + chunk_images]), False)
        out.append(top_k(logits, top, backend))
    return backend.xp.concatenate(out, axis=0)


def predict(generator: nn.Layer, cond, data: TaggingData, config: TaggingConfig, backend: Backend, *,
            n_samples: int | None = None):
    """Tags of each condition row by the run's method: the paper's rule on generator
    samples, or the classifier's top logits."""
    if config.method == "classifier":
        return classifier_tags(generator, cond, backend, top=config.top)
    return generate_tags(generator, cond, data.word_vectors, backend, noise_dim=config.noise_dim,
                         n_samples=n_samples or config.n_samples, k=config.k_nearest, top=config.top)


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


def popular_tags(data: TaggingData, backend: Backend, top: int = 10, images: Images | None = None):
    """Baseline: the training set's most frequent tags, the same for every test image."""
    counts = data.train_truth(backend).sum(axis=0)
    best = top_k(counts[None, :], top, backend)
    return backend.xp.repeat(best, len(images if images is not None else data.test), axis=0)


def _unit_rows(a, backend: Backend):
    """Each row scaled to unit length (a zero row stays zero)."""
    xp = backend.xp
    return a / xp.maximum(xp.sqrt((a * a).sum(axis=1, keepdims=True)), backend.dtype.type(1e-30))


def _neighbour_votes(cond_unit, train_unit, train_truth, k: int, xp):
    """(rows, V): the tag votes of each row's k training images nearest by cosine
    (unit-length rows in, so the similarity is one product)."""
    sims = cond_unit @ train_unit.T
    kk = min(k, sims.shape[1])
    neighbours = xp.argpartition(-sims, kk - 1, axis=1)[:, :kk] if kk < sims.shape[1] else \
        xp.broadcast_to(xp.arange(sims.shape[1]), sims.shape)
    return train_truth[neighbours].sum(axis=1)


def knn_tags(data: TaggingData, backend: Backend, k: int = 5, top: int = 10, images: Images | None = None,
             chunk: int = 2000):
    """Baseline: tag transfer from the k training images nearest by cosine similarity of
    the condition; each neighbour votes for its tags; ties go to the more popular tag."""
    xp = backend.xp
    cond = (images if images is not None else data.test).cond
    train = _unit_rows(data.train_cond, backend)
    train_truth = data.train_truth(backend)
    popularity = train_truth.sum(axis=0)
    out = []
    for start in range(0, cond.shape[0], chunk):
        votes = _neighbour_votes(_unit_rows(cond[start:start + chunk], backend), train, train_truth, k, xp)
        scores = votes.astype(xp.float64) + 0.5 * popularity / (popularity.max() + 1)
        out.append(top_k(scores, top, backend))
    return xp.concatenate(out, axis=0)


def evaluate_predictions(predicted, data: TaggingData, backend: Backend, images: Images | None = None) -> dict:
    """Precision@10, recall@10 and how many distinct tag lists, on the test images (or ``images``)."""
    images = images if images is not None else data.test
    truth = multi_hot(images.tags, len(data.vocab), backend)
    p, r = precision_recall_at_k(predicted, truth, backend)
    distinct = len({tuple(row) for row in backend.to_numpy(predicted).tolist()})
    return {"precision@10": p, "recall@10": r, "distinct_tag_lists": distinct,
            "test_images": int(predicted.shape[0])}


def sample_spread(generator, data: TaggingData, backend: Backend, c: TaggingConfig, n_images: int = 20) -> dict:
    """Collapse diagnostics: mean cosine between samples of one image and of different
    images (the first ``n_images`` test images)."""
    cond = data.test_cond[:n_images]
    m = cond.shape[0]
    s = generator_samples(generator, cond, backend, noise_dim=c.noise_dim, n_samples=c.n_samples)
    mean_dir = s.mean(axis=1)
    within = float(backend.to_numpy((mean_dir * mean_dir).sum(axis=1).mean()))  # E cos within image
    overall = s.reshape(m * c.n_samples, -1).mean(axis=0)
    across = float(backend.to_numpy((overall * overall).sum()))                   # E cos over all
    return {"mean_cos_within_image": within, "mean_cos_all_samples": across}


def generator_samples(generator, cond, backend: Backend, *, noise_dim: int, n_samples: int):
    """(n_images, n_samples, d) samples of each condition row (dropout off), unit length."""
    xp = backend.xp
    y = xp.repeat(cond, n_samples, axis=0)
    z = sample_noise(backend, "gaussian", y.shape[0], noise_dim)
    with drawing_from(generator, backend):
        s, _ = generator.forward((z, y), False)  # G's input: (noise, condition)
    return _unit_rows(s, backend).reshape(cond.shape[0], n_samples, -1)


def one_to_many(generator, data: TaggingData, backend: Backend, c: TaggingConfig, *,
                images: Images | None = None, min_tags: int = 2, chunk_images: int = 200) -> dict:
    """The one-to-many measures on the images with at least ``min_tags`` user tags.

    For each image, its ``n_samples`` samples and each sample's nearest word:
    ``distinct_words`` (how many different words the samples land on), ``coverage`` (the
    fraction of the image's user tags that are among those words) and ``tags_covered``
    (how many), and ``mean_cos_within_image`` (the mean cosine between two of its samples;
    1 for a generator that ignores its noise). Means over the images.
    """
    xp = backend.xp
    images = images if images is not None else data.test
    chosen = [i for i, t in enumerate(images.tags) if len(t) >= min_tags]
    if not chosen:
        return {"one_to_many_images": 0}
    n_words = len(data.vocab)
    distinct, covered, coverage, within = [], [], [], []
    for start in range(0, len(chosen), chunk_images):
        part = chosen[start:start + chunk_images]
        cond = images.cond[xp.asarray(part)]
        s = generator_samples(generator, cond, backend, noise_dim=c.noise_dim, n_samples=c.n_samples)
        idx, _ = nearest_words(data.word_vectors, s.reshape(-1, s.shape[2]), 1, backend)
        idx = idx.reshape(len(part), c.n_samples)
        hit = xp.zeros((len(part), n_words), dtype=bool)
        hit[xp.repeat(xp.arange(len(part)), c.n_samples), idx.reshape(-1)] = True
        truth = multi_hot([images.tags[i] for i in part], n_words, backend) > 0
        n_cov = (hit & truth).sum(axis=1)
        distinct.append(hit.sum(axis=1))
        covered.append(n_cov)
        coverage.append(n_cov / truth.sum(axis=1))
        mean_dir = s.mean(axis=1)
        n = c.n_samples
        # mean cosine over pairs of distinct samples: (|sum|^2 - n) / (n (n - 1))
        within.append(((mean_dir * mean_dir).sum(axis=1) * n * n - n) / max(n * (n - 1), 1))
    cat = xp.concatenate
    return {"one_to_many_images": len(chosen),
            "distinct_words": float(backend.to_numpy(cat(distinct).mean())),
            "tags_covered": float(backend.to_numpy(cat(covered).mean())),
            "coverage": float(backend.to_numpy(cat(coverage).mean())),
            "pairwise_cos_within_image": float(backend.to_numpy(cat(within).mean()))}


def draw_words(probabilities, n_samples: int, backend: Backend):
    """``n_samples`` word indices per row, drawn from that row of ``probabilities`` (n, V)
    (rows sum to 1) by inverse CDF: (n, n_samples). One searchsorted for all rows: row i's
    CDF is shifted by i, so the rows' CDFs form one increasing array."""
    xp = backend.xp
    n, n_words = probabilities.shape
    p = probabilities.astype(xp.float64)   # float64: a float32 CDF over 1,386 words can end short of 1
    cdf = xp.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
    cdf[:, -1] = 1.0
    offsets = xp.arange(n, dtype=xp.float64)[:, None]
    u = backend.uniform((n, n_samples)).astype(xp.float64) + offsets
    flat = xp.searchsorted((cdf + offsets).reshape(-1), u.reshape(-1), side="right")
    return xp.minimum(flat.reshape(n, n_samples) - xp.arange(n)[:, None] * n_words, n_words - 1)


def knn_vote_distribution(data: TaggingData, backend: Backend, k: int, images: Images):
    """Each image's tag distribution by the votes of its k nearest training images (as
    :func:`knn_tags` counts them), normalised: (n_images, V)."""
    votes = _neighbour_votes(_unit_rows(images.cond, backend), _unit_rows(data.train_cond, backend),
                             data.train_truth(backend), k, backend.xp).astype(backend.xp.float64)
    return votes / votes.sum(axis=1, keepdims=True)


def rule_on_draws(probabilities, data: TaggingData, backend: Backend, *, n_samples: int = 100,
                  k: int = 20, top: int = 10):
    """The paper's tag rule fed with ideal samples: each image's samples are the word
    vectors of tags drawn from its row of ``probabilities``, as a generator that had learned
    that distribution exactly would draw them. What the rule then scores is the most a
    generator of that distribution can score through it. Returns (n_images, top)."""
    draws = draw_words(probabilities, n_samples, backend)
    samples = data.word_vectors[draws.reshape(-1)]
    return tags_from_samples(samples, probabilities.shape[0], data.word_vectors, backend, k=k, top=top)[0]


def validate(generator, data: TaggingData, config: TaggingConfig, backend: Backend) -> dict:
    """Precision@10 and recall@10 on the validation images (the first ``valid_limit``;
    ``valid_samples`` samples each), noise from the run's ``validation`` stream (the same
    noise after every epoch)."""
    b = backend.with_seed(Streams(config.seed, STREAMS).seed("validation"))
    images = data.valid
    if config.valid_limit is not None and config.valid_limit < len(images):
        n = config.valid_limit
        images = Images(images.cond[:n], images.rows[:n], images.tags[:n], images.image_ids[:n],
                        images.image_paths[:n])
    predicted = predict(generator, images.cond, data, config, b, n_samples=config.valid_samples)
    res = evaluate_predictions(predicted, data, b, images)
    return {"valid_precision@10": res["precision@10"], "valid_recall@10": res["recall@10"],
            "valid_distinct_tag_lists": res["distinct_tag_lists"], "valid_images": res["test_images"]}


def evaluate(generator, data: TaggingData, config: TaggingConfig, progress: bool = False,
             backend: Backend | None = None) -> dict:
    """Tag the test images (noise from the run's ``evaluation`` stream) and score the tags;
    for a generator, the collapse diagnostics and the one-to-many measures too."""
    seed = Streams(config.seed, STREAMS).seed("evaluation")
    b = backend.with_seed(seed) if backend is not None else nn.get_backend(config.backend, seed=seed)
    start = time.perf_counter()
    predicted = predict(generator, data.test_cond, data, config, b)
    results = evaluate_predictions(predicted, data, b)
    if config.method != "classifier":
        results.update(sample_spread(generator, data, b, config))
        if config.validates:   # runs of the presets (older runs did not measure it)
            results.update(one_to_many(generator, data, b, config))
    results["eval_seconds"] = time.perf_counter() - start
    results["predicted"] = b.to_numpy(predicted).tolist()
    if progress:
        print(f"test: precision@10 {results['precision@10']:.4f} recall@10 {results['recall@10']:.4f} "
              f"({results['test_images']} images, {results['distinct_tag_lists']} distinct tag lists) "
              f"[{results['eval_seconds']:.1f}s]", flush=True)
    return results


def evaluate_run(run_dir, *, backend: str | None = None, progress: bool = True,
                 k_nearest: int | None = None) -> dict:
    """Rebuild a run's networks (best.npz where the run kept one, else latest.npz) and
    evaluate them on its test images; ``k_nearest``: the tag rule's nearest words per
    sample (default: the run's own)."""
    from .train import load_run

    config, data, pair, _ = load_run(run_dir, backend=backend)
    if k_nearest is not None:
        config.k_nearest = k_nearest
    results = evaluate(pair.generator, data, config, progress=progress)
    results["k_nearest"] = config.k_nearest
    return results


def tag_photo(photo, run_dir, *, backend: str | None = None) -> list[str]:
    """The generated tags of any image, for a run trained on image features.

    The photo's EfficientNet-Lite0 features (the optional ``features`` extra), computed
    the way the run's features file was (from a 128 x 128 centre crop for the crops128
    file), are standardised as the run's training features were, then the run's method
    picks the tags (the paper's rule for a generator).
    """
    from ...data.features import ImageReadError, features_for_photo
    from ...data.mirflickr import CROPS128_FEATURES_FILE
    from .train import load_run

    if not Path(photo).is_file():
        raise ImageReadError(f"{photo}: no such image file")
    config, data, pair, b = load_run(run_dir, backend=backend)
    if config.condition != "features":
        raise ValueError(f"{run_dir} was trained on the {config.condition} condition; tagging a "
                         "photo needs a run trained with --condition features")
    crop = 128 if config.features_file == CROPS128_FEATURES_FILE else None
    row = nn.get_backend("numpy").xp.asarray([features_for_photo(photo, square_crop=crop)], dtype="float32")
    cond = b.asarray((row - data.cond_mean) / data.cond_std)
    seed = Streams(config.seed, STREAMS).seed("evaluation")
    words = predict(pair.generator, cond, data, config, b.with_seed(seed))
    return [data.vocab[i] for i in b.to_numpy(words)[0].tolist()]
