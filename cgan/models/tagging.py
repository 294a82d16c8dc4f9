"""The image-tagging networks (Mirza & Osindero 2014, section 4.2), input widths following
the data:

    generator      z (noise_dim, Gaussian) -> 500 ReLU;  condition -> 2000 ReLU;
                   joined (2500) -> [dropout] -> linear word_dim (a word vector)
    discriminator  x (word_dim, a word vector) -> 500 ReLU;  condition -> 1200 ReLU;
                   joined (1700) -> dropout -> maxout 1000 units x 3 pieces -> dropout -> 1
                   (a logit: the sigmoid lives in the loss, nn.losses)

Weights start in U[-g_irange, g_irange] (generator) and U[-d_irange, d_irange]
(discriminator), biases at zero.

Options beyond the paper (NetConfig): ``g_output="unit"`` ends the generator with
:class:`UnitNorm`, so its samples lie on the unit sphere like the (unit) tag vectors it
imitates, and a discriminator cannot tell them apart by length alone; ``instance_noise``
adds Gaussian noise to its samples in training (:class:`GaussianNoise`; the experiment adds
the same noise to the real tag vectors), so that the discriminator cannot win by telling
the 1,386 exact tag vectors from anything near them; ``g_output="vocab"`` ends it with
one logit per vocabulary word and :class:`VocabMixture` (the softmax-weighted mean of the
word vectors), then :class:`UnitNorm`, so that a sample can be exactly a tag vector (a
peaked softmax) as every real one is, where a free linear output lands between words whose
nearest neighbours are nobody's tags; ``g_output="gumbel"`` adds Gumbel noise to those
logits, so that G is a categorical distribution over the vocabulary given the image, and
each sample (nearly, at a low ``temperature``) one tag vector drawn from it;
``g_output="gumbel_hard"`` makes each sample exactly that tag vector (straight-through),
so that the discriminator can tell G's samples from real ones only by which tag they are
for which image. The multi-label
classifier baseline (:func:`tagging_classifier`) is the generator's condition branch
(condition -> 2000 ReLU) -> dropout -> linear, one logit per tag, behind
:class:`IgnoreNoise` so that it is called like a generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import nn

from ..core.pair import AdversarialPair

__all__ = ["NetConfig", "G_OUTPUTS", "VOCAB_OUTPUTS", "UnitNorm", "VocabMixture", "GaussianNoise", "IgnoreNoise", "tagging_generator", "tagging_discriminator",
           "tagging_classifier", "build_pair", "build_classifier"]

G_OUTPUTS = ("linear", "unit", "vocab", "gumbel", "gumbel_hard")
VOCAB_OUTPUTS = ("vocab", "gumbel", "gumbel_hard")   # the outputs that mix the vocabulary's vectors


class UnitNorm(nn.Layer):
    """Each row scaled to unit length: y = x / r, r = sqrt(|x|^2 + eps).

    Derivative: dL/dx = (dL/dy - y (y . dL/dy)) / r (the component of dL/dy along y is
    removed: moving x along itself does not move y).
    """

    def __init__(self, backend: nn.Backend, eps: float = 1e-12):
        super().__init__(backend)
        self.eps = float(eps)

    def __repr__(self) -> str:
        return "UnitNorm()"

    def forward(self, x, train: bool = True):
        self.backend.check(x, repr(self))
        xp = self.backend.xp
        r = xp.sqrt((x * x).sum(axis=1, keepdims=True) + self.backend.dtype.type(self.eps))
        y = x / r
        return y, (y, r)

    def backward(self, dy, cache, *, param_grads: bool = True, input_grad: bool = True):
        if not input_grad:
            return None
        y, r = cache
        return (dy - y * (y * dy).sum(axis=1, keepdims=True)) / r


class VocabMixture(nn.Layer):
    """Logits over the vocabulary to the softmax-weighted mean of its word vectors:
    p = softmax((l + g) / tau), y = p V, with V (n_words, word_dim) fixed (not trained),
    temperature tau, and g = 0, or with ``gumbel=True`` g ~ Gumbel(0, 1) per logit, drawn in
    training and evaluation alike: then argmax p is a draw from the categorical distribution
    softmax(l), and a small tau makes p nearly that one-hot draw (the Gumbel-softmax
    relaxation, Jang et al. 2017; Maddison et al. 2017). With ``hard=True`` (straight-through)
    the output is exactly the vector of the word argmax p, y = V[argmax p], so that no sample
    differs from a real tag vector by lying between words, and backward is the soft one's.

    Derivative: dL/dp = dL/dy V^T, and through the softmax
    dL/dl = p * (dL/dp - (p . dL/dp)) / tau (row-wise; g does not depend on l). With
    ``hard``, this is the straight-through estimate: the derivative of the soft output.
    """

    def __init__(self, vectors, backend: nn.Backend, *, temperature: float = 1.0, gumbel: bool = False,
                 hard: bool = False):
        super().__init__(backend)
        if vectors is None or len(vectors.shape) != 2:
            raise ValueError("VocabMixture needs the (n_words, word_dim) word vectors")
        if not temperature > 0:
            raise ValueError(f"VocabMixture's temperature must be > 0, got {temperature}")
        self.vectors = backend.asarray(vectors)
        self.temperature = float(temperature)
        self.gumbel = bool(gumbel)
        self.hard = bool(hard)

    def __repr__(self) -> str:
        return (f"VocabMixture({self.vectors.shape[0]} words x {self.vectors.shape[1]}, "
                f"temperature={self.temperature:g}, gumbel={self.gumbel}, hard={self.hard})")

    def forward(self, x, train: bool = True):
        self.backend.check(x, repr(self))
        xp = self.backend.xp
        logits = x
        if self.gumbel:
            # u in [1e-20, 1): -log(-log u) is finite
            x = x - xp.log(-xp.log(self.backend.uniform(x.shape, 1e-20, 1.0)))
        if self.temperature != 1.0:
            x = x * self.backend.dtype.type(1.0 / self.temperature)
        e = xp.exp(x - x.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        if self.hard:
            return self.vectors[p.argmax(axis=1)], (p, logits)
        return nn.matmul(p, self.vectors), (p, logits)

    def log_prob_gradient(self, cache, weights):
        """The score-function (REINFORCE) gradient of the hard Gumbel draw: for each row,
        weights_i * d log P(word_i) / d l_i = weights_i (onehot(word_i) - softmax(l_i)), where
        word_i = argmax p_i is a draw from the categorical softmax(l_i) (the Gumbel-max
        trick; the temperature does not move the argmax). ``cache``: the forward pass's;
        ``weights`` (n,): each row's (centred) loss."""
        if not (self.gumbel and self.hard):
            raise ValueError("log_prob_gradient needs the hard Gumbel draw (g_output='gumbel_hard')")
        xp = self.backend.xp
        p, logits = cache
        e = xp.exp(logits - logits.max(axis=1, keepdims=True))
        grad = -(e / e.sum(axis=1, keepdims=True))
        rows = xp.arange(p.shape[0])
        grad[rows, p.argmax(axis=1)] += 1
        return grad * weights.reshape(-1, 1).astype(grad.dtype)

    def backward(self, dy, cache, *, param_grads: bool = True, input_grad: bool = True):
        if not input_grad:
            return None
        p, _ = cache
        dp = nn.matmul(dy, self.vectors.T)
        dx = p * (dp - (p * dp).sum(axis=1, keepdims=True))
        if self.temperature != 1.0:
            dx *= self.backend.dtype.type(1.0 / self.temperature)
        return dx


