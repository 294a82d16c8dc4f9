"""The image-tagging comparison (paper section 4.2 and beyond), in stages:

    python experiments/tagging.py baselines              # popular, kNN (k on validation), ceilings
    python experiments/tagging.py sweep [--only NAME ...] # learning rate, optimiser, dropout: validation
    python experiments/tagging.py final --method cgan --seeds 0 1 2 [--condition labels]
    python experiments/tagging.py report                  # tables and figures into docs/

Every run is a run directory under runs/tagging-exp/ (STAGE/NAME): a finished one
(results.json) is reused, an interrupted one resumes from its latest.npz, so the stages
can be split over processes and stopped at any time. Each results.json records the wall
time and the load average at its start and end. Hyperparameters and stopping points are
chosen on the validation images only; the test images are scored once per final run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nn  # noqa: E402
from cgan.core.loop import TrainingDiverged  # noqa: E402
from cgan.experiments.tagging import evaluate  # noqa: E402
from cgan.experiments.tagging.config import CONDITIONS, make_config  # noqa: E402
from cgan.experiments.tagging.data import load_data  # noqa: E402
from cgan.experiments.tagging.train import train_tagging  # noqa: E402

BASE = ROOT / "runs" / "tagging-exp"
SEEDS = (0, 1, 2)
KNN_KS = (5, 10, 20, 50, 100, 200, 500)

# The sweep (features condition, seed 0, the default preset's other settings, width_scale
# 0.5 to fit the CPU, patience 2, at most 6 epochs for the adversarial net (the CPU again)
# and 30 for the others; 500 validation images x 50 samples). Its first round ran with the
# earlier default of the adversarial net (unit-length output, the paper's 20 nearest words
# per sample), spelled out below so that the rows rerun as they ran; the second round
# (a vocabulary output: softmax, Gumbel-softmax, straight-through) follows.
SWEEP_COMMON = dict(epochs=30, patience=2, valid_limit=500, valid_samples=50, width_scale=0.5)
CGAN_EPOCHS = 6
FIRST = dict(method="cgan", g_output="unit", k_nearest=20, marginal_bias=False)
GUMBEL = dict(method="cgan", g_output="gumbel_hard", marginal_bias=True, k_nearest=1, patience=4, epochs=20)
SWEEP = {
    "cgan-adam2e-4": dict(FIRST),
    "cgan-adam1e-3": dict(FIRST, lr=1e-3),
    "cgan-adam2e-4-nodrop": dict(FIRST, d_keep=1.0, g_keep=1.0),
    "cgan-sgd0.1-paper": dict(method="cgan", preset="paper"),
    "cgan-adam1e-3-noise0.03": dict(FIRST, lr=1e-3, instance_noise=0.03),
    "cgan-adam1e-3-noise0.1": dict(FIRST, lr=1e-3, instance_noise=0.1),
    # G's output a mix of the vocabulary's vectors: a softmax, a Gumbel-softmax draw,
    # exactly the drawn word's vector (straight-through)
    "cgan-adam2e-4-vocab": dict(FIRST, g_output="vocab"),
    "cgan-adam2e-4-gumbel0.5": dict(FIRST, g_output="gumbel", temperature=0.5),
    "cgan-adam2e-4-gumbel0.2": dict(FIRST, g_output="gumbel", temperature=0.2),
    "cgan-adam2e-4-gumbelhard1": dict(FIRST, g_output="gumbel_hard", temperature=1.0),
    # ... with its bias at the tags' log-frequencies, one nearest word per sample (the
    # paper's 20 favour words near many others: docs/tagging.md), more patience
    "cgan-adam2e-4-gumbelhard1-marg-k1": dict(GUMBEL),
    "cgan-adam1e-3-gumbelhard1-marg-k1": dict(GUMBEL, lr=1e-3),
    "cgan-adam2e-4-gumbelhard1-marg-k1-nogdrop": dict(GUMBEL, g_keep=1.0),
    "cgan-adam2e-4-gumbelhard1-marg-k1-nodrop": dict(GUMBEL, d_keep=1.0, g_keep=1.0),
    "cgan-adam2e-4-gumbelhard0.5-marg-k1": dict(GUMBEL, temperature=0.5),
    # ... G's update by the score-function estimate from D's scores, not D's gradient
    "cgan-adam2e-4-gumbelhard1-marg-k1-score": dict(GUMBEL, g_estimator="score"),
    "cgan-adam2e-4-gumbelhard1-marg-k1-score-nogdrop": dict(GUMBEL, g_estimator="score", g_keep=1.0),
    "regression-adam2e-4": dict(method="regression", lr=2e-4, g_keep=0.5),
    "regression-adam1e-3": dict(method="regression", lr=1e-3, g_keep=0.5),
    "regression-adam1e-3-nodrop": dict(method="regression", lr=1e-3, g_keep=1.0),
    "regression-sgd0.01": dict(method="regression", optimizer="sgd", lr=0.01, lr_decay=1.00004, g_keep=0.5),
    "regression-sgd0.001": dict(method="regression", optimizer="sgd", lr=0.001, lr_decay=1.00004, g_keep=0.5),
    "classifier-adam2e-4": dict(method="classifier"),
    "classifier-adam1e-3": dict(method="classifier", lr=1e-3),
    "classifier-adam1e-3-nodrop": dict(method="classifier", lr=1e-3, g_keep=1.0),
}


def machine() -> str:
    return (f"{os.cpu_count()}-core {platform.machine()} CPU shared with other runs, "
            f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, Python "
            f"{platform.python_version()}")


def _locked(directory: Path) -> bool:
    """Another live process is training this run (its pid in directory/.lock)."""
    lock = directory / ".lock"
    if lock.exists():
        try:
            os.kill(int(lock.read_text()), 0)
            return True
        except (ValueError, ProcessLookupError):
            pass
    directory.mkdir(parents=True, exist_ok=True)
    lock.write_text(str(os.getpid()))
    return False


def run_one(directory: Path, config, data=None) -> dict | None:
    """Train (or resume, or reuse) one run; add wall time and load to its results.json.
    A run another process is training is skipped (None)."""
    done = directory / "results.json"
    if done.exists():
        return json.loads(done.read_text())
    if _locked(directory):
        print(f"{directory.name}: another process is training it; skipped", flush=True)
        return None
    load_start, start = os.getloadavg()[0], time.perf_counter()
    try:
        res = train_tagging(config, directory, data=data, exist_ok=True, resume=True, progress=False)
    except TrainingDiverged as exc:
        res = {"diverged": str(exc)}
    res.update(wall_seconds=time.perf_counter() - start, load_start=load_start, load_end=os.getloadavg()[0],
               machine=machine(), command=" ".join(["python", *sys.argv]))
    directory.mkdir(parents=True, exist_ok=True)
    done.write_text(json.dumps(res))
    (directory / ".lock").unlink(missing_ok=True)
    summary = {k: res.get(k) for k in ("best_epoch", "valid_precision@10", "precision@10", "recall@10",
                                          "wall_seconds", "diverged")}
    print(directory.name, json.dumps(summary), flush=True)
    return res


def common(method: str) -> dict:
    return dict(SWEEP_COMMON, epochs=CGAN_EPOCHS) if method == "cgan" else dict(SWEEP_COMMON)


def stage_sweep(only) -> None:
    for name, values in SWEEP.items():
        if only and name not in only:
            continue
        values = dict(values)
        preset = values.pop("preset", "default")
        config = make_config("features", preset=preset, **{**common(values["method"]), **values})
        run_one(BASE / "sweep" / name, config)


def chosen(method: str) -> dict:
    """The sweep's best settings of ``method`` (validation precision@10), as overrides."""
    best, best_p = None, -1.0
    for name, values in SWEEP.items():
        if values["method"] != method:
            continue
        path = BASE / "sweep" / name / "results.json"
        if not path.exists():
            continue
        res = json.loads(path.read_text())
        p = res.get("valid_precision@10") or -1.0
        if p > best_p:
            best, best_p = name, p
    if best is None:
        raise SystemExit(f"no finished sweep run of {method}: run the sweep first")
    values = dict(SWEEP[best])
    values.pop("method")
    return {"name": best, "preset": values.pop("preset", "default"), **values}


