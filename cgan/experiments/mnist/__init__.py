"""The MNIST experiment (Mirza & Osindero 2014, section 4.1; Goodfellow et al. 2014).

* ``config``: TrainConfig, the presets (default, paper, original), WGAN's defaults, the
  run's random streams;
* ``train``: a training run (data on the device, the evaluation after every epoch),
  ``train``, ``load_pair``, ``generate``;
* ``evaluate``: ``cgan eval`` (Parzen, label accuracy, Frechet distance) and ``cgan sample``;
* ``bench`` and ``bench_parzen``: ``cgan bench`` (docs/performance.md).
"""
