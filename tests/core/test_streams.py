"""Named random streams (cgan.core.streams): recorded names reproduce the old seed
derivations exactly; other names are spawned, deterministic and independent."""

from __future__ import annotations

import numpy as np
import pytest

import nn
from cgan.core.streams import Recorded, Streams, spawned_seed
from cgan.experiments.mnist.config import STREAMS as MNIST
from cgan.experiments.mnist.evaluate import EVAL_SEED, EVAL_STREAMS
from cgan.experiments.tagging.config import STREAMS as TAGGING
from cgan.experiments.toy.minimax import STREAMS as MINIMAX


# Every seed the code derived by hand before streams had names, as (streams, name, index, seed).
@pytest.mark.parametrize("streams, name, index, old", [
    (Streams(7, MNIST), "train", 0, 7),                       # nn.get_backend(seed=config.seed)
    (Streams(7, MNIST), "grid", 0, 7 + 1_000_003),             # the fixed sample grid
    (Streams(7, MNIST), "validation", 0, 7 + 2_000_003),       # validation Parzen samples
    (Streams(7, MNIST), "resume", 3, 7 + 7919 * 3),            # CuPy resume after epoch 3
    (Streams(4, TAGGING), "evaluation", 0, 4 + 1_000_003),     # tagging's test-image noise
    (Streams(4, TAGGING), "resume", 2, 4 + 7919 * 2),
    (EVAL_STREAMS, "samples", 0, 12345),                       # cgan eval (EVAL_SEED)
    (EVAL_STREAMS, "figure", 0, 12345 + 1),                    # cgan eval's figure2.png
    (Streams(2, MINIMAX), "family", 0, 2 + 1),
    (Streams(2, MINIMAX), "ring_eval", 0, 2 + 5),
    (Streams(2, MINIMAX), "probe", 0, 2 + 7),
    (Streams(2, MINIMAX), "runs", 0, 2 + 11),
    (Streams(2, MINIMAX), "figure1_eval", 0, 2 + 99),
])
def test_recorded_streams_keep_the_old_seeds(backend_name, streams, name, index, old):
    assert streams.seed(name, index) == old
    b = nn.get_backend(backend_name, seed=0)
    ours = streams.backend(name, like=b, index=index).uniform((5,))
    np.testing.assert_array_equal(b.to_numpy(ours), b.to_numpy(b.with_seed(old).uniform((5,))))
    assert EVAL_SEED == 12345


def test_spawned_streams_are_deterministic_distinct_and_follow_seedsequence():
    s = Streams(3)
    assert s.seed("new stream") == s.seed("new stream") == spawned_seed(3, "new stream")
    assert len({s.seed("a"), s.seed("b"), s.seed("a", 1), Streams(4).seed("a")}) == 4
    import zlib

    words = np.random.SeedSequence(3, spawn_key=(zlib.crc32(b"a"), 0)).generate_state(2)
    assert s.seed("a") == ((int(words[0]) << 32) | int(words[1])) & (2**63 - 1)
    # a recorded name is never spawned, a spawned one never moves a recorded one
    r = Streams(3, {"a": Recorded(10)})
    assert r.seed("a") == 13 and r.seed("b") == s.seed("b")


def test_a_spawned_stream_runs_on_the_backend(backend_name):
    b = nn.get_backend(backend_name, dtype="float64", seed=0)
    x = Streams(5).backend("anything", like=b).normal((3,))
    assert x.dtype == np.float64 and isinstance(x, b.array_type)
    y = Streams(5).backend("anything", like=b).normal((3,))
    np.testing.assert_array_equal(b.to_numpy(x), b.to_numpy(y))


def test_reseed_restarts_a_backend_at_a_stream():
    b = nn.get_backend("numpy", seed=0)
    b.uniform((7,))
    Streams(9, {"runs": Recorded(11)}).reseed(b, "runs")
    np.testing.assert_array_equal(b.uniform((4,)), nn.get_backend("numpy", seed=20).uniform((4,)))
