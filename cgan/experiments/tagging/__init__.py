"""Automated image tagging with a conditional adversarial net (Mirza & Osindero 2014, 4.2).

* ``config``: TaggingConfig and its defaults per condition;
* ``data``: the MIR Flickr split on the device (image, tag) pairs, word vectors;
* ``train``: a training run through the core loop (``train_tagging``), and loading one;
* ``evaluate``: the paper's tag rule, precision/recall@10, the baselines, tagging a photo.

See docs/tagging.md.
"""
