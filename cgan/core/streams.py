"""Named random streams: every random draw of a run comes from a stream with a name.

A run has one root seed. Each use of randomness that must not move another (training,
the fixed sample grid shown every epoch, the validation samples, evaluation noise) asks
for its own stream by name::

    streams = Streams(config.seed, MNIST_STREAMS)
    grid_noise = streams.backend("grid", like=backend)     # a Backend with that stream
    streams.seed("resume", index=epoch)                     # or just its seed

Two kinds of names:

* **Recorded names** (the ``recorded`` table given to :class:`Streams`) keep the
  derivation the project used before streams had names, ``seed + offset + stride *
  index`` (e.g. ``grid``: seed + 1,000,003), so that runs and checkpoints made before
  reproduce bit for bit. The tables live with the experiments that use them
  (cgan.experiments.mnist.config.STREAMS and the like).
* **Any other name is spawned** the way ``numpy.random.SeedSequence`` spawns children:
  ``SeedSequence(seed, spawn_key=(crc32(name), index))``, its first 63 bits the stream's
  seed. Distinct names give independent streams, none of which collides with the
  recorded ones in practice, and adding a stream never moves an existing one. New streams
  should be spawned this way; a recorded name is never re-derived.

A stream's seed is a plain integer, so it works on either backend
(:meth:`nn.Backend.with_seed`: NumPy's ``default_rng``, CuPy's ``RandomState``).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from nn.backend import Backend, get_backend

__all__ = ["Recorded", "Streams", "spawned_seed"]


@dataclass(frozen=True)
class Recorded:
    """A stream seeded with ``seed + offset + stride * index``."""

    offset: int
    stride: int = 0


def spawned_seed(seed: int, name: str, index: int = 0) -> int:
    """The seed of stream ``name`` (``index``) spawned from ``seed``: SeedSequence(seed,
    spawn_key=(crc32(name), index)), its first two 32-bit words as a 63-bit integer."""
    sequence = get_backend("numpy").xp.random.SeedSequence  # NumPy through the backend
    words = sequence(int(seed), spawn_key=(zlib.crc32(name.encode()), int(index))).generate_state(2)
    return ((int(words[0]) << 32) | int(words[1])) & (2**63 - 1)


class Streams:
    """The named random streams of one root ``seed`` (see the module docstring)."""

    def __init__(self, seed: int, recorded: dict[str, Recorded] | None = None):
        self.root = int(seed)
        self.recorded = dict(recorded or {})

    def __repr__(self) -> str:
        return f"Streams(seed={self.root}, recorded={sorted(self.recorded)})"

    def seed(self, name: str, index: int = 0) -> int:
        known = self.recorded.get(name)
        if known is not None:
            return self.root + known.offset + known.stride * int(index)
        return spawned_seed(self.root, name, index)

    def backend(self, name: str, *, like: Backend, index: int = 0) -> Backend:
        """A backend with ``like``'s array module and dtype, on stream ``name``."""
        return like.with_seed(self.seed(name, index))

    def reseed(self, backend: Backend, name: str, index: int = 0) -> None:
        """Restart ``backend``'s own stream at stream ``name``."""
        backend.reseed(self.seed(name, index))
