"""The training loop: one pass over a dataset in minibatches, any update rule.

:func:`train_epoch` is the loop that every adversarial experiment runs (MNIST, tagging,
the toy problems and the demo): draw a permutation of the rows, and for each minibatch
draw the noise and the generated rows' condition, then run the update rule's steps
(cgan.core.steps). Numbers are summed as 0-d arrays and read once per epoch (and every
50 minibatches when a progress bar shows them), so a GPU is never made to wait; a loss
that becomes NaN or infinite stops the run (:class:`TrainingDiverged`).

Random draws, in this order for each minibatch: the dataset's rows (for a sampled
dataset), the noise z, the generated rows' condition (when it is drawn), then whatever
the steps draw (dropout masks), then for the rule's second step a fresh z and condition.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

from nn.backend import Backend

from .optim import Optimizers
from .pair import AdversarialPair
from .progress import Progress
from .steps import Minibatch, Update

__all__ = ["TrainingDiverged", "Dataset", "Draw", "Training", "Tally", "train_epoch", "train_minibatches",
           "critic_warmup_schedule"]


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class Dataset:
    """The real rows, as the loop reads them: ``n`` rows, and ``rows(idx)`` -> (x, y)
    for a minibatch of row indices (y None for an unconditional pair)."""

    @property
    def n(self) -> int:
        raise NotImplementedError

    def rows(self, idx):
        raise NotImplementedError


@dataclass
class Draw:
    """Where a step's random inputs come from: ``noise(n)`` for G, and ``condition(y)``,
    the generated rows' condition given the real minibatch's (None: the real one)."""

    noise: Callable
    condition: Callable | None = None

    def generated_condition(self, y):
        return y if self.condition is None else self.condition(y)

    def minibatch(self, x, y) -> Minibatch:
        """The real rows, fresh noise, then the generated rows' condition (in that order)."""
        z = self.noise(x.shape[0])
        return Minibatch(x, y, z, self.generated_condition(y))


@dataclass
class Training:
    """The live objects of one run that the loop drives."""

    pair: AdversarialPair
    opt: Optimizers
    update: Update
    objective: object
    data: Dataset
    draw: Draw
    backend: Backend
    batch_size: int
    k_steps: int = 1
    max_updates: int | None = None   # stop once the generator has taken this many steps
    # discriminator steps before the next generator step, given the generator's updates so
    # far (None: k_steps always); e.g. critic_warmup_schedule, the WGAN code's
    critic_schedule: Callable[[int], int] | None = None

    def critic_steps(self) -> int:
        """How many discriminator steps the next generator step waits for."""
        schedule = self.critic_schedule
        return self.k_steps if schedule is None else schedule(self.opt.g.updates)


def critic_warmup_schedule(k_steps: int, warmup: int = 100, first: int = 25, every: int = 500):
    """The WGAN code's critic schedule (martinarjovsky/WassersteinGAN, main.py): ``warmup``
    critic steps per generator step for the first ``first`` generator steps and at every
    ``every``-th, ``k_steps`` otherwise, so that the generator follows a critic trained
    close to its optimum when it matters most: at the start."""

    def steps(g_updates: int) -> int:
        return warmup if g_updates < first or g_updates % every == 0 else k_steps

    return steps


class Tally:
    """Sums of the steps' numbers, each with the number of steps that reported it."""

    KEYS = ("d_loss", "g_loss", "d_real", "d_fake")

    def __init__(self):
        self.sums = dict.fromkeys(self.KEYS, 0.0)
        self.counts = dict.fromkeys(self.KEYS, 0)

    def add(self, numbers: dict) -> None:
        for key, value in numbers.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
            self.counts[key] = self.counts.get(key, 0) + 1

    def means(self) -> dict:
        """Host floats (0.0 for what no step reported)."""
        return {k: float(v) / max(self.counts[k], 1) for k, v in self.sums.items()}

    def check_finite(self, where: str, note: str = "") -> None:
        for key, name in (("d_loss", "discriminator"), ("g_loss", "generator")):
            value = float(self.sums[key])
            if not math.isfinite(value):
                raise TrainingDiverged(f"the {name} loss became {value} at {where}. {note}"
                                       "lower the learning rate (--lr) and resume or start again.")


def train_minibatches(t: Training, batches: int, rows: Callable, *, tally: Tally | None = None,
                      bar: Progress | None = None, where: str = "", note: str = "",
                      close_block: bool = False) -> Tally:
    """``batches`` minibatches, the i-th read by ``rows(i)`` -> (x, y), through ``t.update``.

    ``close_block``: when the minibatches run out inside a block of discriminator steps
    (fewer than ``t.critic_steps()`` since the last generator step), the generator still
    takes its step after the shortened block, on the last minibatch's conditions: what the
    WGAN code does at the end of each pass over the data (its inner loop stops when the
    data does). Without it those discriminator steps go without a generator step."""
    tally = tally or Tally()
    first, then = t.update.first, t.update.then
    waited = 0  # discriminator steps since the last generator step (this call's)
    x = y = None

    def stopped() -> bool:
        return t.max_updates is not None and t.opt.g.updates >= t.max_updates

    for i in bar if bar is not None else range(batches):
        if stopped():
            return tally
        x, y = rows(i)
        tally.add(first(t.pair, t.opt, t.draw.minibatch(x, y), t.objective))
        waited += 1
        if then is not None and waited >= t.critic_steps():
            tally.add(then(t.pair, t.opt, t.draw.minibatch(x, y), t.objective))
            waited = 0
        if bar is not None and (i + 1) % 50 == 0:
            tally.check_finite(f"{where}, iteration {i + 1}", note)
            means = tally.means()
            bar.set(d_loss=means["d_loss"], g_loss=means["g_loss"], D_x=means["d_real"],
                    D_G_z=means["d_fake"])
    if close_block and then is not None and waited > 0 and not stopped():
        tally.add(then(t.pair, t.opt, t.draw.minibatch(x, y), t.objective))
    return tally


def train_epoch(t: Training, epoch: int, *, label: str | None = None, note: str = "") -> dict:
    """One pass over ``t.data`` in a random order (minibatches of ``t.batch_size``; the
    rest is dropped), with ``t.update``. ``label``: show a progress bar so labelled. ``note``: added to
    the message of a :class:`TrainingDiverged` (where the last good checkpoint is).

    Returns the epoch's record: the mean of every number the steps reported, the paced
    optimiser's learning rate, momentum and update count, and the seconds it took.
    """
    b = t.backend
    t.opt.set_epoch(epoch)
    n = int(t.data.n)
    size = min(t.batch_size, n)
    batches = n // size
    order = b.xp.argsort(b.uniform((n,)))
    start = time.perf_counter()
    bar = Progress(range(batches), label, every_s=15.0) if label else None
    tally = train_minibatches(t, batches, lambda i: t.data.rows(order[i * size:(i + 1) * size]),
                              bar=bar, where=f"epoch {epoch}", note=note, close_block=True)
    tally.check_finite(f"epoch {epoch}, iteration {max(tally.counts['d_loss'], tally.counts['g_loss'])}", note)
    paced = t.opt.d if t.update.paced_by == "d" else t.opt.g
    record = {"epoch": epoch, **tally.means(), "lr": paced.current_lr, "momentum": paced.current_momentum,
              "updates": paced.updates, "train_seconds": time.perf_counter() - start}
    return t.objective.record(record) if t.objective is not None else record
