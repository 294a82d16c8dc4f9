"""The experiments, each composing the core, the models, the data and the evaluation:

* ``mnist``: the papers' MNIST experiment (cgan train/eval/sample), and the benchmark;
* ``tagging``: image tagging on MIR Flickr (cgan train-tagging/eval-tagging/tag);
* ``toy``: the minimax objective seen in small problems (docs/minimax.md), and the demo.

An experiment imports the layers below it, never another experiment
(docs/architecture.md; tests/test_architecture.py).
"""