def final_dir(condition: str, method: str, seed: int) -> Path:
    """Where the final run of (condition, method, seed) is: for the features condition and
    seed 0, the winning sweep run itself (the sweep trains on all training images with the
    same stopping rule, so it is that run)."""
    if condition == "features" and seed == 0:
        return BASE / "sweep" / chosen(method)["name"]
    return BASE / "final" / f"{condition}-{method}-s{seed}"


def stage_final(condition: str, method: str, seeds) -> None:
    settings = chosen(method)
    name, preset = settings.pop("name"), settings.pop("preset")
    settings = {**common(method), **settings}
    print(f"final {condition} {method}: settings of sweep run {name} ({preset}, {settings})", flush=True)
    for seed in seeds:
        config = make_config(condition, preset=preset, method=method, seed=seed, **settings)
        run_one(final_dir(condition, method, seed), config)


def stage_baselines(condition: str) -> None:
    b = nn.get_backend("numpy", seed=0)
    config = make_config(condition, preset="default")
    data = load_data(config, b)
    out = {"train_images": len(data.train_rows), "pairs": data.n, "valid_images": len(data.valid),
           "test_images": len(data.test), "machine": machine()}
    knn = {}
    for k in KNN_KS:
        knn[k] = evaluate.evaluate_predictions(evaluate.knn_tags(data, b, k=k, images=data.valid), data, b,
                                               data.valid)["precision@10"]
    best_k = max(knn, key=knn.get)
    out["knn_valid_precision@10"] = knn
    out["knn_k"] = best_k

    def score(name, predicted, images):
        res = evaluate.evaluate_predictions(predicted, data, b, images)
        out[name] = {k: v for k, v in res.items()}

    for split in ("valid", "test"):
        images = data.split(split)
        score(f"{split}-popular", evaluate.popular_tags(data, b, images=images), images)
        score(f"{split}-knn", evaluate.knn_tags(data, b, k=best_k, images=images), images)
        truth = evaluate.multi_hot(images.tags, len(data.vocab), b)
        mean = (truth @ data.word_vectors) / truth.sum(axis=1, keepdims=True)
        score(f"{split}-oracle-mean", evaluate.tags_from_samples(mean, mean.shape[0], data.word_vectors, b)[0],
              images)
    path = BASE / "baselines" / f"{condition}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=["baselines", "sweep", "final", "report"])
    parser.add_argument("--condition", choices=CONDITIONS, default="features")
    parser.add_argument("--method", choices=["cgan", "regression", "classifier"], default="cgan")
    parser.add_argument("--seeds", type=int, nargs="*", default=list(SEEDS))
    parser.add_argument("--only", nargs="*", help="sweep: only these names")
    args = parser.parse_args(argv)
    if args.stage == "baselines":
        stage_baselines(args.condition)
    elif args.stage == "sweep":
        stage_sweep(args.only)
    elif args.stage == "final":
        stage_final(args.condition, args.method, args.seeds)
    else:
        from tagging_report import report   # experiments/tagging_report.py

        report(BASE, ROOT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
