"""cgan: the adversarial nets of Mirza & Osindero (2014) and Goodfellow et al. (2014) on nn."""

__version__ = "0.1.0"
