"""Benchmark of the Parzen-window protocol (cgan.evaluation.parzen) on MNIST-sized data.

    python3 experiments/bench_parzen.py                    # numpy, 10,000 x 10,000 x 10,000
    python3 experiments/bench_parzen.py --backend cupy
    python3 experiments/bench_parzen.py --n 2000 --check 200 --repeat 1   # a quick look

(that script parses the options and calls :func:`run`; ``cgan bench`` runs it in a
process of its own.)

Kernel centres, validation points and test points: with the MNIST files cached
(``cgan.data.mnist.load_mnist(fetch=False)``) the first ``--n`` training digits stand in
for the generator's samples, and the validation and test digits are the points; without
them, uniform random data of the same shape (784-d, in [0, 1]). The output says which.

It reports, best of ``--repeat`` runs (the machine may be shared: the load average is
printed with the figures):

* the whole protocol, ``parzen_evaluate`` (sigma search over the 10 sigmas of the grid on
  the validation points, then the test points at the chosen sigma), with ``--n-valid``
  validation points (default ``--n``), and the original code's protocol, whose sigma
  search used 1,000 validation points (``limit_size=1000`` in ``parzen_ll.py``);
* its two parts alone;
* agreement with a float64 brute force (explicit differences, one point at a time) on
  ``--check`` test points, for every sigma of the grid: largest per-point error and the
  error of the mean, in nats;
* the original code's approach (``theano_parzen``: broadcast differences of shape
  (points, centres, d) in batches of 10 points, one pass per sigma, in float32) timed on
  ``--original-points`` points and extrapolated to the whole protocol, and the speed-up.
Seed: ``--seed`` (default 0) for the random data and the subsets.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from scipy.special import logsumexp

import nn

from ...evaluation.parzen import (
    _BLOCK_BYTES,
    DEFAULT_SIGMAS,
    _block,
    _prepare,
    parzen_evaluate,
    parzen_log_likelihoods,
    select_sigma,
)

ORIGINAL_VALID = 1000  # parzen_ll.py: --limit_size default


def load_data(n: int, n_valid: int, seed: int):
    """(centres, valid, test, description) as host float32 arrays."""
    try:
        from ...data.mnist import load_mnist

        splits = load_mnist(fetch=False, progress=False)
    except Exception as exc:  # module absent, files not cached, or unreadable
        rng = np.random.default_rng(seed)
        shape = lambda m: (m, 784)  # noqa: E731
        data = [rng.random(shape(m), dtype=np.float32) for m in (n, n_valid, n)]
        why = type(exc).__name__ + (f": {str(exc).splitlines()[0][:80]}" if str(exc) else "")
        return (*data, f"uniform random in [0, 1], 784-d (MNIST not available: {why})")
    if n > len(splits.train_x) or n_valid > len(splits.valid_x) or n > len(splits.test_x):
        raise SystemExit(
            f"--n {n} / --n-valid {n_valid} exceed MNIST's splits "
            f"({len(splits.train_x)} train, {len(splits.valid_x)} valid, {len(splits.test_x)} test)"
        )
    return (
        splits.train_x[:n],
        splits.valid_x[:n_valid],
        splits.test_x[:n],
        "MNIST: training digits as centres, validation and test digits as points",
    )


def brute_force(centres, points, sigmas) -> np.ndarray:
    """float64 reference with explicit differences, one point at a time: (len(sigmas), n)."""
    c = np.asarray(centres, dtype=np.float64)
    d2 = np.empty((len(points), len(c)))
    for i, x in enumerate(np.asarray(points, dtype=np.float64)):
        diff = c - x
        d2[i] = np.einsum("ij,ij->i", diff, diff)
    n, d = c.shape
    return np.stack([
        logsumexp(-d2 / (2 * s * s), axis=1) - math.log(n) - 0.5 * d * math.log(2 * math.pi * s * s)
        for s in sigmas
    ])


def original_approach(centres, points, sigma, backend, batch: int = 10):
    """theano_parzen of the original code, on the backend's xp (float32 like floatX)."""
    xp = backend.xp
    out = []
    for start in range(0, points.shape[0], batch):
        x = points[start:start + batch]
        a = (x[:, None, :] - centres[None, :, :]) / sigma
        e = -0.5 * (a**2).sum(axis=2)
        m = e.max(axis=1)
        out.append(m + xp.log(xp.exp(e - m[:, None]).mean(axis=1)))
    z = centres.shape[1] * math.log(sigma * math.sqrt(2 * math.pi))
    return backend.to_numpy(xp.concatenate(out)) - z


