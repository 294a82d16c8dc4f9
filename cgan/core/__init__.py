"""The adversarial core: what every experiment shares, built on nn and nothing else.

* ``pair``: :class:`AdversarialPair`, a generator and a discriminator, conditional or not;
* ``steps``: the objectives (BCE, Wasserstein), the training steps, and the registry of
  update rules (:data:`UPDATES`: alternating, simultaneous, discriminator alone, regression);
* ``noise``: noise distributions and one-hot labels;
* ``streams``: named random streams derived from a run's seed;
* ``optim``: the optimiser settings every experiment shares, and :func:`make_optimizer`;
* ``config``: strict configuration dataclasses (``from_dict``, fields shared by name);
* ``loop``: the one training loop (:func:`train_epoch`) and the NaN guard;
* ``run``: a run directory (config.json, metrics.jsonl, checkpoints, resume) and
  :class:`Run`, the epoch loop around ``train_epoch``;
* ``progress``: a dependency-free progress bar.

The layers and what each may import: docs/architecture.md.
"""
