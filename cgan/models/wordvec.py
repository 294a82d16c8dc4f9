"""Skip-gram word vectors with negative sampling (Mikolov et al. 2013), on this project's nn.

The conditional adversarial nets paper conditioned its image-tagging model on 200-d
skip-gram vectors trained on user tags. Here the "sentences" are the tag lists of the
MIR Flickr images, and a tag's context is every other tag of the same image (a tag list
has no word order, so the window is the whole list): :func:`cooccurrence_pairs` makes
all ordered pairs (center, context) of distinct tags within each list.

Model: two :class:`nn.Embedding` tables, input vectors u_w and output vectors v_w. For a
pair (c, o) and K negatives n_1..n_K drawn from the unigram distribution raised to the
3/4 power, the loss (minimised) is

    L(c, o) = -log sigma(u_c . v_o) - sum_k log sigma(-u_c . v_{n_k})
            = softplus(-s_0) + sum_k softplus(s_k),     s_0 = u_c . v_o,  s_k = u_c . v_{n_k}

computed from the logits s with nn's stable softplus, so that nothing overflows. With
targets t = (1, 0, ..., 0) this is sum_j softplus(s_j) - t_j s_j (binary cross-entropy on
logits), and dL/ds_j = sigma(s_j) - t_j. Then

    dL/du_c = sum_j dL/ds_j v_j,     dL/dv_j = dL/ds_j u_c,

and the two embeddings' backward passes scatter-add these into their tables. As in
word2vec, a negative that equals the pair's context is skipped (masked out), and the loss
of a minibatch is the *sum* over its pairs, so the learning rate is per pair (word2vec's
0.025, decayed linearly to 0.0001 of it over training). The input vectors are the word
vectors.

Files: :func:`save_word2vec` and :func:`load_word2vec` use word2vec's text format
(``"<count> <dim>"``, then ``"word v1 ... v_dim"`` per line), so pretrained vectors in that
format load too. This module imports no NumPy: host arrays come from the numpy Backend.
"""

from __future__ import annotations

import itertools
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nn
from nn.backend import Backend, array_module, get_backend
from nn.fileio import atomic_write
from nn.functional import sigmoid, softplus

from ..core.progress import Progress

__all__ = [
    "Word2VecError",
    "LinearDecay",
    "SkipGram",
    "sgns_loss",
    "cooccurrence_pairs",
    "noise_distribution",
    "train_word_vectors",
    "save_word2vec",
    "load_word2vec",
    "nearest_words",
]


class Word2VecError(ValueError):
    """A word-vector file is malformed (the message names the file and the line)."""


def _host() -> Backend:
    """The NumPy backend, for host arrays (this module does not import NumPy itself)."""
    return get_backend("numpy", "float32")


# -- data -----------------------------------------------------------------------------
def cooccurrence_pairs(tags, backend: Backend | None = None):
    """All ordered pairs of distinct tags within each row: the skip-gram training pairs.

    A row with m distinct tags gives m (m - 1) pairs: (a, b) for every a != b. Repeated
    tags in a row count once. Rows are taken in order, and within a row the centers in
    order, each with its contexts in order: ``[[0, 1, 2]]`` gives centers
    ``[0, 0, 1, 1, 2, 2]`` and contexts ``[1, 2, 0, 2, 0, 1]``.

    Args:
        tags: a list of rows, each a list of integer word indices.
        backend: where the arrays go (default: the NumPy backend, on the host).

    Returns:
        ``(centers, contexts)``, two int64 arrays of the same length. Built with array
        arithmetic (no Python loop over pairs): pair k of a row with m tags has center
        position k // (m - 1) and context position j = k % (m - 1), skipping the center
        (j + 1 where j >= the center's position).
    """
    xp = (backend or _host()).xp
    rows = [list(dict.fromkeys(row)) for row in tags]
    lengths = xp.asarray([len(row) for row in rows], dtype=xp.int64)
    flat = xp.asarray(list(itertools.chain.from_iterable(rows)), dtype=xp.int64)
    per_row = lengths * (lengths - 1)
    total = int(per_row.sum()) if len(rows) else 0
    if total == 0:
        empty = xp.zeros((0,), dtype=xp.int64)
        return empty, empty.copy()
    k = xp.arange(total, dtype=xp.int64)
    end_pair = xp.cumsum(per_row)
    # The row of pair k: the first row whose pairs end after k (works on CuPy, whose
    # repeat takes no array of counts).
    row_of = xp.searchsorted(end_pair, k, side="right")
    first_pair = end_pair - per_row
    first_tag = xp.cumsum(lengths) - lengths
    k -= first_pair[row_of]
    others = lengths[row_of] - 1
    center = k // others
    context = k % others
    context += context >= center
    base = first_tag[row_of]
    return flat[base + center], flat[base + context]


