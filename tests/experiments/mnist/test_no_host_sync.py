"""On CuPy a training iteration only queues work: no host copy, no synchronisation.

A ``float(x)`` or ``x.item()`` inside a step makes the CPU wait for the GPU every
iteration, which at minibatch 100 costs more than the step's kernels. These tests run
iterations of the papers' networks inside ``Backend.forbid_host_sync()`` (CuPy's
``cupyx.allow_synchronize(False)``), which raises at the first wait. They need a GPU:
elsewhere they are skipped, saying why (``experiments/gpu_check.sh`` runs them).
"""

from __future__ import annotations

import pytest

import nn


def _guard_or_skip(backend_name):
    if backend_name != "cupy":
        pytest.skip("only the CuPy backend has a device to wait for")
    b = nn.get_backend(backend_name, seed=0)
    if b.forbid_host_sync() is None:
        pytest.skip("this CuPy has no cupyx.allow_synchronize to detect waits with")
    return b


def test_the_guard_catches_a_host_copy(backend_name):
    """It can fail: a float() of a device value inside the guard raises."""
    b = _guard_or_skip(backend_name)
    x = b.uniform((10,))
    with pytest.raises(Exception) as caught:
        with b.forbid_host_sync():
            float(x.sum())
    assert "Synchron" in type(caught.value).__name__ or "synchron" in str(caught.value).lower()


@pytest.mark.parametrize("model", ["cgan", "gan", "dcgan", "cdcgan"])
def test_training_iterations_never_wait_for_the_device(backend_name, model):
    b = _guard_or_skip(backend_name)
    from cgan.core.loop import train_minibatches

    if model in ("cgan", "gan"):
        from cgan.experiments.mnist.bench import OursIteration as Iteration
    else:
        from cgan.experiments.mnist.bench_dcgan import OursDCGANIteration as Iteration
    it = Iteration(model, backend_name)
    it.run(2)  # first calls compile the kernels and fill the memory pool
    with b.forbid_host_sync():
        tally = train_minibatches(it.training, 3, lambda k: it.rows(2 + k))
    it.b.synchronize()
    assert tally.counts["d_loss"] == 3