def _cpu_idle_fraction(window: float = 1.0) -> float | None:
    """Fraction of the machine's CPU time that was idle over ``window`` seconds (Linux)."""
    try:
        def read():
            fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
            return fields[3] + fields[4], sum(fields)  # idle + iowait, total
        idle0, total0 = read()
        time.sleep(window)
        idle1, total1 = read()
    except (OSError, ValueError, IndexError):
        return None
    return (idle1 - idle0) / max(1, total1 - total0)


WAIT = {"seconds": 0.0, "busy": 0}


def wait_for_idle() -> None:
    """With --wait-idle: wait (up to that many seconds) until other work leaves the CPUs."""
    deadline = time.monotonic() + WAIT["seconds"]
    while time.monotonic() < deadline:
        idle = _cpu_idle_fraction()
        if idle is None or idle >= 0.9:
            return
    if WAIT["seconds"] > 0:
        WAIT["busy"] += 1


def best_of(repeat: int, fn):
    """(best wall seconds, this process's CPU seconds in that run, the last value)."""
    best, value = None, None
    for _ in range(repeat):
        wait_for_idle()
        cpu0, start = time.process_time(), time.perf_counter()
        value = fn()
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
        if best is None or wall < best[0]:
            best = (wall, cpu)
    return best[0], best[1], value