def noise_distribution(tags, vocab_size: int, backend: Backend, power: float = 0.75):
    """The negative-sampling distribution: unigram counts of the tags, to the 3/4 power.

    Returns the probabilities (vocab_size,) in the backend's dtype (0 for unused words).
    """
    xp = backend.xp
    flat = xp.asarray(list(itertools.chain.from_iterable(dict.fromkeys(r) for r in tags)),
                      dtype=xp.int64)
    counts = xp.bincount(flat, minlength=vocab_size)[:vocab_size].astype(backend.dtype)
    weights = counts ** backend.dtype.type(power)
    return weights / weights.sum()


def _sampler(probabilities, backend: Backend):
    """Draw indices from a discrete distribution by inverting its CDF (vectorised)."""
    xp = backend.xp
    cdf = xp.cumsum(probabilities)
    cdf /= cdf[-1]  # exactly 1 at the end, so that a draw u < 1 never runs past it
    last = int(probabilities.shape[0]) - 1

    def draw(shape):
        u = backend.uniform(shape)
        return xp.minimum(xp.searchsorted(cdf, u.reshape(-1), side="right"), last).reshape(shape)

    return draw


# -- the model ------------------------------------------------------------------------------
def sgns_loss(scores, mask=None):
    """The skip-gram negative-sampling loss on logits, summed over the pairs.

    Args:
        scores: (B, 1 + K) logits; column 0 is s_0 = u_c . v_o for the true context,
            columns 1..K are s_k = u_c . v_{n_k} for the negatives.
        mask: optional (B, 1 + K) 0/1 weights (0 drops a negative that hit the context).

    Returns:
        ``(L, dL/dscores)`` with L = sum_b [softplus(-s_b0) + sum_k m_bk softplus(s_bk)]
        = -sum_b [log sigma(s_b0) + sum_k m_bk log sigma(-s_bk)], a 0-d array, and
        dL/ds_bj = m_bj (sigma(s_bj) - t_j), t = (1, 0, ..., 0).
    """
    targets = array_module(scores).zeros((1, scores.shape[1]), dtype=scores.dtype)
    targets[:, 0] = 1
    per_entry = softplus(scores) - targets * scores
    grad = sigmoid(scores) - targets
    if mask is not None:
        per_entry *= mask
        grad *= mask
    return per_entry.sum(), grad


class SkipGram:
    """Input and output word vectors (two nn.Embedding tables) and the SGNS loss.

    ``params``/``grads`` hold ``"in.W"`` and ``"out.W"`` (so nn.SGD can update them). The
    input vectors start uniform in [-0.5/dim, 0.5/dim] and the output vectors at 0, as in
    word2vec.
    """

    def __init__(self, vocab_size: int, dim: int, backend: Backend, *, in_init=None,
                 out_init=None, check_indices: bool = True):
        self.backend = backend
        self.inp = nn.Embedding(vocab_size, dim, backend, check_indices=check_indices,
                                init=in_init or nn.Uniform(0.5 / dim))
        self.out = nn.Embedding(vocab_size, dim, backend, check_indices=check_indices,
                                init=out_init or _zeros)
        self.params = {"in.W": self.inp.params["W"], "out.W": self.out.params["W"]}
        self.grads = {"in.W": self.inp.grads["W"], "out.W": self.out.grads["W"]}

    def zero_grads(self) -> None:
        self.inp.zero_grads()
        self.out.zero_grads()

    def loss_and_backward(self, centers, contexts, negatives):
        """Add dL/d(tables) of the batch's summed loss into ``grads``; return L (0-d).

        Args:
            centers, contexts: (B,) integer arrays, the pairs.
            negatives: (B, K) integer array of negative samples.
        """
        xp = self.backend.xp
        u, cache_u = self.inp.forward(centers)                        # (B, d)
        targets = xp.concatenate([contexts[:, None], negatives], axis=1)
        v, cache_v = self.out.forward(targets)                         # (B, 1+K, d)
        scores = xp.matmul(v, u[:, :, None])[:, :, 0]                  # (B, 1+K)
        mask = xp.concatenate(
            [xp.ones((centers.shape[0], 1), dtype=bool), negatives != contexts[:, None]], axis=1
        ).astype(self.backend.dtype)
        value, g = sgns_loss(scores, mask)
        du = xp.matmul(g[:, None, :], v)[:, 0, :]                      # sum_j g_j v_j
        dv = g[:, :, None] * u[:, None, :]                              # g_j u
        self.inp.backward(du, cache_u)
        self.out.backward(dv, cache_v)
        return value


