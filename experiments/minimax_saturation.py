"""Saturation: the generator's gradient under log(1 - D(G(z))) versus -log D(G(z)).

    python experiments/minimax_saturation.py     # seed 0; writes docs/figures/minimax-saturation.png

Left: the analytic gradients with respect to the discriminator's logit a, as functions of
D(G(z)) = sigmoid(a): d/da log(1 - sigmoid(a)) = -D and d/da [-log sigmoid(a)] = -(1 - D).
Middle: measured through the actual networks of a 1-D GAN (data N(1.5, 0.5^2), generator
starting near -4) while the discriminator alone trains (SGD, lr 0.05, momentum 0.5): the
norm of the generator's parameter gradient under each loss, against the mean D(G(z)) over
512 fixed noise draws, with the analytic ratio D / (1 - D). Right: from the same point, one
run with each loss (SGD, both networks): the generator's mean over training. See
docs/minimax.md.
"""

from __future__ import annotations

import time

import _toy_setup  # first: one BLAS thread, the Agg backend, the import path
import matplotlib.pyplot as plt
import numpy as np

from cgan.experiments.toy import minimax


def main(argv=None):
    parser = _toy_setup.parser(__doc__, "minimax-saturation.png")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-steps", type=int, default=2000)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    r = minimax.saturation(seed=args.seed, run_steps=args.run_steps)

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    ax = axes[0]
    d = np.logspace(-6, 0, 200)[:-1]
    ax.loglog(d, d, "r", label="log(1 - D(G(z))): |dL/da| = D")
    ax.loglog(d, 1 - d, "b", label="-log D(G(z)): |dL/da| = 1 - D")
    # measured per sample, through the networks: |dL/dG(z)| / |da/dG(z)| for each loss
    first = r["pretrain"][-1]
    ratio_s = first["per_sample_saturating"] / np.maximum(first["per_sample_nonsaturating"], 1e-30)
    ax.loglog(first["d_fake_samples"], ratio_s * (1 - first["d_fake_samples"]), "r.", ms=3,
              label="measured, saturating (per sample)")
    ax.set_xlabel("D(G(z))")
    ax.set_ylabel("|dL/d logit|")
    ax.set_title("analytic gradients at the logit")
    ax.legend(fontsize=7)

    ax = axes[1]
    dm = np.array([m["d_fake"] for m in r["pretrain"]])
    sat = np.array([m["saturating"] for m in r["pretrain"]])
    non = np.array([m["nonsaturating"] for m in r["pretrain"]])
    ax.loglog(dm, sat, "ro-", label="||grad_G|| under log(1 - D(G(z)))")
    ax.loglog(dm, non, "bo-", label="||grad_G|| under -log D(G(z))")
    ax.loglog(dm, sat / non, "k^", label="measured ratio")
    ax.loglog(dm, dm / (1 - dm), "k--", lw=1, label="D / (1 - D)")
    ax.set_xlabel("mean D(G(z)) while D trains alone")
    ax.set_title("generator gradient norm, measured")
    ax.legend(fontsize=7)

    ax = axes[2]
    for name, color in (("saturating", "r"), ("nonsaturating", "b")):
        trace = np.array(r["runs"][name]["trace"])
        ax.plot(trace[:, 0], trace[:, 1], color, label=f"{name}")
    ax.axhline(minimax.DATA_MEAN, color="k", ls=":", lw=1, label="data mean")
    ax.set_xlabel("training step (SGD, both networks)")
    ax.set_ylabel("mean of G(z)")
    ax.set_title("a run with each loss from the same start")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)

    print(f"seed {args.seed}; generator starts near -4, data N(1.5, 0.5^2)")
    print("discriminator trained alone (SGD lr 0.05, momentum 0.5): step, mean D(G(z)), "
          "||grad_G|| saturating, non-saturating, ratio, D/(1-D)")
    for m in r["pretrain"]:
        print(f"  {m['step']:4d}  {m['d_fake']:.2e}  {m['saturating']:.3e}  {m['nonsaturating']:.3e}  "
              f"{m['saturating'] / m['nonsaturating']:.2e}  {m['d_fake'] / (1 - m['d_fake']):.2e}")
    for name, run in r["runs"].items():
        trace = run["trace"]
        at = {s: m for s, m, _ in trace}
        print(f"{name:14s}: mean of G(z) at steps 0/100/500/1000/{trace[-1][0]}: "
              + " / ".join(f"{at[s]:.2f}" for s in (0, 100, 500, 1000, trace[-1][0]) if s in at)
              + f"; first within 0.25 of the data mean at step {run['first_within_0.25']}")
    print(f"wrote {args.out}; {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
