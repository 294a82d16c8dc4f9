"""One GPU check that fits a short window: tests on CuPy, the benchmark, timed training, a report.

Run it through ``experiments/gpu_check.sh`` on any machine with CUDA and CuPy installed
(no network, no pip install: it runs from the source tree). In order, each step with a
time limit so that the whole check stays under about 8 minutes:

1. the tests that run on CuPy (``pytest --backends cupy -k "cupy or device"``: every
   backend-parametrised test and the CuPy-only ones; the other tests need no GPU);
2. ``cgan bench --backend cupy --quick`` (against PyTorch CUDA where PyTorch is installed),
   then ``experiments/bench_fused.py`` (the one-kernel optimiser updates against the
   array expressions);
3. a few epochs of the ``original`` preset (the 300-epoch schedule of the original code,
   conditional networks) and of the ``default`` preset on CuPy, each timed, then
   ``cgan eval`` on each (Parzen, label accuracy, Frechet), timed;
4. a report, ``OUT/gpu-check.json`` and ``OUT/gpu-check.md``: the GPU's name, driver,
   CUDA, CuPy, NumPy and PyTorch versions, and every figure, including the projected time
   of the full 300-epoch schedule.

MNIST comes from ``--data-dir`` (the four IDX files, as ``cgan`` keeps them in
``~/.cache/cgan-numpy/mnist``); nothing is downloaded.

``--backend numpy`` runs the same steps on the CPU: a rehearsal of the script itself on a
machine without a GPU (slow; the figures are the CPU's), so that a short GPU window is not
spent on a broken step.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cgan.data.mnist_fetch import MNIST_FILES  # noqa: E402  (the four files' names)
from nn.fileio import atomic_write  # noqa: E402

# Each step's time limit in seconds on the GPU: 480 s (8 minutes) together, so that the
# whole check fits a 10-minute command with the start-up around it. A step that runs out
# is recorded as "timeout" and the check goes on.
LIMITS = {"tests": 170, "bench": 95, "fused": 25, "train": 55, "eval": 40}


def run(cmd: list[str], log: Path, timeout: float, env: dict) -> dict:
    """Run a command with a time limit; its output goes to ``log``."""
    start = time.perf_counter()
    with open(log, "w") as f:
        try:
            proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT,
                                  timeout=timeout)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
    return {"command": " ".join(cmd), "exit": code, "seconds": round(time.perf_counter() - start, 1),
            "log": str(log)}


def versions() -> dict:
    info = {"python": platform.python_version(), "host": platform.node()}
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=30)
        info["gpu"] = smi.stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        info["gpu"] = f"nvidia-smi failed: {exc}"
    for module in ("numpy", "cupy", "torch"):
        try:
            mod = __import__(module)
            info[module] = mod.__version__
        except ImportError:
            info[module] = None
    try:
        import cupy

        info["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
        info["cuda_driver"] = cupy.cuda.runtime.driverGetVersion()
        info["device"] = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    except Exception as exc:  # noqa: BLE001 (the report says what failed)
        info["cupy_error"] = repr(exc)
    return info


def pytest_counts(log: Path) -> dict:
    text = log.read_text(errors="replace") if log.exists() else ""
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|skipped|errors?)", text)}
    last = [line for line in text.splitlines() if "passed" in line or "failed" in line]
    counts["summary"] = last[-1] if last else text[-500:]
    return counts


def read_metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("CGAN_DATA_DIR"),
                        help="the directory with MNIST's four IDX files")
    parser.add_argument("--out", default="runs/gpu-check", help="report and runs (default runs/gpu-check)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of each timed preset (default 3)")
    parser.add_argument("--backend", choices=("cupy", "numpy"), default="cupy",
                        help="cupy (the check); numpy: a rehearsal of this script on the CPU")
    args = parser.parse_args(argv)
    backend = args.backend
    # a rehearsal on the CPU is slower: give its steps room, the figures are not the point
    slack = 1.0 if backend == "cupy" else 6.0
    out = (ROOT / args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    if args.data_dir:
        data = Path(args.data_dir).resolve()
        missing = [name for name in MNIST_FILES if not (data / name).exists() and not (data / f"{name}.gz").exists()]
        if missing:
            print(f"gpu_check: {data} lacks {', '.join(missing)} (or their .gz): copy the four MNIST files "
                  "there (e.g. from ~/.cache/cgan-numpy/mnist); nothing is downloaded", file=sys.stderr)
            return 2
        # every command finds MNIST in $CGAN_DATA_DIR/mnist: a link to the directory given
        root = out / "data-root"
        root.mkdir(exist_ok=True)
        link = root / "mnist"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(data, target_is_directory=True)
        env["CGAN_DATA_DIR"] = str(root)
    cgan = [sys.executable, "-m", "cgan.cli"]
    report: dict = {"date": time.strftime("%Y-%m-%d %H:%M"), "versions": versions(), "steps": {}}
    started = time.perf_counter()

    def save() -> None:
        """Write the report so far: a check cut short by its window keeps what it measured."""
        report["seconds"] = round(time.perf_counter() - started, 1)
        for name, text in (("gpu-check.json", json.dumps(report, indent=2) + "\n"),
                           ("gpu-check.md", markdown(report))):
            with atomic_write(out / name, "w", encoding="utf-8") as f:
                f.write(text)

    report["backend"] = backend
    # the tests that touch CuPy (the backend-parametrised ones carry "cupy" in their ids, the
    # rest say "cupy" or "device" in their names); the others are CPU tests, which CI runs
    step = run([sys.executable, "-m", "pytest", "-q", "--maxfail=20", "--backends", backend, "-k",
                "cupy or device" if backend == "cupy" else "numpy or device", "-p", "no:cacheprovider"],
               out / f"pytest-{backend}.log", LIMITS["tests"] * slack, env)
    step.update(pytest_counts(out / f"pytest-{backend}.log"))
    report["steps"]["tests_cupy"] = step
    save()
    print("tests:", step.get("summary"), flush=True)

    bench_json = out / f"bench-{backend}.json"
    step = run(cgan + ["bench", "--backend", backend, "--quick", "--json", str(bench_json),
                       "--doc", str(out / f"bench-{backend}.md")], out / "bench.log", LIMITS["bench"] * slack, env)
    if bench_json.exists():
        step["result"] = json.loads(bench_json.read_text())
    report["steps"]["bench"] = step
    save()
    print("bench:", step["exit"], step["seconds"], "s", flush=True)

    fused_json = out / f"bench-fused-{backend}.json"
    step = run([sys.executable, "experiments/bench_fused.py", "--backend", backend, "--json", str(fused_json)],
               out / "bench-fused.log", LIMITS["fused"] * slack, env)
    if fused_json.exists():
        step["result"] = json.loads(fused_json.read_text())
    report["steps"]["fused"] = step
    save()
    print("one-kernel updates:", step["exit"], step["seconds"], "s", flush=True)

    for preset in ("original", "default"):
        run_dir = out / f"mnist-cgan-{preset}"
        if run_dir.exists():
            import shutil

            shutil.rmtree(run_dir)
        step = run(cgan + ["train", "mnist", "--preset", preset, "--backend", backend, "--epochs",
                           str(args.epochs), "--out", str(run_dir), "--quiet"],
                   out / f"train-{preset}.log", LIMITS["train"] * slack, env)
        metrics = read_metrics(run_dir)
        step["epochs"] = [{k: r.get(k) for k in ("epoch", "train_seconds", "eval_seconds", "valid_ll",
                                                 "d_real", "d_fake")} for r in metrics]
        if metrics:
            per_epoch = sorted(r["train_seconds"] for r in metrics)[len(metrics) // 2]
            step["median_train_seconds_per_epoch"] = per_epoch
            step["ms_per_iteration"] = 1000 * per_epoch / metrics[-1]["updates"] * len(metrics)
            step["projected_300_epochs_minutes"] = 300 * per_epoch / 60
        report["steps"][f"train_{preset}"] = step
        save()
        ev = run(cgan + ["eval", str(run_dir), "--checkpoint", "latest", "--backend", backend, "--quiet"],
                 out / f"eval-{preset}.log", LIMITS["eval"] * slack, env)
        if (run_dir / "eval.json").exists():
            ev["result"] = json.loads((run_dir / "eval.json").read_text())
        step["eval"] = ev
        save()
        print(f"train {preset}:", step.get("median_train_seconds_per_epoch"), "s/epoch", flush=True)

    save()
    print((out / "gpu-check.md").read_text())
    return 0


def _ms(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def _num(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(report: dict) -> str:
    v, s = report["versions"], report["steps"]
    on_cpu = report.get("backend", "cupy") == "numpy"
    title = "GPU check rehearsed on the CPU (numpy backend)" if on_cpu else "GPU check"
    lines = [f"# {title}, {report['date']}", "",
             f"- GPU: {v.get('device') or v.get('gpu')}"
             + (f" ({v.get('gpu')})" if v.get("device") else ""),
             f"- CUDA runtime {v.get('cuda_runtime')}, driver {v.get('cuda_driver')}; CuPy {v.get('cupy')}, "
             f"NumPy {v.get('numpy')}, PyTorch {v.get('torch')}, Python {v.get('python')}",
             f"- whole check: {report.get('seconds')} s", ""]
    t = s.get("tests_cupy", {})
    lines.append(f"- tests on {'NumPy' if on_cpu else 'CuPy'}: {t.get('summary')} ({t.get('seconds')} s, exit {t.get('exit')})")
    b = s.get("bench", {})
    for model, r in (b.get("result") or {}).get("models", {}).items():
        # the keys of cgan bench's JSON (cgan/experiments/mnist/bench.py, run_benchmark)
        ours = (r.get("ours_ms") or {}).get("median")
        theirs = (r.get("torch_ms") or {}).get("median")
        ratio = (r.get("ratio_ours_over_torch") or {}).get("median")
        text = f"- bench {model}: ours {_ms(ours)} ms per iteration"
        text += (f", PyTorch {'CPU' if on_cpu else 'CUDA'} {_ms(theirs)} ms, ours / PyTorch {ratio:.2f}" if theirs is not None
                 else f", PyTorch: {r.get('torch_note', 'not run')}")
        lines.append(text)
    if b and not b.get("result"):
        lines.append(f"- bench: exit {b.get('exit')} (see {b.get('log')})")
    f = s.get("fused", {})
    for what, r in ((f.get("result") or {}).get("rows") or {}).items():
        lines.append(f"- one-kernel updates, {what}: {_ms(r.get('fused'))} ms against "
                     f"{_ms(r.get('plain'))} ms with the array expressions")
    if on_cpu and f.get("result"):
        lines.append("  (on NumPy both paths are nn.blas's: these rows only rehearse the step)")
    if f and not f.get("result"):
        lines.append(f"- one-kernel updates: exit {f.get('exit')} (see {f.get('log')})")
    for preset in ("original", "default"):
        r = s.get(f"train_{preset}", {})
        e = (r.get("eval") or {}).get("result") or {}
        if not r:
            continue
        lines.append(f"- train {preset}: {_num(r.get('median_train_seconds_per_epoch'), 2)} s per epoch "
                     f"({_num(r.get('ms_per_iteration'), 2)} ms per iteration; exit {r.get('exit')}), "
                     f"300 epochs projected {_num(r.get('projected_300_epochs_minutes'), 1)} min; "
                     f"eval {(r.get('eval') or {}).get('seconds')} s "
                     f"(Parzen {_num(e.get('parzen_ll'), 1)} in {_num(e.get('parzen_seconds'), 2)} s, "
                     f"label accuracy {(e.get('label_accuracy') or {}).get('overall')})")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