def run(*, backend: str = "numpy", n: int = 10_000, n_valid: int | None = None, check: int = 500,
        original_points: int = 20, repeat: int = 3, chunk_size: int | None = None, seed: int = 0,
        wait_idle: float = 0.0, json_path: str | None = None) -> int:
    """Measure and print; the key figures also go to ``json_path``. Returns 1 when the
    agreement with the brute force is outside 1e-3 nats, 2 when the backend is missing."""
    args = SimpleNamespace(backend=backend, n=n, n_valid=n_valid, check=check, original_points=original_points,
                 repeat=repeat, chunk_size=chunk_size, seed=seed, wait_idle=wait_idle, json=json_path)
    n_valid = args.n if args.n_valid is None else args.n_valid
    WAIT["seconds"] = args.wait_idle

    try:
        backend = nn.get_backend(args.backend, dtype="float32", seed=args.seed)
    except nn.BackendUnavailable as exc:
        print(f"bench_parzen: {exc}", file=sys.stderr)
        return 2
    centres_h, valid_h, test_h, what = load_data(args.n, n_valid, args.seed)
    centres, valid, test = (backend.asarray(a) for a in (centres_h, valid_h, test_h))
    kw = {"chunk_size": args.chunk_size}

    def sync():
        if backend.name == "cupy":
            backend.xp.cuda.Stream.null.synchronize()

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"data:    {what}")
    print(f"sizes:   {args.n} centres, {n_valid} validation points, {args.n} test points, d = 784")
    print(f"machine: {platform.machine()}, {cpus} CPU cores, backend {backend.name} float32, "
          f"numpy {np.__version__}")
    print(f"load average before: {os.getloadavg()[0]:.2f} "
          "(other work on the machine slows every figure)")

    # warm-up (BLAS threads, CuPy kernels)
    parzen_log_likelihoods(centres[:50], valid[:50], DEFAULT_SIGMAS, backend)
    sync()

    rows = []
    t_full, cpu, result = best_of(
        args.repeat, lambda: parzen_evaluate(centres, valid, test, backend, **kw))
    rows.append((f"whole protocol: sigma search on {n_valid} + test on {args.n}", t_full, cpu))
    t_sel, cpu, _ = best_of(args.repeat, lambda: select_sigma(centres, valid, backend, **kw))
    rows.append((f"  sigma search alone ({n_valid} points x 10 sigmas)", t_sel, cpu))

    def test_only():
        ll = parzen_log_likelihoods(centres, test, (result.sigma,), backend, **kw)
        return float(ll.mean())

    t_test, cpu, _ = best_of(args.repeat, test_only)
    rows.append((f"  test alone ({args.n} points x 1 sigma)", t_test, cpu))
    # the protocol's two big matrix products alone (validation, then test, block by block):
    # the floor that no arithmetic outside them can beat
    preps = [(valid, _prepare(centres, valid, backend)), (test, _prepare(centres, test, backend))]
    chunk = args.chunk_size or max(1, _BLOCK_BYTES // (args.n * backend.dtype.itemsize))

    def products():
        for points, prep in preps:
            for start in range(0, points.shape[0], chunk):
                _block(points[start:start + chunk], prep, backend.xp)
        sync()

    t_products, cpu, _ = best_of(args.repeat, products)
    product_flops = sum(2.0 * p.shape[0] * int(prep["live"].shape[0]) * args.n for p, prep in preps)
    rows.append((f"  its two matrix products alone ({product_flops / 1e9:.0f} GFLOP, "
                 f"{product_flops / t_products / 1e9:.0f} GFLOP/s)", t_products, cpu))
    n_orig_valid = min(ORIGINAL_VALID, n_valid)
    t_orig_protocol, cpu, _ = best_of(
        args.repeat, lambda: parzen_evaluate(centres, valid[:n_orig_valid], test, backend, **kw))
    rows.append((f"original protocol: sigma search on {n_orig_valid} + test on {args.n}",
                 t_orig_protocol, cpu))

    # the original code's approach, timed on a few points and extrapolated
    k = min(args.original_points, args.n)
    t_orig, cpu_orig, _ = best_of(
        1, lambda: original_approach(centres, test[:k], result.sigma, backend))
    per_point_sigma = t_orig / k
    orig_full = per_point_sigma * (n_valid * len(DEFAULT_SIGMAS) + args.n)
    orig_orig = per_point_sigma * (n_orig_valid * len(DEFAULT_SIGMAS) + args.n)
    load_after = os.getloadavg()[0]

    print()
    print(f"| {'what':<62} | {'seconds':>8} | {'CPU s':>6} |")
    print(f"| {'-' * 62} | {'-' * 7}: | {'-' * 5}: |")
    for name, t, cpu in rows:
        print(f"| {name:<62} | {t:8.2f} | {cpu:6.1f} |")
    print(f"| {'original approach, measured: ' + str(k) + ' points x 1 sigma':<62} | {t_orig:8.2f} "
          f"| {cpu_orig:6.1f} |")
    print(f"| {'original approach, extrapolated to the whole protocol':<62} | {orig_full:8.0f} | |")
    name = "original approach, extrapolated to the original protocol"
    print(f"| {name:<62} | {orig_orig:8.0f} | |")
    print()
    print(f"speed-up over the original approach: {orig_full / t_full:.0f}x (whole protocol), "
          f"{orig_orig / t_orig_protocol:.0f}x (original protocol)")
    print(f"load average after: {load_after:.2f}" + (
        f"; {WAIT['busy']} timed run(s) started on a busy machine (--wait-idle ran out)"
        if WAIT["busy"] else ""))
    print()
    print(f"result: sigma = {result.sigma:.4f}, test log-likelihood = {result.mean:.2f} "
          f"+- {result.std_error:.2f} nats (standard error), {result.n_points} points")
    means = ", ".join(f"{s:.3f}: {v:.1f}" for s, v in result.validation.items())
    print(f"validation means: {means}")

    # agreement with the float64 brute force
    m = min(args.check, args.n)
    if m > 0:
        start = time.perf_counter()
        ref = brute_force(centres_h, backend.to_numpy(test[:m]), DEFAULT_SIGMAS)
        t_ref = time.perf_counter() - start
        ll = parzen_log_likelihoods(centres, test[:m], DEFAULT_SIGMAS, backend, **kw)
        ll = backend.to_numpy(ll)
        ours_orig = original_approach(centres, test[:min(m, k)], result.sigma, backend)
        k_sigma = DEFAULT_SIGMAS.index(result.sigma)
        err = ll - ref
        print()
        print(f"agreement with the float64 brute force on {m} test points "
              f"(brute force: {t_ref:.1f} s), nats:")
        print(f"| {'sigma':>6} | {'max per-point error':>19} | {'error of the mean':>17} "
              "| chosen |")
        print(f"| {'-' * 5}: | {'-' * 18}: | {'-' * 16}: | ------ |")
        for j, s in enumerate(DEFAULT_SIGMAS):
            mark = "yes" if j == k_sigma else ""
            print(f"| {s:6.3f} | {np.abs(err[j]).max():19.1e} | {err[j].mean():17.1e} | {mark:6} |")
        worst = np.abs(err).max()
        orig_err = np.abs(ours_orig - ref[k_sigma, :len(ours_orig)]).max()
        print(f"worst per-point error over the grid: {worst:.1e} nats "
              f"({'within' if worst <= 1e-3 else 'OUTSIDE'} 1e-3); the original approach in "
              f"float32, for comparison: {orig_err:.1e} nats at the chosen sigma")
    else:
        worst = None
    if args.json:
        from nn.fileio import atomic_write

        with atomic_write(args.json, "w") as f:
            f.write(json.dumps({
                "data": what, "n": args.n, "n_valid": n_valid, "backend": backend.name,
                "protocol_seconds": t_full, "sigma_search_seconds": t_sel, "test_seconds": t_test,
                "original_protocol_seconds": t_orig_protocol, "repeat": args.repeat,
                "products_seconds": t_products, "products_gflop": product_flops / 1e9,
                "original_points": k, "original_extrapolated_seconds": orig_full,
                "speedup": orig_full / t_full, "checked": m,
                "worst_error_nats": None if worst is None else float(worst),
                "test_log_likelihood": result.mean, "sigma": result.sigma,
            }, indent=2))
    if worst is not None and worst > 1e-3:
        return 1
    return 0
