"""The minimax objective seen in small problems (docs/minimax.md), and the demo.

* ``theory``: densities known in closed form, the optimal discriminator, the value
  function, the Jensen-Shannon divergence, C(G), kernel density estimates, the ring's modes;
* ``train``: the core loop on toy data (``train_toy``), D's probabilities, the generator's
  gradient under both losses;
* ``minimax``: the four experiments (optimal D, Figure 1, saturation, the ring);
* ``demo``: ``cgan demo``, a 1-D GAN in seconds.
"""
