"""Datasets: readers, fetchers and splits (file I/O lives here, on the host).

* ``mnist``: reading the IDX files, the papers' splits;
* ``mnist_fetch``: where the MNIST files live; fetching them (mirrors, npm), SHA-256;
* ``mirflickr``: MIR Flickr 25k's lists, tags, labels and image features;
* ``features``: EfficientNet-Lite0 features of any photo (the optional ``features`` extra).
"""
