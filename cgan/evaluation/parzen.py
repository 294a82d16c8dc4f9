"""Gaussian Parzen-window log-likelihood, as in the original GAN evaluation.

The estimator of Goodfellow et al. (2014) (``theano_parzen`` in their ``parzen_ll.py``):
with kernel centres ``mu_1 .. mu_N`` in R^d (generator samples: 10,000 of them, or 1,000
per class for the conditional model) and bandwidth ``sigma``,

    log p(x) = logsumexp_i( -||x - mu_i||^2 / (2 sigma^2) ) - log N - (d/2) log(2 pi sigma^2)

in nats. ``sigma`` is chosen on a validation set from a grid (the original: 10 values
log-spaced in [0.1, 1], :data:`DEFAULT_SIGMAS`); the test set's mean and its standard
error ``std / sqrt(n)`` (population std, as ``numpy.std`` in the original) are reported.

Every function takes an :class:`nn.Backend` and arrays of that backend (NumPy or CuPy, in
the backend's dtype); all array math goes through ``backend.xp``.

How it is computed
------------------
Points are processed in chunks of rows, so memory stays bounded: a chunk's block is
``chunk_size x N`` (by default 8 MiB: 209 x 10,000 in float32; the other buffers are
smaller). For a chunk:

1. **One matrix product** gives ``E_j = x'.c'_j - ||c'_j||^2 / 2`` (``x'``, ``c'``: the
   shifted data, below), so that ``||x - mu_j||^2 = ||x'||^2 - 2 E_j``. The block does
   not depend on sigma: the whole grid is evaluated from it, so the sigma search costs
   one pass over the data, not one per sigma.
2. **Stable log-sum-exp.** The nearest centre ``j* = argmax_j E_j`` is the shift: every
   term is ``exp(-s a_j)`` with ``s = 1 / (2 sigma^2)`` and ``a_j = 2 (E_j* - E_j) >= 0``,
   so the nearest centre's term is exactly 1 and nothing overflows. The nearest squared
   distance itself is recomputed exactly (below), so
   ``log p = -s d_near + log sum_j exp(-s a_j) - log N - (d/2) log(2 pi sigma^2)``.
   Squared distances are never negative by construction (no clamping needed): ``a_j`` is
   measured from the row's maximum, and ``d_near`` is a sum of squares.
3. **Negligible terms are skipped.** A term with ``s a_j > 25`` is below ``e^-25 =
   1.4e-11`` of the nearest one; dropping all of them changes log p by less than
   ``N e^-25`` (1.4e-7 nats for N = 10,000). On MNIST almost every centre is that far
   from a point at every sigma of the grid but the largest (0.01 % of a 10k x 10k block
   matters at sigma = 0.1, 13 % at sigma = 1), and NumPy's ``exp`` costs ~4-6 ns per
   element on this CPU, more than the matrix product per entry. So the sigmas are taken
   from the largest down: while many terms matter (over 20 % of the block) ``exp`` runs
   over the whole block; after that the surviving terms are gathered once
   (``flatnonzero``), each smaller sigma filters that shrinking list further, and the
   row sums come from ``bincount`` (float64). On NumPy this row-wise work is split over
   the CPU cores with threads (NumPy releases the GIL in its loops); the product uses
   all cores through BLAS. On CuPy ``exp`` is cheap and gathers cost synchronisations,
   so the block is always evaluated densely there.

Cost: the matrix product dominates: ``2 n N d'`` flops per call, ``d'`` = the columns
that vary over the points (668 of 784 for MNIST's test digits). Measured with
``experiments/bench_parzen.py`` on the 2-core development CPU (AMD EPYC, float32 GEMM at
~64 GFLOP/s, idle machine), 10,000 training digits as centres:

* 10,000 test digits at one sigma: 2.1 s; 10,000 validation digits, whole grid: 2.5 s;
* the whole protocol with 10,000 validation points: 4.8 s (the two products alone need
  ~4.2 s at the GEMM's peak); with the original code's 1,000 validation points
  (``limit_size`` in ``parzen_ll.py``): 2.5 s;
* the original code's approach (broadcast differences, one pass per sigma) would take
  ~2.3 hours for the former, ~25 minutes for the latter.

Precision (float32 backends)
----------------------------
``||x||^2 + ||mu||^2 - 2 x.mu`` cancels: MNIST squared norms are ~100 while
nearest-neighbour squared distances are ~25, and a float32 product over 784 terms is off
by up to ~1e-4, which sigma = 0.1 (``s = 50``) turns into several 1e-3 nats. Measures:

* **Shifting.** Both sets are shifted by the centres' mean before the float32 product
  (``||x - mu|| = ||x' - c'||`` for any common shift), which halves the magnitudes that
  cancel. Columns in which every point has the same value (MNIST's empty border: ~15 %
  of the pixels) are shifted by that value instead, so the shifted points are exactly 0
  there and those columns are left out of the product: exact, and ~15 % fewer flops.
* **The nearest distance is exact.** ``||x - mu_j*||^2`` is recomputed in float64 by
  explicit differences (one row per point: cheap) and used as the log-sum-exp shift, so
  the dominant term carries no float32 error; only the differences ``a_j`` to the other
  centres do, and they are weighted by ``exp(-s a_j) <= 1``.
* The centre norms are summed in float64 (and rounded once into the block); the nearest
  distance, the row sums, the logarithms and the constants are float64.

Measured against a float64 brute force (explicit differences, scipy ``logsumexp``): the
first 500 MNIST test digits against the first 10,000 training digits as centres, float32
data, in nats (``experiments/bench_parzen.py`` prints the last row for the whole grid):

==================================  =========================  ===================
scheme (float32 product)            worst per-point error      error of the mean
                                    sigma = 0.1 / 0.167 / 1    (worst over grid)
==================================  =========================  ===================
plain ``|x|^2 + |mu|^2 - 2 x.mu``   4.5e-3 / 1.6e-3 / 5.1e-5   2e-4
shifted by the centres' mean        2.7e-3 / 9.7e-4 / 2.3e-5   3e-4
shifted + exact nearest (this)      3.5e-4 / 1.4e-4 / 1.1e-5   1e-6
==================================  =========================  ===================

Uniform random data in [0, 1] (1,000 centres, 300 points): worst 3.7e-5 nats. The
float64 backend computes the product in float64; its error is the skipped tail and
rounding, below 1e-8 nats.
"""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import nn