def _zeros(backend: Backend, shape):
    return backend.zeros(shape)


@dataclass(frozen=True)
class LinearDecay:
    """lr(t) = initial * max(1 - t / total, floor_fraction): word2vec's linear decay."""

    initial: float
    total: int
    floor_fraction: float = 1e-4

    def __call__(self, step: int) -> float:
        return self.initial * max(1.0 - step / max(self.total, 1), self.floor_fraction)


def train_word_vectors(tags, vocab_size: int, backend: Backend, *, dim: int = 200,
                       negatives: int = 5, epochs: int = 5, batch: int = 1024,
                       lr: float = 0.025, seed: int = 0, progress: bool = True,
                       stream=None):
    """Train skip-gram vectors with negative sampling on tag lists.

    Args:
        tags: rows of word indices in [0, vocab_size) (e.g. ``MirFlickr.tags``).
        vocab_size: the number of words.
        backend: where to train (its dtype is used; its random stream is left alone: a
            private stream seeded with ``seed`` draws the initialisation, the shuffles
            and the negatives).
        dim: vector width; negatives: K per pair; epochs: passes over all pairs.
        batch: pairs per minibatch; lr: per-pair learning rate at the start, decayed
            linearly to 1e-4 of it at the end (plain SGD, nn.SGD without momentum).
        progress: print progress and each epoch's mean loss per pair to ``stream``
            (default stderr).

    Returns:
        The input vectors, a backend array (vocab_size, dim) in the backend's dtype.
    """
    if dim < 1 or negatives < 0 or epochs < 1 or batch < 1 or vocab_size < 1:
        raise ValueError("train_word_vectors: dim, epochs, batch and vocab_size must be "
                         "positive and negatives non-negative")
    stream = sys.stderr if stream is None else stream
    rng = backend.with_seed(seed)
    xp = rng.xp
    centers, contexts = cooccurrence_pairs(tags, rng)
    n = int(centers.shape[0])
    if n == 0:
        raise ValueError("train_word_vectors: no row has two distinct tags, so there are no pairs")
    low, high = int(centers.min()), int(centers.max())
    if low < 0 or high >= vocab_size:
        raise ValueError(f"train_word_vectors: tag index {low if low < 0 else high} is outside "
                         f"[0, {vocab_size})")
    draw = _sampler(noise_distribution(tags, vocab_size, rng), rng)
    model = SkipGram(vocab_size, dim, rng, check_indices=False)
    steps_per_epoch = -(-n // batch)
    opt = nn.SGD(model.params, model.grads, lr=LinearDecay(lr, epochs * steps_per_epoch),
                 momentum=0.0)
    start = time.perf_counter()
    for epoch in range(epochs):
        order = rng.rng.permutation(n)
        total = xp.zeros((), dtype=rng.dtype)
        steps = range(steps_per_epoch)
        bar = Progress(steps, f"wordvec epoch {epoch + 1}/{epochs}", stream=stream) if progress else steps
        for step in bar:
            chosen = order[step * batch:(step + 1) * batch]
            c, o = centers[chosen], contexts[chosen]
            model.zero_grads()
            total += model.loss_and_backward(c, o, draw((c.shape[0], negatives)))
            opt.step()
            if progress and step % 100 == 0:
                bar.set(loss=float(total) / min((step + 1) * batch, n), lr=opt.current_lr)
        if progress:
            print(f"wordvec: epoch {epoch + 1}/{epochs}: mean loss per pair "
                  f"{float(total) / n:.4f}, {time.perf_counter() - start:.1f}s", file=stream)
    return model.params["in.W"]


# -- similarity -----------------------------------------------------------------------------
def nearest_words(vectors, query_vectors, k: int, backend: Backend, *, exclude=None):
    """The k words with the highest cosine similarity to each query vector.

    One matrix product of the L2-normalised rows (a zero row has similarity 0 to
    everything), then the top k per query by argpartition and a sort of those k.

    Args:
        vectors: (n_words, d); query_vectors: (d,) or (n_queries, d). Converted with
            ``backend.asarray`` (so NumPy vectors may be searched on the GPU).
        k: how many neighbours (at most n_words).
        exclude: optional word index per query (e.g. the query word itself) to leave out.

    Returns:
        ``(indices, similarities)``, each (n_queries, k) (or (k,) for one query), best
        first.
    """
    xp = backend.xp
    words = backend.asarray(vectors)
    queries = backend.asarray(query_vectors)
    single = queries.ndim == 1
    if single:
        queries = queries[None, :]
    if words.ndim != 2 or queries.ndim != 2 or queries.shape[1] != words.shape[1]:
        raise ValueError(f"nearest_words: vectors {tuple(words.shape)} and queries "
                         f"{tuple(queries.shape)} do not fit (want (n, d) and (q, d))")
    n = words.shape[0]
    if not 1 <= k <= n - (0 if exclude is None else 1):
        raise ValueError(f"nearest_words: k={k} is not between 1 and the number of candidates")
    tiny = backend.dtype.type(1e-30)
    words = words / xp.maximum(xp.sqrt((words * words).sum(axis=1, keepdims=True)), tiny)
    queries = queries / xp.maximum(xp.sqrt((queries * queries).sum(axis=1, keepdims=True)), tiny)
    sims = queries @ words.T
    if exclude is not None:
        exclude = xp.asarray(exclude, dtype=xp.int64).reshape(-1)
        sims[xp.arange(sims.shape[0]), exclude] = -xp.inf
    if k < n:
        top = xp.argpartition(-sims, k - 1, axis=1)[:, :k]
    else:
        top = xp.broadcast_to(xp.arange(n), sims.shape)
    top_sims = xp.take_along_axis(sims, top, axis=1)
    order = xp.argsort(-top_sims, axis=1)
    indices = xp.take_along_axis(top, order, axis=1)
    similarities = xp.take_along_axis(top_sims, order, axis=1)
    return (indices[0], similarities[0]) if single else (indices, similarities)


# -- files --------------------------------------------------------------------------------
def save_word2vec(path, words, vectors, *, digits: int = 9) -> Path:
    """Write vectors in word2vec's text format, atomically.

    The first line is ``"<count> <dim>"``; then one line per word, ``"word v1 ... v_dim"``,
    each number with ``digits`` significant digits (9 round-trips float32 exactly). The
    file is written under a temporary name, flushed and renamed over ``path``, so a crash
    leaves the old file or the new one.

    Args:
        words: the words (no spaces or line breaks, not empty).
        vectors: (len(words), dim), any backend's array (or nested lists).
    """
    path = Path(path)
    rows = vectors.tolist() if hasattr(vectors, "tolist") else [list(r) for r in vectors]
    words = list(words)
    if len(rows) != len(words):
        raise ValueError(f"save_word2vec: {len(words)} words but {len(rows)} vectors")
    dim = len(rows[0]) if rows else 0
    if rows and (dim == 0 or any(len(r) != dim for r in rows)):
        raise ValueError("save_word2vec: vectors must be a (count, dim) array with dim >= 1")
    for i, word in enumerate(words):
        if not word or any(ch.isspace() for ch in word):
            raise ValueError(f"save_word2vec: word {i} ({word!r}) is empty or has whitespace, "
                             "which the text format cannot hold")
    fmt = f"{{:.{int(digits)}g}}"
    lines = [f"{len(words)} {dim}\n"]
    lines.extend(word + " " + " ".join(map(fmt.format, row)) + "\n" for word, row in zip(words, rows))
    with atomic_write(path, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(lines)
    return path


def load_word2vec(path, *, vocab=None, stream=None):
    """Read vectors in word2vec's text format (this project's, or any pretrained file).

    Args:
        path: the file: ``"<count> <dim>"``, then ``count`` lines ``"word v1 ... v_dim"``
            (a trailing space and CRLF line ends are accepted).
        vocab: optional list of words. If given, the result is aligned to it: row i is
            ``vocab[i]``'s vector, or zeros for a word the file lacks; the number of
            missing words is reported on one line of ``stream`` (default stderr). Lines
            of other words are checked for their shape but their numbers are not parsed.

    Returns:
        ``(words, vectors)``: the file's words (or ``vocab``) and a NumPy float32 array
        (len(words), dim).

    Raises:
        Word2VecError: naming the file and the 1-based line of a malformed header, a line
            with the wrong number of values, a value that is not a finite number, a
            repeated word, or a vector count that differs from the header's.
    """
    path = Path(path)
    stream = sys.stderr if stream is None else stream
    wanted = None if vocab is None else {word: i for i, word in enumerate(vocab)}
    words, rows, seen = [], [], {}
    count = dim = None
    line_no = 0

    def error(message, line=None):
        return Word2VecError(f"{path}: line {line_no if line is None else line}: {message}")

    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n").rstrip(" ")
            except UnicodeDecodeError:
                raise error("not UTF-8 text (only word2vec's text format is read, not the "
                            "binary one)") from None
            fields = line.split(" ")
            if count is None:
                if len(fields) != 2 or not all(x.isascii() and x.isdigit() for x in fields) or int(fields[1]) < 1:
                    raise error(f"expected the header '<count> <dim>', got {line[:60]!r}")
                count, dim = int(fields[0]), int(fields[1])
                continue
            if line_no - 1 > count:
                raise error(f"more vectors than the header's count ({count:,})")
            if len(fields) != dim + 1 or not fields[0]:
                raise error(f"{len(fields) - 1} values after the word, expected {dim} "
                            f"(the header's dimension)" if fields[0] else "empty word or line")
            word = fields[0]
            if word in seen:
                raise error(f"word {word!r} repeats line {seen[word]}")
            seen[word] = line_no
            if wanted is not None and word not in wanted:
                continue
            try:
                values = [float(x) for x in fields[1:]]
            except ValueError:
                bad = next(i for i, x in enumerate(fields[1:], 1) if not _is_float(x))
                raise error(f"value {bad} is not a number: {fields[bad][:30]!r}") from None
            if not all(map(math.isfinite, values)):
                bad = next(i for i, x in enumerate(values, 1) if not math.isfinite(x))
                raise error(f"value {bad} is not finite: {fields[bad][:30]!r}")
            words.append(word)
            rows.append(values)
    if count is None:
        raise Word2VecError(f"{path}: line 1: empty file (expected the header '<count> <dim>')")
    if line_no - 1 < count:
        raise error(f"the file ends after {line_no - 1:,} vectors, but the header says {count:,}",
                    line=line_no + 1)
    host = _host()
    table = host.asarray(rows) if rows else host.zeros((0, dim))
    if wanted is None:
        return words, table
    aligned = host.zeros((len(wanted), dim))
    if rows:
        aligned[[wanted[w] for w in words]] = table
    missing = [w for w in wanted if w not in seen]
    example = f": {', '.join(missing[:8])}{', ...' if len(missing) > 8 else ''}" if missing else ""
    print(f"word2vec: {path}: {len(wanted) - len(missing):,} of {len(wanted):,} vocabulary words "
          f"found, {len(missing):,} missing (zero vectors){example}", file=stream)
    return list(vocab), aligned


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# -- an intrinsic check ---------------------------------------------------------------------
def neighbour_cooccurrence(vectors, tags, backend: Backend | None = None, *, min_count: int = 1) -> dict:
    """How often a tag's nearest neighbour (cosine, itself left out) co-occurs with it.

    For every word used by at least ``min_count`` rows of ``tags``: is its nearest other
    word ever a tag of the same row? Sensible vectors put words that are used together
    close together; random vectors do so at about the rate of a random other word.

    Returns ``{"words", "nearest_cooccurs", "random_cooccurs"}``: the number of words
    checked, the fraction whose nearest neighbour co-occurs with them, and the same
    fraction for a uniformly random other word (its expectation: for each word, the
    fraction of other words it ever co-occurs with, averaged).
    """
    b = backend or _host()
    xp = b.xp
    table = b.asarray(vectors)
    n_words = int(table.shape[0])
    rows = [list(dict.fromkeys(r)) for r in tags]
    centers, contexts = cooccurrence_pairs(rows, b)
    together = xp.zeros((n_words, n_words), dtype=bool)
    together[centers, contexts] = True
    flat = xp.asarray(list(itertools.chain.from_iterable(rows)), dtype=xp.int64)
    counts = xp.bincount(flat, minlength=n_words)[:n_words]
    norms = xp.sqrt((table * table).sum(axis=1))
    words = xp.flatnonzero((counts >= min_count) & (norms > 0))
    if words.shape[0] < 2:
        raise ValueError("neighbour_cooccurrence: fewer than two words to check")
    nearest, _ = nearest_words(table, table[words], 1, b, exclude=words)
    hit = together[words, nearest[:, 0]]
    random = together[words].sum(axis=1) / (n_words - 1)
    return {"words": int(words.shape[0]), "nearest_cooccurs": float(hit.mean()),
            "random_cooccurs": float(random.mean())}
