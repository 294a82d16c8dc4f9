"""The training loop (cgan.core.loop) and the run directory (cgan.core.run) on a toy
problem: the update rules' schedule, the records, the NaN guard, resume."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

import nn
from cgan.core.loop import (Dataset, Draw, Tally, Training, TrainingDiverged, critic_warmup_schedule,
                            train_epoch, train_minibatches)
from cgan.core.optim import Optimizers
from cgan.core.run import Run, RunDirError, new_run_dir, read_metrics
from cgan.core.steps import BCE, UPDATES, Wasserstein
from cgan.core.streams import Recorded, Streams
from cgan.models.toy import toy_pair


class Points(Dataset):
    """n fixed 2-D points."""

    def __init__(self, backend, n=40):
        self.x = backend.normal((n, 2), mean=1.0)

    @property
    def n(self):
        return int(self.x.shape[0])

    def rows(self, idx):
        return self.x[idx], None


def toy(rule="alternating", objective=BCE(), k_steps=1, seed=0, max_updates=None, batch=8):
    b = nn.get_backend("numpy", "float64", seed=seed)
    pair = toy_pair(b, 2, 2, hidden=4)
    opt = Optimizers(d=nn.SGD(pair.discriminator.params, pair.discriminator.grads, lr=0.05, momentum=0.5),
                     g=nn.SGD(pair.generator.params, pair.generator.grads, lr=0.05, momentum=0.5))
    return Training(pair=pair, opt=opt, update=UPDATES[rule], objective=objective, data=Points(b),
                    draw=Draw(lambda n: b.normal((n, 2))), backend=b, batch_size=batch, k_steps=k_steps,
                    max_updates=max_updates)


def test_the_registry():
    assert set(UPDATES) == {"alternating", "simultaneous", "discriminator", "regression", "alternating_score"}
    assert UPDATES["alternating"].then is not None and UPDATES["simultaneous"].then is None
    assert UPDATES["regression"].paced_by == "g" and all(u.description for u in UPDATES.values())


@pytest.mark.parametrize("rule, k, d_updates, g_updates", [
    # k = 2 over 5 minibatches: generator steps after discriminator steps 2, 4 and, the
    # epoch's data ending inside a block, 5
    ("alternating", 1, 5, 5), ("alternating", 2, 5, 3), ("simultaneous", 1, 5, 5),
    ("discriminator", 1, 5, 0), ("regression", 1, 0, 5),
])
def test_one_epoch_of_each_rule(rule, k, d_updates, g_updates):
    t = toy(rule, k_steps=k, objective=None if rule == "regression" else BCE())
    record = train_epoch(t, 1)
    assert (t.opt.d.updates, t.opt.g.updates) == (d_updates, g_updates)   # 40 rows, minibatches of 8
    assert record["epoch"] == 1 and record["updates"] == (g_updates if rule == "regression" else d_updates)
    assert set(record) >= {"d_loss", "g_loss", "d_real", "d_fake", "lr", "momentum", "train_seconds"}
    assert all(np.isfinite(record[key]) for key in ("d_loss", "g_loss"))


def test_wasserstein_records_the_critic_and_clips_it():
    t = toy(objective=Wasserstein(clip=0.05), k_steps=5)
    record = train_epoch(t, 1)
    assert "d_real" not in record and record["wasserstein_estimate"] == pytest.approx(
        record["critic_real"] - record["critic_fake"])
    assert max(float(np.abs(p).max()) for p in t.pair.discriminator.params.values()) <= 0.05


def test_the_wgan_codes_critic_schedule():
    steps = critic_warmup_schedule(5)
    assert [steps(g) for g in (0, 1, 24, 25, 26, 499, 500, 501, 1000)] == [100, 100, 100, 5, 5, 5, 100, 5, 100]
    small = critic_warmup_schedule(2, warmup=3, first=2, every=4)
    assert [small(g) for g in range(9)] == [3, 3, 2, 2, 3, 2, 2, 2, 3]


def test_the_loop_follows_a_critic_schedule():
    """Generator steps come after the scheduled number of critic steps, counted afresh at
    each epoch: with 3 critic steps for the first 2 generator steps and 2 after, 15
    minibatches give generator steps after critic steps 3, 6, 8, 10, 12 and 14, and after
    15, where the epoch's data ends inside a block (as the WGAN code does)."""
    t = toy(objective=Wasserstein(clip=0.05), k_steps=2, batch=8)
    t.data = Points(t.backend, n=120)
    t.critic_schedule = critic_warmup_schedule(2, warmup=3, first=2, every=1000)
    train_epoch(t, 1)
    assert (t.opt.d.updates, t.opt.g.updates) == (15, 7)
    train_epoch(t, 2)  # a fresh block at the epoch's start: 2 critic steps per generator step
    assert (t.opt.d.updates, t.opt.g.updates) == (30, 15)
    plain = toy(objective=Wasserstein(clip=0.05), k_steps=2, batch=8)
    plain.data = Points(plain.backend, n=120)
    train_epoch(plain, 1)
    assert (plain.opt.d.updates, plain.opt.g.updates) == (15, 8)