__all__ = [
    "DEFAULT_SIGMAS",
    "ParzenResult",
    "parzen_log_likelihoods",
    "select_sigma",
    "parzen_evaluate",
]

#: The original sigma grid: ``numpy.logspace(-1, 0, 10)``.
# (written as numpy's linspace computes the exponents, so the values are equal to the bit)
DEFAULT_SIGMAS: tuple[float, ...] = tuple(10.0 ** (k * (1.0 / 9.0) - 1.0) for k in range(9)) + (
    1.0,
)

# A term exp(-t) with t > _TAIL is dropped: it is below e^-25 = 1.4e-11 of the largest.
_TAIL = 25.0
# Above this fraction of surviving terms, exp runs over the whole block (CPU).
_DENSE_FRACTION = 0.2
# Default block size in bytes (chunk_size = this // (number of centres * itemsize)).
# 8 MiB keeps a training run under 300 MB: its peak, in the per-epoch evaluation, was
# 276 MB with 8 MiB blocks (294 MB since Adam keeps work arrays), 311 MB with 16 MiB and
# 370 MB with 64 MiB, for a protocol about 5 % slower than with 64 MiB
# (docs/performance.md).
_BLOCK_BYTES = 8 << 20


@dataclass
class ParzenResult:
    """Outcome of :func:`parzen_evaluate`.

    Attributes:
        sigma: the bandwidth chosen on the validation set.
        mean: mean test log-likelihood, in nats.
        std_error: its standard error, ``std(ll) / sqrt(n_points)``.
        n_points: number of test points.
        validation: sigma -> mean validation log-likelihood (nats), for the whole grid.
        seconds: wall-clock time of the whole protocol (sigma search and test).
    """

    sigma: float
    mean: float
    std_error: float
    n_points: int
    validation: dict[float, float] = field(default_factory=dict)
    seconds: float = 0.0


# -- input checks ---------------------------------------------------------------------
def _check_sigmas(sigmas) -> tuple[float, ...]:
    try:
        values = tuple(float(s) for s in sigmas)
    except (TypeError, ValueError):
        raise ValueError(f"sigmas must be a sequence of positive numbers, got {sigmas!r}") from None
    if not values:
        raise ValueError("sigmas is empty: give at least one bandwidth")
    bad = [s for s in values if not (math.isfinite(s) and s > 0.0)]
    if bad:
        raise ValueError(f"every sigma must be positive and finite, got {bad}")
    return values


def _check_array(a, name: str, backend: nn.Backend) -> None:
    backend.check(a, f"Parzen estimator ({name})")
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n, d), got shape {tuple(a.shape)}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(a.shape)}): need n >= 1 and d >= 1")


