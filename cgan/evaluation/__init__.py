"""Measuring generated samples.

* ``parzen``: the Gaussian Parzen-window log-likelihood of the GAN papers (Table 1);
* ``classifier``: an MNIST classifier built with nn, to read generated digits;
* ``metrics``: label accuracy under that classifier, and the Frechet distance;
* ``plots``: sample grids and training curves as PNG files (matplotlib, Agg).
"""
