"""Checkpoints: one .npz with parameters and optimiser state, written atomically."""

from __future__ import annotations

import os

import numpy as np
import pytest

import nn
from nn import checkpoint


def _model_and_opt(b):
    net = nn.Sequential(nn.Linear(3, 4, b), nn.ReLU(b), nn.Maxout(4, 2, 3, b))
    opt = nn.SGD(net.params, net.grads, lr=nn.ExponentialDecay(0.1, 1.00004, 1e-6), momentum=0.5)
    return net, opt


def _train_a_little(net, opt, b, steps=3):
    for _ in range(steps):
        y, cache = net.forward(b.normal((5, 3)))
        net.zero_grads()
        net.backward(b.asarray(np.ones(y.shape)), cache)
        opt.step()


def test_round_trip_restores_parameters_and_optimiser(tmp_path, backend_name):
    b = nn.get_backend(backend_name, seed=1)
    net, opt = _model_and_opt(b)
    _train_a_little(net, opt, b)
    opt.set_epoch(4)
    path = checkpoint.save(tmp_path / "run" / "latest.npz", {"net": net, "opt": opt}, meta={"epoch": 4})
    assert path.exists() and not [p for p in path.parent.iterdir() if p.name != "latest.npz"]

    b2 = nn.get_backend(backend_name, seed=99)
    net2, opt2 = _model_and_opt(b2)
    _, meta = checkpoint.load(path, {"net": net2, "opt": opt2})
    assert meta == {"epoch": 4}
    for key in net.params:
        np.testing.assert_array_equal(b.to_numpy(net.params[key]), b2.to_numpy(net2.params[key]))
        np.testing.assert_array_equal(b.to_numpy(opt.velocity[key]), b2.to_numpy(opt2.velocity[key]))
    assert (opt2.updates, opt2.epoch) == (3, 4)
    assert opt2.current_lr == opt.current_lr


def test_loading_keeps_the_optimisers_references(tmp_path):
    b = nn.get_backend("numpy")
    net, opt = _model_and_opt(b)
    arrays = dict(net.params)
    checkpoint.save(tmp_path / "c.npz", {"net": net})
    checkpoint.load(tmp_path / "c.npz", {"net": net})
    assert all(net.params[k] is arrays[k] for k in arrays)


def test_interrupted_write_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    b = nn.get_backend("numpy")
    net, _ = _model_and_opt(b)
    path = checkpoint.save(tmp_path / "c.npz", {"net": net})
    good = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(path, {"net": net})
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["c.npz"]  # no temporary file left behind


def test_truncated_file_is_a_clear_error(tmp_path):
    b = nn.get_backend("numpy")
    net, _ = _model_and_opt(b)
    path = checkpoint.save(tmp_path / "c.npz", {"net": net})
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(checkpoint.CheckpointError, match="not a readable .npz.*truncated"):
        checkpoint.load(path)


def test_missing_file_and_wrong_model_are_clear_errors(tmp_path):
    b = nn.get_backend("numpy")
    with pytest.raises(checkpoint.CheckpointError, match="does not exist"):
        checkpoint.load(tmp_path / "nope.npz")
    net, _ = _model_and_opt(b)
    path = checkpoint.save(tmp_path / "c.npz", {"net": net})
    with pytest.raises(checkpoint.CheckpointError, match="no group 'generator'"):
        checkpoint.load(path, {"generator": net})
    wider = nn.Sequential(nn.Linear(3, 5, b), nn.ReLU(b), nn.Maxout(5, 2, 3, b))
    with pytest.raises(checkpoint.CheckpointError, match=r"'0.W' has shape \(3, 5\).*\(3, 4\)"):
        checkpoint.load(path, {"net": wider})


def test_format_1_files_with_unit_major_maxout_load_into_the_same_function(tmp_path):
    """Files written before Maxout became piece-major (no format key) are reordered on load:
    the restored network computes what the saved one did, and the optimiser's velocity
    follows its parameters."""
    import json as _json

    b = nn.get_backend("numpy", dtype="float64", seed=5)
    net = nn.Sequential(nn.Maxout(6, 4, 3, b, init=nn.Gaussian(1.0)),
                        nn.Maxout(4, 2, 2, b, init=nn.Gaussian(1.0)))
    net.params["0.b"][...] = b.normal((12,))
    opt = nn.SGD(net.params, net.grads, lr=0.1, momentum=0.5)
    x = b.normal((5, 6))
    y, cache = net.forward(x)
    net.backward(b.normal(y.shape), cache)
    opt.step()
    y_saved, _ = net.forward(x)

    def unit_major(a, units, pieces):
        lead = a.shape[:-1]
        return a.reshape(*lead, pieces, units).swapaxes(-1, -2).reshape(*lead, units * pieces)

    shapes = {"0.": (4, 3), "1.": (2, 2)}
    arrays = {}
    for key, value in net.params.items():
        layer = shapes[key[:2]]
        arrays[f"net/{key}"] = unit_major(value, *layer)
        arrays[f"opt/velocity.{key}"] = unit_major(opt.velocity[key], *layer)
    arrays["opt/updates"] = np.array(opt.updates)
    arrays["opt/epoch"] = np.array(opt.epoch)
    arrays["__meta__"] = np.array(_json.dumps({"old": True}))
    old = tmp_path / "old.npz"
    np.savez(old, **arrays)

    fresh = nn.Sequential(nn.Maxout(6, 4, 3, b), nn.Maxout(4, 2, 2, b))
    fresh_opt = nn.SGD(fresh.params, fresh.grads, lr=0.1, momentum=0.5)
    _, meta = checkpoint.load(old, {"net": fresh, "opt": fresh_opt})
    assert meta == {"old": True}
    y_loaded, _ = fresh.forward(x)
    np.testing.assert_allclose(y_loaded, y_saved, rtol=1e-12)
    for key in net.params:
        np.testing.assert_array_equal(fresh.params[key], net.params[key])
        np.testing.assert_array_equal(fresh_opt.velocity[key], opt.velocity[key])
    # and a file written now is read back as it is (format 2: no reordering)
    checkpoint.save(tmp_path / "new.npz", {"net": net, "opt": opt})
    again = nn.Sequential(nn.Maxout(6, 4, 3, b), nn.Maxout(4, 2, 2, b))
    checkpoint.load(tmp_path / "new.npz", {"net": again})
    for key in net.params:
        np.testing.assert_array_equal(again.params[key], net.params[key])