class GaussianNoise(nn.Layer):
    """Instance noise: y = x + sigma * N(0, I) in training, the identity in evaluation.

    Derivative: dL/dx = dL/dy (the noise does not depend on x).
    """

    def __init__(self, sigma: float, backend: nn.Backend):
        super().__init__(backend)
        self.sigma = float(sigma)

    def __repr__(self) -> str:
        return f"GaussianNoise({self.sigma})"

    def forward(self, x, train: bool = True):
        self.backend.check(x, repr(self))
        if not train or self.sigma == 0.0:
            return x, None
        return x + self.backend.dtype.type(self.sigma) * self.backend.normal(x.shape), None

    def backward(self, dy, cache, *, param_grads: bool = True, input_grad: bool = True):
        return dy if input_grad else None


class IgnoreNoise(nn.Layer):
    """A network of the condition alone, called like a conditional generator: the input is
    the pair (z, y) and z is ignored. Backward returns (None, dL/dy)."""

    def __init__(self, net: nn.Layer):
        super().__init__(net.backend)
        self.net = net
        self.params = {f"net.{k}": v for k, v in net.params.items()}
        self.grads = {f"net.{k}": v for k, v in net.grads.items()}
        self.buffers = {f"net.{k}": v for k, v in net.buffers.items()}

    def __repr__(self) -> str:
        return f"IgnoreNoise({self.net!r})"

    def forward(self, x, train: bool = True):
        _z, y = x
        return self.net.forward(y, train)

    def backward(self, dy, cache, *, param_grads: bool = True, input_grad: bool = True):
        dx = self.net.backward(dy, cache, param_grads=param_grads, input_grad=input_grad)
        return (None, dx) if input_grad else None


