"""What the one-kernel optimiser updates (nn/fused.py) buy on a GPU, measured alone.

    python experiments/bench_fused.py                     # CuPy (needs a CUDA GPU)
    python experiments/bench_fused.py --backend numpy     # a rehearsal: both paths are the same there
    python experiments/bench_fused.py --json out.json

Rows, each as built (one kernel per parameter) against ``nn.fused.plain_updates()`` (the
optimisers' array expressions), on the conditional MNIST networks of ``cgan bench``
(float32, minibatch 100), with the device synchronised before every clock read:

* one SGD-with-momentum, one Adam and one RMSProp update of the generator's parameters
  (best of --repeat blocks of 20 updates);
* the whole conditional iteration of ``cgan bench`` (D step and G step, SGD), the two
  paths alternated for --rounds rounds of 40 iterations, median ms per iteration.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def timed_ms(fn, backend, inner: int) -> float:
    backend.synchronize()
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    backend.synchronize()
    return 1000.0 * (time.perf_counter() - start) / inner


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("cupy", "numpy"), default="cupy")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args(argv)

    import nn
    from cgan.experiments.mnist.bench import OursIteration

    try:
        it = OursIteration("cgan", args.backend)
    except nn.BackendUnavailable as exc:
        print(f"bench_fused: {exc}", file=sys.stderr)
        return 2
    b = it.b
    g = it.training.pair.generator
    rows = {}

    paths = (("fused", contextlib.nullcontext), ("plain", nn.fused.plain_updates))

    optimisers = {"SGD momentum": lambda: nn.SGD(g.params, g.grads, lr=1e-6, momentum=0.5),
                  "Adam": lambda: nn.Adam(g.params, g.grads, lr=1e-6),
                  "RMSProp": lambda: nn.RMSProp(g.params, g.grads, lr=1e-6)}
    for name, make in optimisers.items():
        opt = make()
        best = {}
        for path, switch in paths:
            with switch():
                opt.step()  # compile, allocate work arrays
                best[path] = min(timed_ms(opt.step, b, 20) for _ in range(args.repeat))
        rows[f"{name} update of G's {g.num_params() / 1e6:.1f} M parameters"] = best

    it.run(5)
    times = {"fused": [], "plain": []}
    for _ in range(args.rounds):
        for path, switch in paths:
            with switch():
                it.run(2)
                times[path].append(timed_ms(lambda: it.run(1), b, 40))
    rows["whole conditional iteration (median of rounds)"] = {k: statistics.median(v) for k, v in times.items()}

    print(f"backend {b.name}, float32; ms, as built (one kernel per update) against the array expressions")
    print(f"{'what':62s} {'fused':>9s} {'plain':>9s}")
    for what, r in rows.items():
        print(f"{what:62s} {r['fused']:9.3f} {r['plain']:9.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"backend": b.name, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
