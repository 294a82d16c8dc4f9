"""The optimal discriminator, C(G) = V(D*, G) and -log 4 + 2 JSD, checked numerically.

    python experiments/minimax_optimal_d.py            # seed 0; writes docs/figures/minimax-optimal-d.png

A discriminator (1 -> 64 -> 64 -> 1, ReLU) is trained with cgan.core.steps.discriminator_step
against a frozen generator of known density, p_g = N(0.5, 1.5^2), the data being
0.4 N(-2, 0.5^2) + 0.6 N(2, 0.7^2). Its D(x) is drawn against D*(x) = p_data / (p_data + p_g).
Then along p_g,t = (1 - t) p_g + t p_data, C(G_t) = V(D*, G_t) and -log 4 + 2 JSD are
evaluated on a grid (24,001 points on [-12, 12]), with V(D_t, G_t) for a discriminator
trained at five values of t. See docs/minimax.md.
"""

from __future__ import annotations

import time

import _toy_setup  # first: one BLAS thread, the Agg backend, the import path
import matplotlib.pyplot as plt

from cgan.experiments.toy import minimax
from cgan.experiments.toy.theory import LOG4


def main(argv=None):
    parser = _toy_setup.parser(__doc__, "minimax-optimal-d.png")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=3000, help="discriminator updates (batch 512)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    r = minimax.optimal_discriminator(seed=args.seed, steps=args.steps)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax = axes[0]
    x = r["x"]
    keep = (x >= -5) & (x <= 6)
    ax.plot(x[keep], r["p_data"][keep], "k", label="p_data")
    ax.plot(x[keep], r["p_g"][keep], "g", label="p_g (frozen)")
    ax.plot(x[keep], r["d_star"][keep], "b--", label="D*(x) = p_data / (p_data + p_g)")
    ax.plot(x[keep], r["d"][keep], "r", alpha=0.7, label=f"trained D(x), {args.steps} steps")
    ax.fill_between(x[keep], 0, 1, where=~r["support"][keep], color="0.9", label="m(x) < 0.05")
    ax.set_title(f"trained D vs D*: max gap {r['max_gap']:.3f} where m(x) >= 0.05")
    ax.set_xlabel("x")
    ax.legend(fontsize=7, loc="upper left")
    ax = axes[1]
    ax.plot(r["ts"], r["curve_c"], "b", lw=3, alpha=0.4, label="C(G) = V(D*, G)")
    ax.plot(r["ts"], [-LOG4 + 2 * j for j in r["curve_jsd"]], "k--", label="-log 4 + 2 JSD(p_data || p_g)")
    ax.plot([f["t"] for f in r["family"]], [f["v_trained"] for f in r["family"]], "ro",
            label="V(D_trained, G)")
    ax.axhline(-LOG4, color="gray", lw=1, ls=":", label="-log 4")
    ax.set_xlabel("t   (p_g = (1 - t) N(0.5, 1.5^2) + t p_data)")
    ax.set_ylabel("nats")
    ax.set_title(f"max |C(G) - (-log 4 + 2 JSD)| = {r['identity_error']:.1e}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)

    print(f"seed {args.seed}, {args.steps} discriminator steps of batch 512")
    print(f"largest |D - D*| where m(x) >= 0.05: {r['max_gap']:.4f} (at x = {r['max_gap_at']:.2f}); "
          f"mass-weighted mean gap {r['mean_gap']:.4f}")
    print(f"C(G) = V(D*, G) = {r['c_g']:.6f}; -log 4 + 2 JSD = {r['minus_log4_plus_2jsd']:.6f} "
          f"(JSD {r['jsd']:.6f}); V(D_trained, G) = {r['v_trained']:.6f}")
    print(f"largest |C(G_t) - (-log 4 + 2 JSD_t)| over 41 values of t: {r['identity_error']:.2e}")
    for f in r["family"]:
        print(f"  t = {f['t']:.2f}: C(G) = {f['c_g']:.4f}, V(D_trained, G) = {f['v_trained']:.4f}")
    print(f"-log 4 = {-LOG4:.6f}; wrote {args.out}; {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
