"""MNIST runs survive anything (docs/reliability.md): a kill at any moment (during the first
epoch, while latest.npz, best.npz or metrics.jsonl is written) resumes bit-identically to an
uninterrupted run; Ctrl-C, NaN, a full disk and a read-only directory end in one message and
a directory in a named state; resume applies or refuses each option; eval prints its
results before saying what it could not write; sample writes what it is asked for."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nn
from cgan.cli import main
from cgan.core.run import FINISHED, STARTED, STOPPED, read_metrics, run_status
from cgan.experiments.mnist.train import Trainer, checkpoint_path, load_pair, resume_config, train
from nn import checkpoint

from .test_train import fake_mnist, tiny_config

ROOT = Path(__file__).resolve().parents[3]


def every_epoch_is_best(self):
    """The validation score rises every epoch (a stream of its own: the training is unchanged),
    so that every epoch writes best.npz."""
    return float(self.epoch), 0.5


# The child: a 3-epoch run killed (SIGKILL: no cleanup at all) at one moment.
CHILD = r"""
import os, signal, sys
from cgan.experiments.mnist.train import Trainer, train
from tests.experiments.mnist.test_train import fake_mnist, tiny_config
from tests.experiments.mnist.test_reliability import every_epoch_is_best

Trainer.validation_ll = every_epoch_is_best
run, moment = sys.argv[1], sys.argv[2]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if moment == "epoch-1":                       # after epoch 1's updates, before anything is written
    Trainer.after_epoch = lambda self, record: die()
else:                                         # NAME@N: as the N-th write of NAME is renamed into place
    name, nth = moment.split("@")
    real, seen = os.replace, [0]
    def replace(src, dst):
        if os.path.basename(dst) == name:
            seen[0] += 1
            if seen[0] == int(nth):
                die()
        return real(src, dst)
    os.replace = replace
