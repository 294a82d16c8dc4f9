"""Figure 1 of Goodfellow et al. (2014) redrawn from a real run of a 1-D GAN built with nn.

    python experiments/minimax_figure1.py      # seed 0; writes docs/figures/minimax-figure1.png

Data N(1.5, 0.5^2); z ~ U[-1, 1]; generator and discriminator MLPs (32 ReLU units, two
hidden layers), Adam (lr 3e-4, beta1 0.5), k = 1, the non-saturating loss, minibatches of
256, through the core's training loop and steps. At four moments: p_data (black), p_g (green,
a kernel density estimate from 20,000 samples), D(x) (blue dashed) and D* computed from
p_data and that estimate (thin grey, where m = (p_data + p_g) / 2 >= 0.05). See docs/minimax.md.
"""

from __future__ import annotations

import time

import _toy_setup  # first: one BLAS thread, the Agg backend, the import path
import matplotlib.pyplot as plt

from cgan.experiments.toy import minimax


def main(argv=None):
    parser = _toy_setup.parser(__doc__, "minimax-figure1.png")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--moments", default="0,150,400,1500", help="steps to draw (4, comma-separated)")
    args = parser.parse_args(argv)
    moments = tuple(int(m) for m in args.moments.split(","))
    start = time.perf_counter()
    r = minimax.figure1(seed=args.seed, moments=moments)
    fig, axes = plt.subplots(1, len(moments), figsize=(3.6 * len(moments), 3.2), sharey=True)
    x = r["x"]
    for ax, snap, letter in zip(axes, r["snapshots"], "abcd"):
        ax.plot(x, r["p_data"], "k", label="p_data")
        ax.plot(x, snap["p_g"], "g", label="p_g")
        d_star = snap["d_star"].copy()
        d_star[~snap["support"]] = float("nan")   # undefined where both densities vanish
        ax.plot(x, d_star, color="0.5", lw=0.8, label="D* where m(x) >= 0.05")
        ax.plot(x, snap["d"], "b--", label="D(x)")
        ax.set_title(f"({letter}) step {snap['step']}", fontsize=10)
        ax.set_ylim(0, 1.6)
        ax.set_xlabel("x")
    axes[0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)
    print(f"seed {args.seed}; data N(1.5, 0.5^2)")
    for s in r["snapshots"]:
        print(f"step {s['step']:5d}: p_g mean {s['g_mean']:6.3f} std {s['g_std']:.3f}; "
              f"JSD(p_data || p_g) {s['jsd']:.3f} nats; D at x = 1.5: {s['d_at_data_mean']:.3f}; "
              f"max |D - D*| where m >= 0.05: {s['max_gap']:.3f}")
    print(f"wrote {args.out}; {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
