"""Reduced runs of every experiment, fingerprinted: the same seeds must give the same numbers.

Each case trains a reduced-width version of one experiment for a few iterations (MNIST
conditional and unconditional with several presets, WGAN, the saturating loss, a resumed
run; tagging on both conditions and the regression baseline; the toy problems, the
minimax experiments and the demo), in float32 and in float64, and records for every
parameter array (and optimiser slot, kept sample grid and reported number) its SHA-256
and, for float64, a few probe values that another machine's BLAS reproduces to ~1e-13.

    PYTHONPATH=. OPENBLAS_NUM_THREADS=1 python3 tests/golden/runs.py --write tests/golden/golden.json
    PYTHONPATH=. OPENBLAS_NUM_THREADS=1 python3 tests/golden/runs.py --compare tests/golden/golden.json
    PYTHONPATH=. OPENBLAS_NUM_THREADS=1 python3 tests/golden/runs.py --rehash tests/golden/golden.json

(``--rehash``: after a change that moves only float32 rounding, re-record the hashes and
the environment, keeping the float64 probes; refused unless those still agree to 1e-10.)

``--real`` adds cases on real MNIST at full width through the ``cgan`` command (float32
only; needs MNIST in the cache) and ``--resume-copy DIR`` resumes a copy of a run directory
written by another version of the code for three minibatches.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import nn  # noqa: E402

PROBES = 6  # probe values stored per float64 array


# -- fingerprints ---------------------------------------------------------------------------
def digest(a) -> str:
    a = np.ascontiguousarray(np.asarray(a))
    return hashlib.sha256(str(a.dtype).encode() + str(a.shape).encode() + a.tobytes()).hexdigest()[:32]


def probes(a) -> list[float]:
    """A few float64 numbers that move with every entry of ``a``: its sum, a weighted sum
    and some entries (the first, the last, evenly spaced ones)."""
    flat = np.asarray(a, dtype=np.float64).ravel()
    if flat.size == 0:
        return []
    weights = np.sin(np.arange(1, flat.size + 1, dtype=np.float64))
    picks = np.linspace(0, flat.size - 1, PROBES - 2).round().astype(int)
    return [float(flat.sum()), float(flat @ weights)] + [float(flat[i]) for i in picks]


def fingerprint(arrays: dict) -> dict:
    out = {}
    for name in sorted(arrays):
        a = np.asarray(arrays[name])
        entry = {"sha": digest(a)}
        if a.dtype == np.float64:
            entry["probes"] = probes(a)
            entry["scale"] = float(np.abs(a).max()) if a.size else 0.0
        out[name] = entry
    return out


def numbers(record: dict, drop=("seconds",)) -> dict:
    """The numeric entries of a record, without timings."""
    return {k: v for k, v in sorted(record.items())
            if not any(d in k for d in drop) and isinstance(v, (int, float)) and not isinstance(v, bool)}


def checkpoint_arrays(path) -> dict:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files if not k.startswith("__")}


def environment() -> dict:
    """What an exact float32 result depends on besides the code."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import scipy

    from cgan.experiments.mnist.bench import blas_build

    def blas_of(module) -> str:
        build = blas_build(module)
        return f"{build.get('name')} {build.get('version')}" if build else "unknown"

    # the layers' products and the optimisers' updates run on SciPy's BLAS (nn.blas),
    # everything else on NumPy's
    return {"numpy": np.__version__, "blas": blas_of(np), "scipy": scipy.__version__,
            "scipy_blas": blas_of(scipy), "machine": platform.machine(), "cpu": cpu,
            "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "unset")}


# -- data -------------------------------------------------------------------------------------
def mnist_like(n_train=200, n_valid=60, n_test=40, seed=0):
    """uint8 MNIST-shaped splits (blurry class prototypes plus noise), as cgan.data.mnist
    makes them from the IDX files."""
    from cgan.data.mnist import make_splits

    rng = np.random.default_rng(seed)
    prototypes = rng.random((10, 784)) ** 3
    n = n_train + n_valid
    y = rng.integers(0, 10, n + n_test)
    x = np.clip(prototypes[y] + 0.1 * rng.standard_normal((n + n_test, 784)), 0, 1)
    images = (x * 255).round().astype(np.uint8).reshape(-1, 28, 28)
    return make_splits(images[:n], y[:n], images[n:], y[n:], n_train=n_train)


def mirflickr_like(seed=0, n_images=80, vocab=30, feature_dim=16):
    """A small MirFlickr with random tags, features and labels."""
    from cgan.data.mirflickr import MirFlickr

    rng = np.random.default_rng(seed)
    tags = [sorted(set(rng.integers(0, vocab, rng.integers(0, 5)).tolist())) for _ in range(n_images)]
    feature_rows = [r for r in range(n_images) if r % 7 != 3]
    return MirFlickr(
        data_dir=Path("/nonexistent"), vocab=[f"w{i}" for i in range(vocab)],
        image_paths=[f"/nonexistent/im{i + 1}.jpg" for i in range(n_images)],
        image_ids=list(range(1, n_images + 1)), tags=tags,
        labels=(rng.random((n_images, 24)) < 0.2).astype(np.float32),
        label_names=[f"l{i}" for i in range(24)],
        features=rng.standard_normal((len(feature_rows), feature_dim)).astype(np.float32),
        feature_rows=feature_rows,
    ), rng.standard_normal((vocab, 12)).astype(np.float32)


# -- the code under test (this is the only part that knows where things live) ------------------
class API:
    """The entry points of the project (the layout of cgan/core and cgan/experiments)."""

    @staticmethod
    def mnist_train(config, run_dir, splits, backend, resume=False):
        from cgan.experiments.mnist.train import train

        return train(config, run_dir, splits, resume=resume, progress=False, prepared=True, backend=backend)

    @staticmethod
    def mnist_config(model, preset, **overrides):
        from cgan.experiments.mnist.config import resolve_config

        return resolve_config(model, preset, **overrides)

    @staticmethod
    def new_run(config, run_dir):
        from cgan.experiments.mnist.train import new_run

        new_run(config, run_dir)

    @staticmethod
    def resume_config(run_dir, epochs):
        from cgan.experiments.mnist.train import resume_config

        return resume_config(run_dir, epochs=epochs)

    @staticmethod
    def mnist_evaluate(run_dir, backend, splits, data_dir):
        from cgan.experiments.mnist.evaluate import evaluate_run, interpolation_figures, sample_to_npz

        result = evaluate_run(run_dir, backend, splits, n_samples=100, sigma_points=20,
                              data_dir=data_dir, progress=False)
        npz = sample_to_npz(run_dir, backend, Path(data_dir) / "s.npz", n=30, seed=3)
        with np.load(npz) as f:
            samples = {"npz_x": f["x"], "npz_y": f["y"]}
        out = {"eval": result, "arrays": samples}
        if result["model"] == "cgan":
            grids = interpolation_figures(run_dir, backend, output=Path(data_dir) / "i.png", rows=2,
                                          steps=3, seed=4, spherical=True)
            out["arrays"].update(labels_grid=grids["labels_grid"],
                                 interpolation_grid=grids["interpolation_grid"])
        return out

    @staticmethod
    def tagging_run(condition, method, dtype, run_dir, **overrides):
        from cgan.experiments.tagging.config import make_config
        from cgan.experiments.tagging.data import prepare_data
        from cgan.experiments.tagging.train import train_tagging

        dataset, vectors = mirflickr_like()
        config = make_config(condition, method=method, seed=1, width_scale=0.05, batch_size=20,
                             n_samples=4, k_nearest=3, epochs=2, **overrides)
        b = nn.get_backend(config.backend, dtype, seed=config.seed)
        data = prepare_data(dataset, vectors, condition, b, split_seed=0)
        return train_tagging(config, run_dir, data=data, progress=False, backend=b)

    @staticmethod
    def toy(dtype, loss, saturating, frozen):
        from cgan.experiments.toy import minimax, theory
        from cgan.experiments.toy.train import train_toy
        from cgan.models.toy import toy_pair

        b = nn.get_backend("numpy", dtype, seed=2)
        if frozen:
            pair = minimax.train_discriminator_against(minimax.P_G, b, steps=15, batch=32, hidden=8, seed=2)
            return {"d/" + k: v for k, v in pair.discriminator.params.items()}
        pair = toy_pair(b, 2, 2, hidden=8)
        if loss == "wasserstein":
            d_opt = nn.RMSProp(pair.discriminator.params, pair.discriminator.grads, lr=1e-3)
            g_opt = nn.RMSProp(pair.generator.params, pair.generator.grads, lr=1e-3)
            nn.clip_values(pair.discriminator.params, 0.05)
        else:
            d_opt = nn.Adam(pair.discriminator.params, pair.discriminator.grads, lr=1e-3)
            g_opt = nn.SGD(pair.generator.params, pair.generator.grads, lr=0.05, momentum=0.5)
        seen = []
        train_toy(pair, d_opt, g_opt, lambda n: theory.sample_ring(b, n), lambda n: b.normal((n, 2)),
                  steps=12, batch=32, loss=loss, saturating=saturating,
                  k_steps=3 if loss == "wasserstein" else 2, clip=0.05,
                  callback=seen.append, every=4)
        assert seen == [0, 4, 8, 12], seen
        arrays = {"g/" + k: v for k, v in pair.generator.params.items()}
        arrays.update({"d/" + k: v for k, v in pair.discriminator.params.items()})
        return arrays

    @staticmethod
    def minimax():
        from cgan.experiments.toy import minimax

        out = {}
        r = minimax.optimal_discriminator(steps=40, batch=64, hidden=16, family=(0.5,), family_steps=20)
        out["optimal_d"] = ({"d": r["d"]}, {"v_trained": r["v_trained"],
                                            "family_v": r["family"][0]["v_trained"]})
        r = minimax.figure1(moments=(0, 20, 40), n_samples=2000, batch=64)
        out["figure1"] = ({f"d{s['step']}": s["d"] for s in r["snapshots"]},
                          {f"{k}{s['step']}": s[k] for s in r["snapshots"] for k in ("g_mean", "g_std")})
        r = minimax.saturation(pretrain_steps=40, every=20, run_steps=40, batch=64, record_every=10)
        arrays = {f"pre{m['step']}_{k}": m[k] for m in r["pretrain"]
                  for k in ("d_fake_samples", "per_sample_saturating", "per_sample_nonsaturating")}
        nums = {f"pre{m['step']}_{k}": m[k] for m in r["pretrain"] for k in ("saturating", "nonsaturating", "d_fake")}
        for name, run in r["runs"].items():
            nums.update({f"{name}_{s}_{i}": v for s, *vals in run["trace"] for i, v in enumerate(vals)})
        out["saturation"] = (arrays, nums)
        for loss in ("bce", "wasserstein"):
            r = minimax.ring(loss=loss, steps=20, every=10, batch=64, hidden=16)
            nums = {f"{h['step']}_{k}": h[k] for h in r["history"] for k in ("covered", "high_quality")}
            nums["critic_max_abs"] = r["critic_max_abs"]
            out[f"ring_{loss}"] = ({"samples": r["samples"]}, nums)
        return out

    @staticmethod
    def demo(dtype):
        from cgan.experiments.toy import demo

        captured = {}
        build = demo.demo_pair

        def capture(backend):
            pair = build(backend)
            captured.update(g=pair.generator, d=pair.discriminator)
            return pair

        demo.demo_pair = capture
        try:
            result = demo.run_demo(nn.get_backend("numpy", dtype, seed=5), steps=60, batch=32, progress=False)
        finally:
            demo.demo_pair = build
        arrays = {"g/" + k: v for k, v in captured["g"].params.items()}
        arrays.update({"d/" + k: v for k, v in captured["d"].params.items()})
        return arrays, result.as_dict()

    @staticmethod
    def cli(argv):
        from cgan.cli import main

        return main(argv)


# -- the cases ----------------------------------------------------------------------------------
MNIST_CASES = {
    # "default" was renamed "adam" when the default became the original configuration:
    # these cases keep their names and their recorded values.
    "cgan-default": ("cgan", "adam", {}),
    "gan-default": ("gan", "adam", {}),
    "cgan-original": ("cgan", "original", {"eval_sigma_points": 20}),
    "gan-original": ("gan", "original", {"eval_sigma_points": 20}),
    "cgan-paper": ("cgan", "paper", {}),
    "cgan-wasserstein": ("cgan", "adam", {"loss": "wasserstein"}),
    "gan-wasserstein": ("gan", "adam", {"loss": "wasserstein", "k_steps": 2, "clip": 0.02}),
    "cgan-saturating-k2": ("cgan", "adam", {"g_loss": "saturating", "k_steps": 2, "optimizer": "sgd",
                                               "lr": 0.1, "lr_decay": 1.00004}),
}
SMALL = dict(width_scale=0.05, batch_size=20, epochs=2, eval_samples=100, eval_valid_points=40, seed=7)


def mnist_case(name, dtype, tmp: Path, api=API) -> dict:
    model, preset, extra = MNIST_CASES[name]
    splits = mnist_like()
    config = api.mnist_config(model, preset, **{**SMALL, **extra})
    run = tmp / f"mnist-{name}-{dtype}"
    (tmp / f"eval-{name}").mkdir(parents=True, exist_ok=True)
    api.new_run(config, run)
    summary = api.mnist_train(config, run, splits, nn.get_backend("numpy", dtype, seed=config.seed))
    metrics = [numbers(json.loads(line)) for line in (run / "metrics.jsonl").read_text().splitlines()]
    out = {"arrays": fingerprint(checkpoint_arrays(run / "latest.npz")), "metrics": metrics,
           "summary": numbers(summary)}
    if name in ("cgan-default", "gan-original", "cgan-wasserstein") and dtype == "float32":
        ev = api.mnist_evaluate(run, nn.get_backend("numpy", dtype), splits, tmp / f"eval-{name}")
        out["eval"] = numbers(ev["eval"], drop=("seconds", "path"))
        out["eval"].update({f"label_accuracy_{i}": v for i, v in
                            enumerate(ev["eval"].get("label_accuracy", {}).get("per_class", []))})
        out["eval_arrays"] = fingerprint(ev["arrays"])
    return out


def mnist_resumed(dtype, tmp: Path, api=API) -> dict:
    """cgan-default: one epoch, then resumed to two (must equal the straight run)."""
    splits = mnist_like()
    model, preset, extra = MNIST_CASES["cgan-default"]
    config = api.mnist_config(model, preset, **{**SMALL, **extra, "epochs": 1})
    run = tmp / f"mnist-resumed-{dtype}"
    api.new_run(config, run)
    api.mnist_train(config, run, splits, nn.get_backend("numpy", dtype, seed=config.seed))
    config = api.resume_config(run, epochs=2)
    api.mnist_train(config, run, splits, nn.get_backend("numpy", dtype, seed=config.seed), resume=True)
    metrics = [numbers(json.loads(line)) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {"arrays": fingerprint(checkpoint_arrays(run / "latest.npz")), "metrics": metrics}


TAGGING_CASES = {
    "features-cgan": ("features", "cgan", {}),
    "labels-cgan": ("labels", "cgan", {"max_updates": 5}),
    "features-regression": ("features", "regression", {"lr": 0.01}),
}


def tagging_case(name, dtype, tmp: Path, api=API) -> dict:
    condition, method, extra = TAGGING_CASES[name]
    run = tmp / f"tagging-{name}-{dtype}"
    results = api.tagging_run(condition, method, dtype, run, **extra)
    metrics = [numbers(json.loads(line)) for line in (run / "metrics.jsonl").read_text().splitlines()]
    arrays = checkpoint_arrays(run / "latest.npz")
    arrays["predicted"] = np.asarray(results["predicted"], dtype=np.int64)
    return {"arrays": fingerprint(arrays), "metrics": metrics, "results": numbers(results)}


def all_cases(tmp: Path, api=API, real: bool = False, resume_copy: str | None = None):
    """(name, thunk) for every case; each thunk returns a JSON-able dict."""
    cases = []
    for dtype in ("float32", "float64"):
        for name in MNIST_CASES:
            cases.append((f"mnist/{name}/{dtype}", lambda n=name, d=dtype: mnist_case(n, d, tmp, api)))
        cases.append((f"mnist/cgan-default-resumed/{dtype}", lambda d=dtype: mnist_resumed(d, tmp, api)))
        for name in TAGGING_CASES:
            cases.append((f"tagging/{name}/{dtype}", lambda n=name, d=dtype: tagging_case(n, d, tmp, api)))
        for loss, saturating, frozen in (("bce", False, False), ("bce", True, False),
                                         ("wasserstein", False, False), ("bce", False, True)):
            label = "frozen-g" if frozen else f"{loss}{'-saturating' if saturating else ''}"
            cases.append((f"toy/{label}/{dtype}",
                          lambda d=dtype, l=loss, s=saturating, f=frozen: {"arrays": fingerprint(api.toy(d, l, s, f))}))

        def demo(d=dtype):
            arrays, result = api.demo(d)
            return {"arrays": fingerprint(arrays), "result": numbers(result)}

        cases.append((f"demo/{dtype}", demo))

    def minimax():
        return {name: {"arrays": fingerprint(a), "numbers": numbers(n)} for name, (a, n) in api.minimax().items()}

    cases.append(("minimax/float32", minimax))
    if real:
        for name, argv in REAL_CASES.items():
            cases.append((f"real/{name}/float32", lambda n=name, a=argv: real_case(n, a, tmp, api)))
    if resume_copy:
        cases.append(("real/resume-copy/float32", lambda: resume_copy_case(resume_copy, tmp, api)))
    return cases


# -- full width on real MNIST, through the command line (this machine only) -------------------------
REAL_CASES = {
    "cgan-default": ["--preset", "adam"],  # the default preset before it was renamed
    "cgan-original": ["--preset", "original"],
    "gan-original": ["--model", "gan", "--preset", "original"],
    "cgan-wasserstein": ["--preset", "adam", "--loss", "wasserstein", "--n-critic", "2", "--clip", "0.05"],
}


def real_case(name, argv, tmp: Path, api=API) -> dict:
    out = tmp / f"real-{name}"
    limit = "256" if "wasserstein" in argv else "300"
    code = api.cli(["train", "mnist", *argv, "--out", str(out), "--epochs", "1", "--train-limit", limit,
                    "--eval-samples", "200", "--eval-valid-points", "200", "--quiet"])
    assert code == 0, code
    result = {"arrays": fingerprint(checkpoint_arrays(out / "latest.npz")),
              "metrics": [numbers(json.loads(x)) for x in (out / "metrics.jsonl").read_text().splitlines()]}
    if name == "cgan-default":
        assert api.cli(["eval", str(out), "--samples", "200", "--sigma-points", "100", "--quiet"]) == 0
        ev = json.loads((out / "eval.json").read_text())
        result["eval"] = numbers(ev)
        result["eval"]["label_accuracy"] = ev["label_accuracy"]["overall"]
        assert api.cli(["sample", str(out), "-n", "20", "--npz", str(tmp / "real.npz")]) == 0
        with np.load(tmp / "real.npz") as f:
            result["sample"] = fingerprint({"x": f["x"], "y": f["y"]})
    return result


def resume_copy_case(source: str, tmp: Path, api=API) -> dict:
    """A copy of a run directory written by another version of the code, cut to three
    minibatches and a small evaluation, resumed for one more epoch with `cgan train --resume`."""
    run = tmp / "resume-copy"
    run.mkdir()
    for name in ("config.json", "latest.npz", "metrics.jsonl"):
        shutil.copy(Path(source) / name, run / name)
    with np.load(run / "latest.npz") as f:
        epoch = json.loads(str(f["__meta__"]))["epoch"]
    config = json.loads((run / "config.json").read_text())
    config.update(train_limit=300, eval_samples=200, eval_valid_points=200, eval_sigma_points=100)
    (run / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    code = api.cli(["train", "mnist", "--out", str(run), "--resume", "--epochs", str(epoch + 1), "--quiet"])
    assert code == 0, code
    return {"arrays": fingerprint(checkpoint_arrays(run / "latest.npz")),
            "metrics": [numbers(json.loads(x)) for x in (run / "metrics.jsonl").read_text().splitlines()][-1:]}


# -- comparing ----------------------------------------------------------------------------------------
def compare(expected, actual, path="", exact=True, rtol=1e-10) -> list[str]:
    """Differences between two recordings: hashes must match when ``exact``; float64 probes
    within rtol (of the array's largest entry) always; other numbers within rtol."""
    problems = []
    if isinstance(expected, dict) and "sha" in expected:
        if "probes" in expected:
            if len(expected["probes"]) != len(actual.get("probes", [])):
                return [f"{path}: size changed"]
            scale = expected["scale"]
            for i, (e, a) in enumerate(zip(expected["probes"], actual["probes"])):
                if not abs(e - a) <= rtol * max(abs(e), scale):
                    problems.append(f"{path}: probe {i} {a!r} != {e!r}")
        if exact and expected["sha"] != actual["sha"]:
            problems.append(f"{path}: sha {actual['sha']} != {expected['sha']}")
        return problems
    if isinstance(expected, dict):
        if set(expected) - set(actual):
            problems.append(f"{path}: missing {sorted(set(expected) - set(actual))}")
        for key in expected:
            if key in actual:
                problems += compare(expected[key], actual[key], f"{path}/{key}", exact, rtol)
        return problems
    if isinstance(expected, list):
        if len(expected) != len(actual):
            return [f"{path}: length {len(actual)} != {len(expected)}"]
        for i, (e, a) in enumerate(zip(expected, actual)):
            problems += compare(e, a, f"{path}[{i}]", exact, rtol)
        return problems
    if isinstance(expected, float) or isinstance(actual, float):
        if exact:
            same = expected == actual or (math.isnan(expected) and math.isnan(actual))
        else:
            same = (math.isnan(expected) and math.isnan(actual)) or abs(expected - actual) <= rtol * max(abs(expected), 1.0)
        if not same:
            problems.append(f"{path}: {actual!r} != {expected!r}")
        return problems
    if expected != actual:
        problems.append(f"{path}: {actual!r} != {expected!r}")
    return problems


def merge_exact(recorded, actual, keep_probes: bool):
    """``recorded`` with its hashes and numbers taken from ``actual``, and its probes too
    unless ``keep_probes`` (float64 cases keep the probes they were first recorded with)."""
    if isinstance(recorded, dict) and "sha" in recorded:
        return {**recorded, "sha": actual["sha"]} if keep_probes else {**recorded, **actual}
    if isinstance(recorded, dict):
        return {key: merge_exact(value, actual[key], keep_probes) for key, value in recorded.items()}
    if isinstance(recorded, list):
        return [merge_exact(e, a, keep_probes) for e, a in zip(recorded, actual)]
    return actual


def same_structure(recorded, actual, path="") -> list[str]:
    """Where ``actual`` does not hold the recorded keys (it may hold more, as
    :func:`compare` allows), lengths and kinds of value."""
    if isinstance(recorded, dict):
        if not isinstance(actual, dict) or set(recorded) - set(actual):
            return [f"{path}: missing keys"]
        return [p for key in recorded for p in same_structure(recorded[key], actual[key], f"{path}/{key}")]
    if isinstance(recorded, list):
        if not isinstance(actual, list) or len(recorded) != len(actual):
            return [f"{path}: other length"]
        return [p for i, (e, a) in enumerate(zip(recorded, actual)) for p in same_structure(e, a, f"{path}[{i}]")]
    if isinstance(recorded, (int, float)) and not isinstance(recorded, bool):
        return [] if isinstance(actual, (int, float)) and not isinstance(actual, bool) else [f"{path}: not a number"]
    return [] if type(recorded) is type(actual) else [f"{path}: another kind of value"]


def rehash(path: Path, recorded: dict) -> int:
    """Re-record the exact parts of ``path`` (a change of float32 rounding, e.g. another
    summation order), after checking every case against its float64 probes and numbers."""
    golden = json.loads(path.read_text())
    missing = sorted(set(golden["cases"]) - set(recorded["cases"]))
    if missing:
        print(f"not rehashed: cases not run: {missing}")
        return 1
    # float64 cases: every probe and number within rtol 1e-10 of the recording; float32
    # cases (hashes and float32 numbers only, which any change of rounding moves): the
    # same arrays and numbers recorded
    bad = {name: compare(golden["cases"][name], recorded["cases"][name], name, exact=False)
           if name.endswith("float64") else same_structure(golden["cases"][name], recorded["cases"][name], name)
           for name in golden["cases"]}
    bad = {name: problems for name, problems in bad.items() if problems}
    for name, problems in bad.items():
        print(f"{name}: DIFFERENT beyond rtol 1e-10", *problems[:10], sep="\n    ")
    if bad:
        print(f"not rehashed: {len(bad)} case(s) moved beyond the probes' tolerance")
        return 1
    golden["cases"] = {name: merge_exact(case, recorded["cases"][name], keep_probes=name.endswith("float64"))
                       for name, case in golden["cases"].items()}
    golden["environment"] = recorded["environment"]
    path.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    print(f"rehashed {len(golden['cases'])} cases in {path} for {recorded['environment']}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", help="record every case into this JSON file")
    parser.add_argument("--compare", help="compare every case with this JSON file")
    parser.add_argument("--only", help="run the cases whose name contains this")
    parser.add_argument("--rehash", help="re-record this JSON file's exact parts (hashes, exact numbers, the "
                        "environment) from this code, keeping its float64 probes; refused unless every "
                        "case agrees with those probes (rtol 1e-10)")
    parser.add_argument("--real", action="store_true", help="add full-width real-MNIST cases (cgan command)")
    parser.add_argument("--resume-copy", help="add a resumed copy of this run directory")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        cases = all_cases(Path(tmp), real=args.real, resume_copy=args.resume_copy)
        recorded = {"environment": environment(), "cases": {}}
        for name, run in cases:
            if args.only and args.only not in name:
                continue
            print(name, file=sys.stderr, flush=True)
            recorded["cases"][name] = run()
    if args.rehash:
        return rehash(Path(args.rehash), recorded)
    if args.write:
        Path(args.write).write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    if args.compare:
        golden = json.loads(Path(args.compare).read_text())
        same_env = golden["environment"] == recorded["environment"]
        if not same_env:
            print(f"another environment: {recorded['environment']} (recorded: {golden['environment']}); "
                  "float32 cases are skipped, float64 ones compared by their probes (rtol 1e-10)")
        bad = 0
        for name, actual in recorded["cases"].items():
            if name not in golden["cases"]:
                print(f"{name}: not recorded in {args.compare}")
                continue
            if not same_env and not name.endswith("float64"):
                print(f"{name}: skipped")
                continue
            problems = compare(golden["cases"][name], actual, name, exact=same_env)
            bad += bool(problems)
            print(f"{name}: {'IDENTICAL' if not problems and same_env else 'SAME' if not problems else 'DIFFERENT'}")
            for p in problems[:10]:
                print("   ", p)
        return 1 if bad else 0
    if not args.write:
        print(json.dumps(recorded, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