train(tiny_config(epochs=3), run, fake_mnist(), progress=False)
"""


def _strip(records):
    return [{k: v for k, v in r.items() if "seconds" not in k} for r in records]


def _arrays(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files if not k.startswith("__")}


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    run = tmp_path_factory.mktemp("straight") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Trainer, "validation_ll", every_epoch_is_best)
        train(tiny_config(epochs=3), run, fake_mnist(), progress=False)
    return run


@pytest.mark.parametrize("moment, state, epoch", [
    ("epoch-1", STARTED, 0),          # before the first checkpoint
    ("latest.npz@2", STOPPED, 1),     # during the checkpoint of epoch 2
    ("best.npz@2", STOPPED, 2),       # between latest.npz and best.npz of epoch 2
    ("metrics.jsonl@2", STOPPED, 2),  # after both checkpoints, before the record
])
def test_a_kill_at_any_moment_resumes_bit_identically(straight, tmp_path, monkeypatch, moment, state, epoch):
    run = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", CHILD, str(run), moment], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    status = run_status(run)
    assert (status.state, status.epoch) == (state, epoch)
    if moment == "best.npz@2":
        # latest.npz names epoch 2 the best while best.npz is epoch 1's: readers take latest.npz
        assert checkpoint.read_meta(run / "best.npz")["epoch"] == 1
        assert checkpoint_path(run, "best") == run / "latest.npz"
        assert load_pair(run, nn.get_backend("numpy"), "best")[2]["epoch"] == 2
    if moment == "metrics.jsonl@2":
        assert [r["epoch"] for r in read_metrics(run)] == [1]   # the record of epoch 2 is in latest.npz

    monkeypatch.setattr(Trainer, "validation_ll", every_epoch_is_best)
    train(resume_config(run, epochs=3), run, fake_mnist(), resume=True, progress=False)

    for name in ("latest.npz", "best.npz"):
        want, got = _arrays(straight / name), _arrays(run / name)
        assert want.keys() == got.keys()
        for key in want:
            np.testing.assert_array_equal(want[key], got[key], err_msg=f"{name} {key}")
    assert checkpoint.read_meta(run / "best.npz")["epoch"] == 3
    assert _strip(read_metrics(run)) == _strip(read_metrics(straight))
    assert not [p for p in run.rglob(".*.tmp")]        # the killed write's temporary is gone
    assert run_status(run).state == FINISHED


def test_a_run_killed_in_its_first_epoch_restarts_with_a_plain_rerun(straight, tmp_path, monkeypatch):
    run = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", CHILD, str(run), "epoch-1"], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    monkeypatch.setattr(Trainer, "validation_ll", every_epoch_is_best)
    train(tiny_config(epochs=3), run, fake_mnist(), progress=False)   # no --resume, no delete
    np.testing.assert_array_equal(_arrays(straight / "latest.npz")["generator/0.z.0.W"],
                                  _arrays(run / "latest.npz")["generator/0.z.0.W"])


# -- the command line -------------------------------------------------------------------------------
FAST = ["--train-limit", "100", "--batch-size", "50", "--eval-samples", "100", "--eval-valid-points", "100",
        "--quiet"]


@pytest.fixture
def loads(monkeypatch):
    """The CLI reads the tiny synthetic MNIST; the list receives each data directory it asked for."""
    asked = []

    def load(data_dir, quiet=False):
        asked.append(data_dir)
        return fake_mnist()

    monkeypatch.setattr("cgan.cli._load_mnist", load)
    return asked


def cli_train(run, *extra):
    return main(["train", "mnist", "--out", str(run), *extra, *FAST])


def test_ctrl_c_in_the_first_epoch_then_rerun_or_resume(tmp_path, loads, monkeypatch, capsys):
    run = tmp_path / "run"
    original = Trainer.train_epoch

    def interrupted(self, epochs=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "train_epoch", interrupted)
    assert cli_train(run, "--epochs", "1") == 130
    err = capsys.readouterr().err
    assert err.startswith(f"cgan: interrupted; {run} was started but stopped before its first checkpoint")
    assert "rerun the same command" in err and "Traceback" not in err and "latest.npz" not in err
    assert main(["eval", str(run)]) == 1
    assert "has no checkpoint yet" in capsys.readouterr().err
    monkeypatch.setattr(Trainer, "train_epoch", original)
    assert cli_train(run, "--epochs", "1", "--resume") == 0     # resumed from scratch
    assert run_status(run).state == FINISHED
    assert cli_train(run, "--epochs", "1") == 1                 # now it is a finished run
    assert "already exists and is finished (1 of 1 epochs)" in capsys.readouterr().err


def test_nan_then_resume_with_a_lower_learning_rate(tmp_path, loads, monkeypatch, capsys):
    run = tmp_path / "run"
    original = Trainer.train_epoch

    def poisoned(self, epochs=None):
        if self.epoch == self.poison_at:
            self.pair.discriminator.params["4.W"][...] = np.nan
        return original(self, epochs)

    monkeypatch.setattr(Trainer, "train_epoch", poisoned)
    monkeypatch.setattr(Trainer, "poison_at", 0, raising=False)
    assert cli_train(run, "--preset", "adam", "--epochs", "2") == 1   # lr 2e-4
    err = capsys.readouterr().err
    assert "loss became nan at epoch 1" in err and "No checkpoint was written yet" in err
    assert f"cgan: {run} was started but stopped before its first checkpoint" in err

    monkeypatch.setattr(Trainer, "poison_at", 1)
    assert cli_train(run, "--epochs", "2", "--resume") == 1      # from scratch; NaN in epoch 2 now
    err = capsys.readouterr().err
    assert f"The last good checkpoint is {run / 'latest.npz'} (epoch 1)" in err
    assert f"cgan: {run} is stopped after epoch 1 of 2; continue it with `cgan train mnist --out {run} --resume`" in err

    monkeypatch.setattr(Trainer, "poison_at", -1)
    assert cli_train(run, "--resume", "--lr", "1e-4") == 0
    records = read_metrics(run)
    assert "changes" not in records[0] and records[1]["changes"] == {"lr": [2e-4, 1e-4]}
    assert records[1]["lr"] == 1e-4
    assert json.loads((run / "config.json").read_text())["lr"] == 1e-4


def test_resume_applies_or_refuses_each_option(tmp_path, loads, capsys):
    run = tmp_path / "run"
    assert cli_train(run, "--resume") == 1
    assert "nothing to resume" in capsys.readouterr().err and not run.exists()   # nothing made
    assert cli_train(run, "--preset", "adam", "--epochs", "1", "--data-dir", str(tmp_path / "d1")) == 0
    assert loads == [str(tmp_path / "d1")]
    before = (run / "config.json").read_text()
    assert cli_train(run, "--resume", "--epochs", "2", "--model", "gan", "--noise", "uniform01",
                     "--k", "2") == 1
    err = capsys.readouterr().err
    assert "--resume cannot change --model (the run has 'cgan', asked 'gan'), --noise (the run has " \
           "'gaussian', asked 'uniform01'), --k (the run has 1, asked 2)" in err
    assert (run / "config.json").read_text() == before               # refused: nothing changed
    assert cli_train(run, "--resume", "--epochs", "2", "--model", "cgan") == 0   # the same value: fine
    assert loads[-1] == str(tmp_path / "d1")                            # the saved --data-dir
    assert cli_train(run, "--resume", "--epochs", "1") == 1
    assert "--epochs 1 is fewer than the 2 epochs" in capsys.readouterr().err
    assert json.loads((run / "config.json").read_text())["epochs"] == 2
    capsys.readouterr()
    assert cli_train(run, "--resume") == 0                              # finished: nothing to do
    captured = capsys.readouterr()
    assert "is finished (2 of 2 epochs): nothing to train" in captured.err
    assert json.loads(captured.out)["epochs"] == 2
    assert cli_train(run, "--resume", "--epochs", "3", "--data-dir", str(tmp_path / "d2")) == 0
    assert loads[-1] == str(tmp_path / "d2")
    assert read_metrics(run)[2]["changes"] == {"data_dir": [str(tmp_path / "d1"), str(tmp_path / "d2")]}


def test_a_full_disk_during_the_first_checkpoint(tmp_path, loads, capsys):
    """RLIMIT_FSIZE in a child process: the 44 MB checkpoint cannot be written."""
    run = tmp_path / "run"
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 20, 4 << 20))\n"
        "import cgan.cli\n"
        "from tests.experiments.mnist.test_train import fake_mnist\n"
        "cgan.cli._load_mnist = lambda data_dir, quiet=False: fake_mnist()\n"
        "sys.exit(cgan.cli.main(sys.argv[1:]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, "train", "mnist", "--out", str(run), "--epochs", "1",
                           *FAST], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"cgan: error: cannot write {run / 'latest.npz'}: File too large",
                     f"cgan: {run} was started but stopped before its first checkpoint (the end of epoch 1); "
                     f"rerun the same command to start it again, or `cgan train mnist --out {run} --resume` "
                     "to start it as its config.json says"]
    assert not list(run.rglob(".*.tmp"))
    assert cli_train(run, "--epochs", "1") == 0                  # the same command, with room
    assert run_status(run).state == FINISHED


def test_a_full_disk_at_a_later_checkpoint(tmp_path, loads, monkeypatch, capsys):
    import errno

    run = tmp_path / "run"
    real, seen = os.replace, []

    def full(src, dst):
        if os.path.basename(dst) == "latest.npz":
            seen.append(dst)
            if len(seen) == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", full)
    assert cli_train(run, "--epochs", "2") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"cgan: error: cannot write {run / 'latest.npz'}: No space left on device",
                   f"cgan: {run} is stopped after epoch 1 of 2; continue it with "
                   f"`cgan train mnist --out {run} --resume`"]
    monkeypatch.setattr(os, "replace", real)
    assert cli_train(run, "--resume") == 0
    assert [r["epoch"] for r in read_metrics(run)] == [1, 2] and not list(run.rglob(".*.tmp"))


# -- outputs that cannot be written ----------------------------------------------------------------
@pytest.fixture
def read_only(monkeypatch):
    """Directories the process cannot write into (as chmod a-w would make them for anyone but
    root): every write of the project goes through nn.fileio.atomic_write, whose os.open and
    mkdir are refused there."""
    blocked: list[Path] = []
    real_open, real_mkdir = os.open, os.mkdir

    def inside(path) -> bool:
        path = Path(path).resolve()
        return any(path == b or b in path.parents for b in blocked)

    def guarded_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and inside(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    def guarded_mkdir(path, *args, **kwargs):
        if inside(path) and not Path(path).exists():
            raise PermissionError(13, "Permission denied", str(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded_open)
    monkeypatch.setattr(os, "mkdir", guarded_mkdir)
    return lambda *dirs: blocked.extend(Path(d).resolve() for d in dirs)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("trained") / "run"
    train(tiny_config(epochs=1), run, fake_mnist(), progress=False)
    return run


def test_eval_prints_its_results_then_the_files_it_could_not_write(trained, tmp_path, loads, read_only,
                                                                    capsys):
    cache = tmp_path / "cache"
    cache.mkdir()
    before = sorted(p.name for p in trained.iterdir())
    read_only(trained, cache)
    assert main(["eval", str(trained), "--data-dir", str(cache), "--samples", "100", "--quiet"]) == 1
    captured = capsys.readouterr()
    result = json.loads(captured.out)                       # every number, printed
    assert {"parzen_ll", "frechet_distance", "label_accuracy"} <= set(result)
    err = captured.err.strip().splitlines()
    assert err == [
        f"cgan: error: cannot write {cache / 'mnist-classifier-v1.npz'}: Permission denied (the results above are complete)",
        f"cgan: error: cannot write {trained / 'figure2.png'}: Permission denied (the results above are complete)",
        f"cgan: error: cannot write {trained / 'eval.json'}: Permission denied (the results above are complete)",
    ]
    assert sorted(p.name for p in trained.iterdir()) == before and list(cache.iterdir()) == []


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root ignores file permissions (chmod); the monkeypatched read_only test covers this")
def test_eval_in_a_chmod_read_only_run(trained, tmp_path, loads, capsys):
    import shutil
    import stat

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    run.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert main(["eval", str(run), "--data-dir", str(tmp_path), "--samples", "100", "--quiet"]) == 1
        captured = capsys.readouterr()
        assert "parzen_ll" in json.loads(captured.out)
        assert f"cannot write {run / 'eval.json'}: Permission denied" in captured.err
    finally:
        run.chmod(stat.S_IRWXU)


def test_write_failures_of_sample_and_train_are_messages(trained, tmp_path, loads, read_only, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["sample", str(trained), "-o", str(tmp_path / "file" / "s.png")]) == 1
    assert capsys.readouterr().err.strip() == (f"cgan: error: cannot write {tmp_path / 'file' / 's.png'}: "
                                               f"{tmp_path / 'file'} is a file, not a directory")
    assert cli_train(tmp_path / "file", "--epochs", "1") == 1
    assert "is not a run directory (it is a file): choose another --out" in capsys.readouterr().err
    read_only(tmp_path / "locked")
    assert cli_train(tmp_path / "locked" / "run", "--epochs", "1") == 1
    err = capsys.readouterr().err
    assert err.startswith(f"cgan: error: cannot write {tmp_path / 'locked' / 'run'}: Permission denied")
    assert "Traceback" not in err


def test_sample_writes_what_it_is_asked_for(trained, tmp_path, monkeypatch, capsys):
    from cgan.evaluation import plots

    drawn = []
    real = plots.save_image_grid

    def spy(images, path, **kwargs):
        drawn.append((images.shape[0], kwargs["nrow"], kwargs.get("row_labels")))
        return real(images, path, **kwargs)

    monkeypatch.setattr(plots, "save_image_grid", spy)
    for n, rows in ((4, [0, 1, 2, 3]), (64, list(range(10))), (15, list(range(8)))):
        assert main(["sample", str(trained), "-n", str(n), "-o", str(tmp_path / "s.png")]) == 0
        assert drawn[-1] == (n, len(rows), rows)
    with pytest.raises(SystemExit) as info:
        main(["sample", str(trained), "-o", str(tmp_path / "s.jpg")])
    assert info.value.code == 2 and "only PNG images are written" in capsys.readouterr().err