def _check_inputs(centres, points, backend: nn.Backend, points_name: str = "points") -> None:
    _check_array(centres, "centres", backend)
    _check_array(points, points_name, backend)
    if centres.shape[1] != points.shape[1]:
        raise ValueError(
            f"centres and {points_name} differ in dimension: centres are "
            f"{centres.shape[1]}-d, {points_name} {points.shape[1]}-d"
        )
    xp = backend.xp
    for a, name in ((centres, "centres"), (points, points_name)):
        if not bool(xp.isfinite(a).all()):
            raise ValueError(f"{name} contains NaN or infinite values")


# -- the estimator --------------------------------------------------------------------
def _prepare(centres, points, backend: nn.Backend):
    """Shift, live columns and centre norms shared by every chunk of ``points``."""
    xp = backend.xp
    f64 = xp.float64
    shift = centres.mean(axis=0, dtype=f64)
    # Columns in which every point has the same value: shift by that value, so that the
    # shifted points are exactly 0 there and the product can skip those columns.
    constant = (points == points[0:1]).all(axis=0)
    shift = xp.where(constant, points[0].astype(f64), shift).astype(backend.dtype)
    live = xp.flatnonzero(~constant)
    c_live = xp.take(centres, live, axis=1)  # take: much faster than [:, live]
    c_live -= shift[live]
    # ||c'||^2 / 2 over every column (squares rounded once, summed in float64), a few
    # thousand centres at a time: a whole shifted copy of the centres would add 31 MB to a
    # training run's peak memory (docs/performance.md)
    half_sq = xp.empty(centres.shape[0], dtype=f64)
    for start in range(0, centres.shape[0], 2048):
        c_shifted = centres[start:start + 2048] - shift
        half_sq[start:start + 2048] = 0.5 * (c_shifted * c_shifted).sum(axis=1, dtype=f64)
    return {
        "shift_live": shift[live],
        "live": live,
        "c_live": c_live,
        "half_sq": half_sq.astype(backend.dtype),
    }


def _threads(backend: nn.Backend) -> int:
    """Threads for the row-wise work: the CPU cores (NumPy), 1 on a GPU."""
    if backend.name != "numpy":
        return 1
    try:
        return max(1, min(4, len(os.sched_getaffinity(0))))
    except (AttributeError, OSError):
        return max(1, min(4, os.cpu_count() or 1))


def _block(x, prep, xp):
    """E = x'.c' - ||c'||^2/2 for a chunk of points: ||x - mu_j||^2 = ||x'||^2 - 2 E_j."""
    x_live = xp.take(x, prep["live"], axis=1)
    x_live -= prep["shift_live"]
    e = x_live @ prep["c_live"].T
    e -= prep["half_sq"]
    return e


def _rows_log_sums(centres, x, e, order, sigmas, backend, dense_only):
    """log sum_j exp(-s ||x_i - mu_j||^2) for every sigma (s = 1/(2 sigma^2)).

    ``x`` are rows of points and ``e`` their rows of the block. Returns (len(sigmas), r).
    """
    xp = backend.xp
    f64 = xp.float64
    r, n_centres = e.shape
    nearest = e.argmax(axis=1)
    e_near = e[xp.arange(r), nearest]
    # the nearest squared distance, exactly (explicit differences in float64)
    diff = x.astype(f64) - centres[nearest].astype(f64)
    d_near = (diff * diff).sum(axis=1)
    del diff

    out = xp.empty((len(sigmas), r), dtype=f64)
    mask = None
    gathered = None  # (a, rows) of the surviving terms once the block went sparse
    for k in order:  # largest sigma first: the surviving terms shrink as sigma does
        s = 1.0 / (2.0 * sigmas[k] ** 2)
        if gathered is None:
            # term j survives while s a_j < _TAIL, a_j = 2 (E_near - E_j)
            count = None
            if not dense_only:
                if mask is None:
                    mask = xp.empty(e.shape, dtype=bool)
                xp.greater(e, (e_near - _TAIL / (2.0 * s))[:, None], out=mask)
                count = int(xp.count_nonzero(mask))
            if count is None or count > _DENSE_FRACTION * e.size:
                t = e - e_near[:, None]
                t *= 2.0 * s
                xp.exp(t, out=t)
                out[k] = xp.log(t.sum(axis=1, dtype=f64)) - s * d_near
                del t
                continue
            idx = xp.flatnonzero(mask)
            rows = idx // n_centres
            a = e.ravel()[idx]
            del idx
            a -= e_near[rows]
            a *= -2.0
            gathered = (a, rows)
        else:
            a, rows = gathered
            keep = xp.flatnonzero(a < _TAIL / s)  # (faster than boolean indexing)
            a, rows = a[keep], rows[keep]
            gathered = (a, rows)
        sums = xp.bincount(rows, weights=xp.exp(a * -s), minlength=r)
        out[k] = xp.log(sums) - s * d_near
    return out


