"""An MNIST classifier built with ``nn``, used to evaluate generated digits.

Two uses: the fraction of conditional samples that the classifier assigns to their
conditioning label (cgan.evaluation.metrics.label_accuracy), and its penultimate-layer
features, whose Frechet distance between generated and real digits measures sample
quality (cgan.evaluation.metrics.frechet_distance).

Architecture (an MLP, trained from scratch with this project's hand-written backward
passes)::

    784 -> Linear 512 -> ReLU -> Dropout(keep 0.8) -> Linear 256 -> ReLU -> Linear 10
                                                                     ^ features (256)

trained with SGD (momentum 0.9, learning rate 0.05 decayed exponentially to 0.005 over the
run), softmax cross-entropy, minibatches of 100, on the 50,000 training images. The
weights are cached with nn.checkpoint (``mnist-classifier-v1.npz``) so that every
evaluation uses the same classifier.

The classifier keeps a random stream of its own (a Backend seeded with ``seed``, with the
caller's array module and dtype), so training it never moves the caller's stream.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import nn
from nn.fileio import FileWriteError
import nn.checkpoint

from ..core.progress import Progress

__all__ = [
    "CACHE_NAME",
    "DEFAULT_EPOCHS",
    "build_classifier",
    "train_classifier",
    "load_or_train_classifier",
    "predict",
    "features",
]

CACHE_NAME = "mnist-classifier-v1.npz"
DEFAULT_EPOCHS = 10
BATCH = 100
KEEP_PROB = 0.8
MOMENTUM = 0.9
LR_START = 0.05
LR_END = 0.005
N_IN, HIDDEN_1, HIDDEN_2, N_CLASSES = 784, 512, 256, 10
FEATURE_LAYERS = 5  # layers up to and including the second ReLU


def _own_backend(backend: nn.Backend, seed: int) -> nn.Backend:
    """A backend like ``backend`` (array module, dtype) with a random stream of its own."""
    if not isinstance(backend, nn.Backend):
        raise TypeError(f"expected an nn.Backend (from nn.get_backend), got {type(backend).__name__}")
    return backend.with_seed(seed)


def build_classifier(backend: nn.Backend) -> nn.Sequential:
    """The untrained MLP 784 -> 512 ReLU -> dropout(keep 0.8) -> 256 ReLU -> 10 logits.

    Weights are drawn from ``backend``'s random stream (He initialisation for the ReLU
    layers); biases start at zero.
    """
    return nn.Sequential(
        nn.Linear(N_IN, HIDDEN_1, backend, init=nn.Gaussian(math.sqrt(2.0 / N_IN))),
        nn.ReLU(backend),
        nn.Dropout(KEEP_PROB, backend),
        nn.Linear(HIDDEN_1, HIDDEN_2, backend, init=nn.Gaussian(math.sqrt(2.0 / HIDDEN_1))),
        nn.ReLU(backend),
        nn.Linear(HIDDEN_2, N_CLASSES, backend, init=nn.Gaussian(math.sqrt(1.0 / HIDDEN_2))),
    )


def _batched(net: nn.Sequential, x, layers: int, batch: int):
    """Run the first ``layers`` layers of ``net`` (evaluation mode) over x in chunks."""
    if batch < 1:
        raise ValueError(f"batch must be positive, got {batch}")
    outputs = []
    for start in range(0, max(x.shape[0], 1), batch):  # an empty x still gives (0, width)
        h = x[start:start + batch]
        for layer in net.layers[:layers]:
            h, _ = layer.forward(h, train=False)
        outputs.append(h)
    return outputs[0] if len(outputs) == 1 else net.backend.xp.concatenate(outputs, axis=0)


def predict(net: nn.Sequential, x, batch: int = 1000):
    """The predicted class of each row of x (n, 784): a backend int64 array of shape (n,)."""
    logits = _batched(net, x, len(net.layers), batch)
    return logits.argmax(axis=1)


def features(net: nn.Sequential, x, batch: int = 1000):
    """Penultimate-layer activations (after the second ReLU): a backend array (n, 256)."""
    return _batched(net, x, FEATURE_LAYERS, batch)


def _accuracy(net, x, y) -> float:
    return int((predict(net, x) == y).sum()) / max(int(y.shape[0]), 1)


def train_classifier(backend: nn.Backend, splits, *, epochs: int = DEFAULT_EPOCHS, seed: int = 0,
                     progress: bool = True):
    """Train the classifier on ``splits.train_x``/``train_y``; return (net, test accuracy).

    Args:
        backend: gives the array module and dtype; the network gets a stream of its own
            seeded with ``seed`` (initialisation, data order and dropout masks).
        splits: an object with host arrays train_x (n, 784) in [0, 1], train_y (n,) and
            test_x, test_y (e.g. cgan.data.mnist.MnistSplits).
        epochs: passes over the training set.
        progress: show a progress bar per epoch on stderr.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be positive, got {epochs}")
    b = _own_backend(backend, seed)
    xp = b.xp
    train_x = b.asarray(splits.train_x)
    train_y = b.asarray(splits.train_y, dtype="int64")
    test_x = b.asarray(splits.test_x)
    test_y = b.asarray(splits.test_y, dtype="int64")
    n = train_x.shape[0]
    if train_x.ndim != 2 or train_x.shape[1] != N_IN or train_y.shape != (n,):
        raise ValueError(
            f"expected train_x of shape (n, {N_IN}) and train_y of shape (n,), got "
            f"{tuple(train_x.shape)} and {tuple(train_y.shape)}"
        )

    net = build_classifier(b)
    steps = -(-n // BATCH)
    decay = (LR_START / LR_END) ** (1.0 / max(steps * epochs - 1, 1))
    opt = nn.SGD(net.params, net.grads, lr=nn.ExponentialDecay(LR_START, decay, LR_END),
                 momentum=MOMENTUM)
    for epoch in range(epochs):
        opt.set_epoch(epoch)
        order = xp.argsort(b.uniform((n,)))
        loop = range(steps)
        bar = Progress(loop, f"classifier epoch {epoch + 1}/{epochs}") if progress else None
        for step in bar if bar is not None else loop:
            idx = order[step * BATCH:(step + 1) * BATCH]
            logits, cache = net.forward(train_x[idx], train=True)
            loss, dlogits = nn.softmax_cross_entropy(logits, train_y[idx])
            net.zero_grads()
            net.backward(dlogits, cache, input_grad=False)
            opt.step()
            if bar is not None and step % 50 == 0:
                bar.set(loss=float(loss), lr=opt.current_lr)
        if bar is not None:
            print(f"classifier epoch {epoch + 1}/{epochs}: test accuracy "
                  f"{_accuracy(net, test_x, test_y):.4f}", file=sys.stderr)
    return net, _accuracy(net, test_x, test_y)


def load_or_train_classifier(backend: nn.Backend, splits, cache_dir, *, progress: bool = True,
                             epochs: int = DEFAULT_EPOCHS, seed: int = 0, write_errors: list | None = None):
    """The cached classifier from ``cache_dir/mnist-classifier-v1.npz``, training it if absent.

    Training writes the weights atomically with nn.checkpoint, with meta
    ``{test_accuracy, epochs, seconds, seed}``. A cached file is loaded as it is (its
    ``epochs`` and ``seed`` win over the arguments); an unreadable one is reported and
    replaced by a fresh training run.

    ``write_errors``: a list that collects the cache file's write failure (the classifier
    is then used without being cached); without it the failure raises.

    Returns:
        (net, info): info is the meta plus ``path`` and ``cached`` (True when loaded).
    """
    path = Path(cache_dir) / CACHE_NAME
    if path.exists():
        net = build_classifier(_own_backend(backend, seed))
        try:
            _, meta = nn.checkpoint.load(path, {"classifier": net})
        except nn.checkpoint.CheckpointError as exc:
            print(f"cgan: ignoring the cached classifier: {exc}; training a new one",
                  file=sys.stderr)
        else:
            return net, {**(meta or {}), "path": str(path), "cached": True}
    start = time.perf_counter()
    net, accuracy = train_classifier(backend, splits, epochs=epochs, seed=seed, progress=progress)
    meta = {"test_accuracy": accuracy, "epochs": int(epochs),
            "seconds": round(time.perf_counter() - start, 2), "seed": int(seed)}
    try:
        nn.checkpoint.save(path, {"classifier": net}, meta=meta)
    except FileWriteError as exc:
        if write_errors is None:
            raise
        write_errors.append(exc)
    return net, {**meta, "path": str(path), "cached": False}