@dataclass(frozen=True)
class NetConfig:
    """The networks' options (fields of cgan.experiments.tagging.config.TaggingConfig)."""

    noise_dim: int = 100
    g_irange: float = 0.05
    d_irange: float = 0.005
    d_keep: float = 0.5          # dropout keep probability before D's joint maxout and its output
    g_keep: float = 0.5          # ... on the input of G's joint linear layer (1 = none)
    width_scale: float = 1.0     # every hidden width times this (1 = the paper's)
    g_output: str = "linear"     # "linear" (the paper's), "unit" (UnitNorm after it), "vocab", "gumbel", "gumbel_hard"
    temperature: float = 1.0     # the softmax temperature of the "vocab" and "gumbel*" outputs
    marginal_bias: bool = False  # ... whose logits' bias starts at log(the tags' frequencies)
    instance_noise: float = 0.0  # sigma of Gaussian noise added to G's samples in training

    def width(self, published: int) -> int:
        return max(1, round(published * self.width_scale))


def tagging_generator(backend: nn.Backend, c: NetConfig, cond_dim: int, word_dim: int,
                      vocab_vectors=None, tag_frequencies=None) -> nn.Sequential:
    """G; ``vocab_vectors`` (n_words, word_dim): the word vectors the "vocab" and "gumbel*"
    outputs mix; ``tag_frequencies`` (n_words,): with ``marginal_bias``, their logits' bias
    starts at log(frequency / total), so that G's first draws follow the tags' marginal
    distribution (as the original MNIST code set G's output bias from the pixel marginals)."""
    hz, hy = c.width(500), c.width(2000)
    init = nn.Uniform(c.g_irange)
    layers = [
        nn.Join(
            nn.Sequential(nn.Linear(c.noise_dim, hz, backend, init=init), nn.ReLU(backend)),
            nn.Sequential(nn.Linear(cond_dim, hy, backend, init=init), nn.ReLU(backend)),
            names=("z", "y"),
        ),
    ]
    if c.g_keep < 1.0:
        layers.append(nn.Dropout(c.g_keep, backend))
    if c.g_output in VOCAB_OUTPUTS:
        if vocab_vectors is None or vocab_vectors.shape[1] != word_dim:
            raise ValueError(f"g_output={c.g_output!r} needs the vocabulary's word vectors, (n_words, {word_dim})")
        bias = 0.0
        if c.marginal_bias:
            if tag_frequencies is None or tag_frequencies.shape[0] != vocab_vectors.shape[0]:
                raise ValueError("marginal_bias needs the tags' frequencies, one per vocabulary word")
            xp = backend.xp
            freq = xp.maximum(backend.asarray(tag_frequencies), 0.5)   # an unseen tag: half a count
            bias = xp.log(freq / freq.sum()).astype(backend.dtype)
        layers += [nn.Linear(hz + hy, vocab_vectors.shape[0], backend, init=init, bias=bias),
                   VocabMixture(vocab_vectors, backend, temperature=c.temperature,
                                gumbel=c.g_output.startswith("gumbel"), hard=c.g_output == "gumbel_hard"),
                   UnitNorm(backend)]
    else:
        layers.append(nn.Linear(hz + hy, word_dim, backend, init=init))
    if c.g_output == "unit":
        layers.append(UnitNorm(backend))
    elif c.g_output not in G_OUTPUTS:
        raise ValueError(f"g_output must be one of {', '.join(G_OUTPUTS)}, got {c.g_output!r}")
    if c.instance_noise > 0:
        layers.append(GaussianNoise(c.instance_noise, backend))
    return nn.Sequential(*layers)