def parzen_log_likelihoods(centres, points, sigmas, backend: nn.Backend, *, chunk_size=None):
    """Per-point Parzen-window log-likelihoods, in nats, for every bandwidth.

    Args:
        centres: (N, d) kernel centres (generator samples), an array of ``backend``.
        points: (n, d) points to evaluate, an array of ``backend``.
        sigmas: the bandwidths (positive).
        backend: the :class:`nn.Backend` of the arrays.
        chunk_size: points per block (memory ~ ``chunk_size * N`` elements); by default
            an 8 MiB block: ``2**21 // N`` points in float32 (209 for N = 10,000),
            half that in float64.

    Returns:
        A float64 array of ``backend``, shape ``(len(sigmas), n)``: ``log p(points[i])``
        under the kernel density with bandwidth ``sigmas[k]`` at ``[k, i]``.
    """
    sigmas = _check_sigmas(sigmas)
    _check_inputs(centres, points, backend)
    n, d = points.shape
    n_centres = centres.shape[0]
    if chunk_size is None:
        chunk_size = max(1, _BLOCK_BYTES // (n_centres * backend.dtype.itemsize))
    else:
        try:
            ok = not isinstance(chunk_size, (bool, str)) and int(chunk_size) == chunk_size >= 1
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        chunk_size = int(chunk_size)
    chunk_size = min(chunk_size, n)

    xp = backend.xp
    prep = _prepare(centres, points, backend)
    order = sorted(range(len(sigmas)), key=lambda k: -sigmas[k])
    dense_only = backend.name == "cupy"
    out = xp.empty((len(sigmas), n), dtype=xp.float64)
    threads = _threads(backend)
    pool = ThreadPoolExecutor(threads) if threads > 1 else None
    try:
        for start in range(0, n, chunk_size):
            stop = min(n, start + chunk_size)
            x = points[start:stop]
            e = _block(x, prep, xp)
            # the row-wise work after the product is single-threaded in NumPy: split the
            # rows over the cores (NumPy releases the GIL in its loops)
            cuts = [start + (stop - start) * i // threads for i in range(threads + 1)]
            parts = [(a, b) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]

            def work(part, x=x, e=e, start=start):
                a, b = part
                return a, b, _rows_log_sums(
                    centres, x[a - start:b - start], e[a - start:b - start], order, sigmas,
                    backend, dense_only,
                )

            results = pool.map(work, parts) if pool is not None else map(work, parts)
            for a, b, values in results:
                out[:, a:b] = values
            del e
    finally:
        if pool is not None:
            pool.shutdown()
    log_norm = [math.log(n_centres) + 0.5 * d * math.log(2.0 * math.pi * s * s) for s in sigmas]
    out -= xp.asarray(log_norm, dtype=xp.float64)[:, None]
    return out


def select_sigma(centres, valid_points, backend: nn.Backend, sigmas=DEFAULT_SIGMAS, **kw):
    """Choose the bandwidth with the highest mean validation log-likelihood.

    Returns:
        ``(best_sigma, validation)``: the sigma (the first one on ties) and a dict
        sigma -> mean validation log-likelihood in nats, over the whole grid.
    """
    sigmas = _check_sigmas(sigmas)
    ll = parzen_log_likelihoods(centres, valid_points, sigmas, backend, **kw)
    means = [float(v) for v in ll.mean(axis=1).tolist()]
    best = max(range(len(sigmas)), key=lambda k: means[k])
    return sigmas[best], dict(zip(sigmas, means))


def parzen_evaluate(
    centres, valid_points, test_points, backend: nn.Backend, sigmas=DEFAULT_SIGMAS, **kw
) -> ParzenResult:
    """The whole protocol: sigma search on ``valid_points``, then the test log-likelihood.

    Returns:
        A :class:`ParzenResult`: the chosen sigma, the test mean and its standard error
        ``std / sqrt(n)`` in nats, the validation means of the grid and the seconds taken.
    """
    start = time.perf_counter()
    sigmas = _check_sigmas(sigmas)
    _check_inputs(centres, valid_points, backend, "valid_points")
    _check_inputs(centres, test_points, backend, "test_points")
    best, validation = select_sigma(centres, valid_points, backend, sigmas, **kw)
    ll = parzen_log_likelihoods(centres, test_points, (best,), backend, **kw)[0]
    n = int(ll.shape[0])
    mean = float(ll.mean())
    std_error = float(ll.std()) / math.sqrt(n)
    return ParzenResult(
        sigma=best,
        mean=mean,
        std_error=std_error,
        n_points=n,
        validation=validation,
        seconds=time.perf_counter() - start,
    )
