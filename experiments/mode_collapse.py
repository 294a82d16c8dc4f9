"""Mode collapse on a ring of 8 Gaussians: modes covered over training, BCE versus Wasserstein.

    python experiments/mode_collapse.py            # seeds 0,1; writes docs/figures/mode-collapse.png

Data: 8 Gaussians of std 0.05 on a circle of radius 2; noise N(0, I_2); generator and
discriminator (critic) MLPs with two hidden layers of 64 ReLU units; minibatches of 256;
2,500 generator steps through the core's training loop and steps.

* bce: the non-saturating loss, Adam (lr 1e-3, beta1 0.5), k = 1.
* wasserstein c=0.01 (the WGAN paper's clipping) and c=0.1: the critic loss, RMSProp
  (lr 1e-3; the paper's 5e-5 barely moves in 2,500 steps), 5 critic steps per generator step.

Every 250 generator steps, 2,500 samples from fixed noise: a sample is high-quality if it lies
within 3 std (0.15) of a centre, and a mode is covered if at least 1 % of the samples are
high-quality samples of it. See docs/minimax.md.
"""

from __future__ import annotations

import time

import _toy_setup  # first: one BLAS thread, the Agg backend, the import path
import matplotlib.pyplot as plt

from cgan.experiments.toy import minimax

SETTINGS = (("bce", dict(loss="bce")),
            ("wasserstein c=0.01", dict(loss="wasserstein", clip=0.01)),
            ("wasserstein c=0.1", dict(loss="wasserstein", clip=0.1)))
COLORS = {"bce": "tab:blue", "wasserstein c=0.01": "tab:red", "wasserstein c=0.1": "tab:orange"}


def main(argv=None):
    parser = _toy_setup.parser(__doc__, "mode-collapse.png")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--hidden", type=int, default=64, help="hidden units per layer, both networks")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    start = time.perf_counter()
    results = {name: [minimax.ring(seed=seed, steps=args.steps, hidden=args.hidden, **kw) for seed in seeds]
               for name, kw in SETTINGS}

    fig = plt.figure(figsize=(13, 7.5))
    grid = fig.add_gridspec(2, 3)
    for col, (name, _) in enumerate(SETTINGS):
        ax = fig.add_subplot(grid[0, col])
        r = results[name][0]
        s = r["samples"]
        ax.scatter(s[:, 0], s[:, 1], s=2, alpha=0.3, color=COLORS[name])
        ax.scatter(r["centres"][:, 0], r["centres"][:, 1], marker="x", color="k", s=30)
        last = r["history"][-1]
        ax.set_title(f"{name}, seed {seeds[0]}, step {last['step']}:\n{last['covered']} modes, "
                     f"{100 * last['high_quality']:.0f} % high-quality", fontsize=9)
        ax.set_xlim(-3, 3)
        ax.set_ylim(-3, 3)
        ax.set_aspect("equal")
    ax_modes = fig.add_subplot(grid[1, :2])
    ax_hq = fig.add_subplot(grid[1, 2])
    for name, _ in SETTINGS:
        for i, r in enumerate(results[name]):
            steps = [h["step"] for h in r["history"]]
            style = ["-", "--", ":", "-."][i % 4]
            ax_modes.plot(steps, [h["covered"] for h in r["history"]], style, color=COLORS[name],
                          marker="o", ms=3, label=f"{name}, seed {r['seed']}")
            ax_hq.plot(steps, [100 * h["high_quality"] for h in r["history"]], style, color=COLORS[name])
    ax_modes.set_xlabel("generator step")
    ax_modes.set_ylabel("modes covered (of 8)")
    ax_modes.set_ylim(-0.3, 8.3)
    ax_modes.legend(fontsize=7, ncol=3)
    ax_hq.set_xlabel("generator step")
    ax_hq.set_ylabel("% high-quality samples")
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)

    print(f"ring of 8 Gaussians (std {minimax.RING_STD}), {args.steps} generator steps, seeds {seeds}")
    for name, _ in SETTINGS:
        for r in results[name]:
            hist = r["history"]
            trace = " ".join(f"{h['covered']}" for h in hist)
            last = hist[-1]
            print(f"{name:20s} seed {r['seed']}: modes covered every 250 steps: {trace}; final "
                  f"{last['covered']} modes, {100 * last['high_quality']:.1f} % high-quality "
                  f"({r['seconds']:.0f} s)")
    print(f"wrote {args.out}; {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