def tagging_discriminator(backend: nn.Backend, c: NetConfig, cond_dim: int, word_dim: int) -> nn.Sequential:
    hx, hy, joint = c.width(500), c.width(1200), c.width(1000)
    init = nn.Uniform(c.d_irange)
    return nn.Sequential(
        nn.Join(
            nn.Sequential(nn.Linear(word_dim, hx, backend, init=init), nn.ReLU(backend)),
            nn.Sequential(nn.Linear(cond_dim, hy, backend, init=init), nn.ReLU(backend)),
            names=("x", "y"),
        ),
        nn.Dropout(c.d_keep, backend),
        nn.Maxout(hx + hy, joint, 3, backend, init=init),
        nn.Dropout(c.d_keep, backend),
        nn.Linear(joint, 1, backend, init=init),
    )


def tagging_classifier(backend: nn.Backend, c: NetConfig, cond_dim: int, n_tags: int) -> IgnoreNoise:
    """The multi-label baseline: the generator's condition branch (condition -> 2000 ReLU),
    dropout (keep g_keep), then a linear layer to one logit per tag."""
    hy = c.width(2000)
    init = nn.Uniform(c.g_irange)
    layers = [nn.Linear(cond_dim, hy, backend, init=init), nn.ReLU(backend)]
    if c.g_keep < 1.0:
        layers.append(nn.Dropout(c.g_keep, backend))
    layers.append(nn.Linear(hy, n_tags, backend, init=init))
    return IgnoreNoise(nn.Sequential(*layers))


def build_classifier(backend: nn.Backend, c: NetConfig, cond_dim: int, n_tags: int) -> AdversarialPair:
    """The classifier as the generator of a conditional pair (the discriminator is built,
    tiny, and never trained), so the core loop's ``regression`` rule trains it."""
    return AdversarialPair(tagging_classifier(backend, c, cond_dim, n_tags),
                           tagging_discriminator(backend, NetConfig(width_scale=0.001), cond_dim, n_tags),
                           conditional=True, noise_dim=c.noise_dim)


def build_pair(backend: nn.Backend, c: NetConfig, cond_dim: int, word_dim: int,
               vocab_vectors=None, tag_frequencies=None) -> AdversarialPair:
    """The conditional pair (for the regression baseline the discriminator is built but
    never trained); ``vocab_vectors`` and ``tag_frequencies``: tagging_generator's."""
    return AdversarialPair(tagging_generator(backend, c, cond_dim, word_dim, vocab_vectors, tag_frequencies),
                           tagging_discriminator(backend, c, cond_dim, word_dim),
                           conditional=True, noise_dim=c.noise_dim)
