"""nn: a small neural-network library with hand-written backward passes (no autograd).

Runs on NumPy or CuPy through an explicit :class:`~nn.backend.Backend`. See
docs/backprop.md for the derivation of every backward pass.
"""

from .backend import Backend, BackendUnavailable, available_backends, get_backend
from .batchnorm import BatchNorm
from .blas import add_matmul, axpy, matmul, scale
from .conv import Conv2d, ConvTranspose2d
from .layers import (
    Dropout,
    Embedding,
    Flatten,
    Gaussian,
    Identity,
    Join,
    Layer,
    LeakyReLU,
    Linear,
    Maxout,
    Planes,
    Projection,
    ReLU,
    Reshape,
    Sequential,
    Sigmoid,
    Tanh,
    Uniform,
)
from .losses import (
    bce_with_logits,
    discriminator_loss,
    gan_value,
    generator_loss,
    mse,
    softmax_cross_entropy,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)
from .optim import SGD, Adam, Constant, ExponentialDecay, LinearRamp, RMSProp, clip_column_norms, clip_values

__all__ = [
    "Backend",
    "BackendUnavailable",
    "available_backends",
    "get_backend",
    "Layer",
    "Linear",
    "ReLU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "Maxout",
    "Dropout",
    "Reshape",
    "Flatten",
    "Identity",
    "Planes",
    "Sequential",
    "Join",
    "Projection",
    "Embedding",
    "Conv2d",
    "ConvTranspose2d",
    "BatchNorm",
    "Uniform",
    "Gaussian",
    "bce_with_logits",
    "gan_value",
    "discriminator_loss",
    "generator_loss",
    "mse",
    "softmax_cross_entropy",
    "wasserstein_critic_loss",
    "wasserstein_generator_loss",
    "SGD",
    "Adam",
    "RMSProp",
    "Constant",
    "ExponentialDecay",
    "LinearRamp",
    "clip_column_norms",
    "clip_values",
    "matmul",
    "add_matmul",
    "axpy",
    "scale",
]
