"""The networks, built from nn layers, paired with cgan.core.pair.AdversarialPair.

* ``mnist``: the papers' MNIST generators and discriminators, conditional and not;
* ``tagging``: the image-tagging generator and discriminator (MIR Flickr);
* ``toy``: small MLPs for the 1-D and 2-D problems and the demo, and a frozen generator
  of known density;
* ``wordvec``: skip-gram word vectors with negative sampling (the tagging experiment's
  word space).
"""