def test_a_block_cut_by_the_data_is_closed_only_at_an_epochs_end():
    """train_epoch closes a shortened block with a generator step; train_minibatches alone
    (the benchmarks, the toy demos, which call it for a slice of steps) does not, and
    neither does an epoch that stopped at max_updates."""
    t = toy(k_steps=3, batch=8)
    train_minibatches(t, 5, lambda i: t.data.rows(np.arange(i * 8, i * 8 + 8)))
    assert (t.opt.d.updates, t.opt.g.updates) == (5, 1)
    train_minibatches(t, 5, lambda i: t.data.rows(np.arange(i * 8, i * 8 + 8)), close_block=True)
    assert (t.opt.d.updates, t.opt.g.updates) == (10, 3)
    stopped = toy(k_steps=3, max_updates=1)
    train_epoch(stopped, 1)
    assert (stopped.opt.d.updates, stopped.opt.g.updates) == (3, 1)


def test_max_updates_stops_the_generator():
    t = toy(max_updates=3)
    train_epoch(t, 1)
    assert t.opt.g.updates == 3


def test_a_nan_loss_stops_with_where_it_happened():
    t = toy()
    t.pair.discriminator.params["4.W"][...] = np.nan
    with pytest.raises(TrainingDiverged, match=r"discriminator loss became nan at epoch 2, iteration 5\. NOTE"):
        train_epoch(t, 2, note="NOTE ")


def test_tally_counts_each_number_by_the_steps_that_report_it():
    tally = Tally()
    tally.add({"d_loss": 1.0, "d_real": 0.5, "d_fake": 0.25})
    tally.add({"d_loss": 3.0, "d_real": 0.5, "d_fake": 0.75})
    tally.add({"g_loss": 4.0})
    assert tally.means() == {"d_loss": 2.0, "g_loss": 4.0, "d_real": 0.5, "d_fake": 0.5}


def test_train_minibatches_draws_rows_then_noise():
    """The order of random draws the recorded runs depend on: a sampled minibatch, then its
    noise, then (after k discriminator steps) fresh noise for the generator."""
    draws = []
    t = toy()
    t.draw = Draw(lambda n: draws.append("z") or t.backend.normal((n, 2)))
    train_minibatches(t, 4, lambda i: (draws.append("x") or t.backend.normal((8, 2)), None))
    assert draws == ["x", "z", "z"] * 4


@dataclass
class _Config:
    epochs: int = 1


def test_a_run_resumes_exactly(tmp_path):
    def run_in(path, epochs, resume=False):
        run = Run(toy(seed=4), path, config=_Config(epochs=epochs),
                  streams=Streams(4, {"resume": Recorded(0, 7919)}), progress=False)
        if resume:
            run.resume()
        run.fit(epochs)
        return run

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    straight = run_in(tmp_path / "a", 3)
    run_in(tmp_path / "b", 1)
    resumed = run_in(tmp_path / "b", 3, resume=True)
    for k, p in straight.training.pair.generator.params.items():
        np.testing.assert_array_equal(p, resumed.training.pair.generator.params[k])
    strip = lambda m: {k: v for k, v in m.items() if "seconds" not in k}  # noqa: E731
    assert [strip(r) for r in read_metrics(tmp_path / "a")] == [strip(r) for r in read_metrics(tmp_path / "b")]
    with np.load(tmp_path / "b" / "latest.npz") as f:
        assert sorted({k.split("/")[0] for k in f.files}) == ["__meta__", "__nn_format__", "d_opt",
                                                              "discriminator", "g_opt", "generator"]
        assert json.loads(str(f["__meta__"]))["epoch"] == 3


def test_new_run_dir_refuses_a_used_directory(tmp_path):
    run = Run(toy(), tmp_path / "x", config=_Config(epochs=2), streams=Streams(0, {}), progress=False)
    new_run_dir(tmp_path / "x", _Config(epochs=2))
    run.fit(1)                                       # stopped after epoch 1 of 2
    with pytest.raises(RunDirError, match="already exists and is stopped after epoch 1 of 2.*--resume"):
        new_run_dir(tmp_path / "x", _Config(epochs=1))
    with pytest.raises(RunDirError, match="choose another --out$"):
        new_run_dir(tmp_path / "x", _Config(epochs=1), resumable=False)
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match="is not a run directory .*no config.json.*choose another --out"):
        new_run_dir(tmp_path / "y", _Config(epochs=1))
