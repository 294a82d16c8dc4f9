"""The performance benchmark behind ``cgan bench``: docs/performance.md + JSON.

    cgan bench                          # NumPy on this CPU, against PyTorch CPU if installed
    cgan bench --backend cupy           # CuPy on the GPU, against PyTorch CUDA
    cgan bench --quick                  # fewer rounds, a short memory run: a smoke test
    python experiments/bench.py ...     # the same (a thin script over cgan.cli)

The options are parsed by cgan/cli.py (``cgan bench --help``); :func:`run` takes them.

What it measures, in one run (each figure with the command, the machine and the time):

* **The training iteration** of the MNIST conditional GAN, and of the unconditional one,
  at minibatch 100 with the papers' exact networks: one discriminator step on 100 real and
  100 generated samples, one generator step backpropagating through the discriminator,
  dropout, SGD with momentum, float32. It is the code of ``cgan train`` (the core loop,
  cgan.core.loop.train_minibatches, running cgan.core.steps.discriminator_step and
  generator_step) on synthetic MNIST-shaped data. Each implementation runs in a long-lived process of its own; the parent asks them
  in turn (A B A B ...) for a block of iterations, so both see the same machine state,
  and reports the median ms per iteration over the rounds and the ratio ours / PyTorch per
  round (median, min, max). In one process the two libraries' thread pools would fight
  over the cores.
* **FLOPs** of the iteration, counted analytically from the layer shapes (two per
  multiply-add of every matrix product; biases and elementwise work not counted), the
  achieved rate, and the machine's own float32 matrix-product rate on exactly the
  products of the iteration (each timed alone on the same backend): the fraction of that
  limit the whole iteration reaches.
* **The Parzen protocol** (cgan.experiments.mnist.bench_parzen, in its own process): sigma search
  on 10,000 validation digits plus 10,000 test digits against 10,000 centres, its
  agreement with a float64 brute force, and the speed-up over the original code.
* **Peak resident memory** of ``cgan train mnist --epochs 1`` (all of MNIST loaded,
  one epoch and its evaluation), read from the kernel after the process ends.
* **The DCGAN iteration** (``--models dcgan,cdcgan``; cgan.experiments.mnist.bench_dcgan):
  the convolutional nets' iteration at their preset's minibatch 64 with Adam, against the
  same networks in PyTorch (experiments/torch_dcgan.py), the same interleaving, FLOPs
  counted from the convolutions' shapes, and where our iteration's time goes.

PyTorch is optional: imported only inside the PyTorch worker, whose networks are those of
``experiments/torch_reference.py`` (a source checkout's script).
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# The directory that holds the cgan package: a source checkout's root (with experiments/,
# docs/ and runs/), or site-packages when installed.
ROOT = Path(__file__).resolve().parents[3]

BATCH = 100
MODELS = ("cgan", "gan", "dcgan", "cdcgan")   # the MLPs at minibatch 100; the DCGANs (bench_dcgan)


# -- analytic FLOPs: every matrix product of one iteration --------------------------------
@dataclass(frozen=True)
class Product:
    """One matrix product of the iteration: (m, k) @ (k, n), ``count`` times.

    ``layout`` says which operand is a transposed view, as the layers compute it:
    "nn" forward (x @ W), "tn" weight gradient (x^T @ dz), "nt" input gradient (dz @ W^T).
    """

    m: int
    k: int
    n: int
    layout: str
    count: int = 1

    @property
    def flops(self) -> int:
        return 2 * self.m * self.k * self.n * self.count


def affine_shapes(layer, at_input: bool = True) -> list[tuple[int, int, bool]]:
    """(n_in, n_out, reads the network's input) of every Linear/Maxout, in order."""
    import nn

    if isinstance(layer, (nn.Linear, nn.Maxout)):
        w = layer.params["W"]
        return [(int(w.shape[0]), int(w.shape[1]), at_input)]
    if isinstance(layer, nn.Sequential):
        out = []
        for child in layer.layers:
            shapes = affine_shapes(child, at_input)
            out += shapes
            at_input = at_input and not shapes
        return out
    if isinstance(layer, nn.Join):
        return [s for branch in layer.branches for s in affine_shapes(branch, at_input)]
    return []


def iteration_products(pair, batch: int = BATCH) -> list[Product]:
    """The products of one discriminator step and one generator step, as the code runs them.

    D step: G forward (batch rows); D forward and backward on 2 * batch rows (real and
    generated together), weight gradients everywhere, input gradients except at D's input
    layers. G step: G forward, D forward, D backward with input gradients only (all the
    way to D's inputs), G backward with weight gradients everywhere and input gradients
    except at G's input layers.
    """
    g, d = affine_shapes(pair.generator), affine_shapes(pair.discriminator)
    out: list[Product] = []

    def forward(shapes, rows):
        out.extend(Product(rows, i, o, "nn") for i, o, _ in shapes)

    def backward(shapes, rows, weights: bool, inputs_at_input: bool):
        for i, o, first in shapes:
            if weights:
                out.append(Product(i, rows, o, "tn"))
            if inputs_at_input or not first:
                out.append(Product(rows, o, i, "nt"))

    forward(g, batch)                                  # D step
    forward(d, 2 * batch)
    backward(d, 2 * batch, weights=True, inputs_at_input=False)
    forward(g, batch)                                  # G step
    forward(d, batch)
    backward(d, batch, weights=False, inputs_at_input=True)
    backward(g, batch, weights=True, inputs_at_input=False)
    merged: dict[tuple, int] = {}
    for p in out:
        key = (p.m, p.k, p.n, p.layout)
        merged[key] = merged.get(key, 0) + p.count
    return [Product(*key, count=c) for key, c in merged.items()]


def time_products(products, backend, repeat: int = 7, inner: int = 5) -> float:
    """Seconds for one iteration's products, each timed alone (best of ``repeat``)."""
    import nn

    xp = backend.xp
    total = 0.0
    for p in products:
        a = backend.uniform((p.k, p.m) if p.layout == "tn" else (p.m, p.k))
        b = backend.uniform((p.n, p.k) if p.layout == "nt" else (p.k, p.n))
        a_op = a.T if p.layout == "tn" else a
        b_op = b.T if p.layout == "nt" else b
        # as the layers run them (nn.blas): weight gradients added into the gradient,
        # the other products into a new array
        if p.layout == "tn":
            out = xp.zeros((p.m, p.n), dtype=backend.dtype)

            def product():
                nn.add_matmul(out, a_op, b_op)
        else:
            def product():
                nn.matmul(a_op, b_op)
        for _ in range(3):
            product()
        backend.synchronize()
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            for _ in range(inner):
                product()
            backend.synchronize()
            best = min(best, (time.perf_counter() - start) / inner)
        total += best * p.count
    return total


# -- the iteration, ours and PyTorch's, each in a worker process ---------------------------
class OursIteration:
    """The core loop on the paper preset's networks and SGD (float32), as cgan train runs it."""

    def __init__(self, model: str, backend_name: str, seed: int = 0):
        import nn
        from ...core.loop import Draw, Training
        from ...core.noise import noise_sampler, one_hot
        from ...core.optim import Optimizers, make_optimizer
        from ...core.steps import BCE, UPDATES
        from ...data.mnist import scale_pixels
        from ...models.mnist import N_CLASSES, build_pair
        from .config import resolve_config

        self.cfg = resolve_config(model, "paper", noise="gaussian", seed=seed)
        b = nn.get_backend(backend_name, seed=seed)
        pair = build_pair(b, self.cfg.model_config(), b.uniform((784,), 0.05, 0.5))
        opt = Optimizers(d=make_optimizer(self.cfg, pair.discriminator), g=make_optimizer(self.cfg, pair.generator))
        opt.set_epoch(1)
        n = 50 * BATCH
        # synthetic MNIST-shaped data, uint8 pixels and int labels, as the trainer holds them
        images = (b.uniform((n, 784)) * 255).astype(b.xp.uint8)
        labels = (b.uniform((n,)) * 10).astype(b.xp.int64)
        order = b.xp.argsort(b.uniform((n,)))
        batches = n // BATCH

        def rows(i):
            idx = order[(i % batches) * BATCH:(i % batches + 1) * BATCH]
            y = one_hot(b, labels[idx], N_CLASSES) if pair.conditional else None
            return scale_pixels(images[idx], b.dtype), y

        self.rows = rows
        self.training = Training(pair=pair, opt=opt, update=UPDATES["alternating"], objective=BCE(),
                                 data=None, draw=Draw(noise_sampler(b, self.cfg.noise, pair.noise_dim)),
                                 backend=b, batch_size=BATCH)
        self.b = b
        self.i = 0

    def run(self, iterations: int) -> None:
        from ...core.loop import train_minibatches

        start = self.i
        train_minibatches(self.training, iterations, lambda k: self.rows(start + k))
        self.i += iterations
        self.b.synchronize()


class TorchIteration:
    """The same iteration in PyTorch (experiments/torch_reference.py's networks): one D
    forward on the real and generated rows together, as ours; SGD with momentum."""

    def __init__(self, model: str, device: str, seed: int = 0):
        import torch

        reference = ROOT / "experiments" / "torch_reference.py"
        if not reference.is_file():
            raise RuntimeError(f"the PyTorch side uses {reference.name}, which is in a source "
                               "checkout's experiments/, not in the installed package")
        sys.path.insert(0, str(reference.parent))
        import torch_reference as ref

        from .config import resolve_config

        self.torch = torch
        self.cfg = cfg = resolve_config(model, "paper", noise="gaussian", seed=seed)
        torch.manual_seed(seed)
        self.device = torch.device(device)
        marginals = torch.rand(784) * 0.45 + 0.05
        gen = torch.Generator().manual_seed(seed)  # initial weights
        if model == "cgan":
            g, d = ref.Generator(cfg, marginals, gen), ref.Discriminator(cfg, gen)
        else:
            g, d = (ref.UnconditionalGenerator(cfg, marginals, gen),
                    ref.UnconditionalDiscriminator(cfg, gen))
        self.g, self.d = g.to(self.device), d.to(self.device)
        self.conditional = model == "cgan"
        self.g_opt = torch.optim.SGD(self.g.parameters(), lr=cfg.lr, momentum=cfg.momentum_start)
        self.d_opt = torch.optim.SGD(self.d.parameters(), lr=cfg.lr, momentum=cfg.momentum_start)
        self.bce = torch.nn.BCEWithLogitsLoss()
        n = 50 * BATCH
        self.images = torch.randint(0, 256, (n, 784), dtype=torch.uint8, device=self.device)
        self.labels = torch.randint(0, 10, (n,), device=self.device)
        self.eye = torch.eye(10, device=self.device)
        self.order = torch.randperm(n, device=self.device)
        self.i = 0

    def run(self, iterations: int) -> None:
        torch, cfg = self.torch, self.cfg
        batches = self.order.shape[0] // BATCH
        for _ in range(iterations):
            j = self.i % batches
            self.i += 1
            lr = max(cfg.lr / cfg.lr_decay ** self.i, cfg.lr_min)
            for opt in (self.g_opt, self.d_opt):
                for group in opt.param_groups:
                    group["lr"] = lr
            idx = self.order[j * BATCH:(j + 1) * BATCH]
            x = self.images[idx].float() / 255.0
            y = self.eye[self.labels[idx]] if self.conditional else None
            with torch.no_grad():
                fake = self.g(torch.randn(BATCH, 100, device=self.device), y)
            logits = self.d(torch.cat([x, fake]), None if y is None else torch.cat([y, y]))
            d_loss = 0.5 * (self.bce(logits[:BATCH], torch.ones_like(logits[:BATCH]))
                            + self.bce(logits[BATCH:], torch.zeros_like(logits[BATCH:])))
            self.d_opt.zero_grad()
            d_loss.backward()
            self.d_opt.step()
            fake_logits = self.d(self.g(torch.randn(BATCH, 100, device=self.device), y), y)
            g_loss = self.bce(fake_logits, torch.ones_like(fake_logits))
            self.g_opt.zero_grad()
            g_loss.backward()
            self.g_opt.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize()


def worker(kind: str, model: str, where: str, seed: int) -> int:
    """A long-lived process: 'run K' on stdin -> the seconds of K iterations on stdout."""
    try:
        if model in ("dcgan", "cdcgan"):
            from . import bench_dcgan

            cls = bench_dcgan.OursDCGANIteration if kind == "ours" else bench_dcgan.TorchDCGANIteration
        else:
            cls = OursIteration if kind == "ours" else TorchIteration
        it = cls(model, where, seed)
        it.run(10)  # warm-up: threads, allocator, kernels
    except Exception as exc:  # reported to the parent, which prints it
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 1
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        k = int(words[1])
        start, cpu = time.perf_counter(), time.process_time()
        it.run(k)
        print(json.dumps({"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu}),
              flush=True)
    return 0


class Worker:
    def __init__(self, kind: str, model: str, where: str, seed: int, env=None):
        self.name = f"{kind}:{where}"
        code = ("import sys; from cgan.experiments.mnist.bench import worker; "
                f"sys.exit(worker({kind!r}, {model!r}, {where!r}, {seed}))")
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env or child_env())
        reply = self._read()
        if "error" in reply:
            self.close()
            raise RuntimeError(f"{self.name} worker failed to start: {reply['error']}")
        self._pause()

    # Between its blocks a worker is stopped (SIGSTOP): an idle OpenMP or OpenBLAS pool
    # spins for a while after its last task, and would take the cores from the other
    # library's block (seen here: the PyTorch worker at 60 % CPU while ours ran).
    def _pause(self) -> None:
        if hasattr(signal, "SIGSTOP"):
            os.kill(self.proc.pid, signal.SIGSTOP)

    def _resume(self) -> None:
        if hasattr(signal, "SIGCONT"):
            os.kill(self.proc.pid, signal.SIGCONT)

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name} worker exited (code {self.proc.wait()})")
        return json.loads(line)

    def block(self, iterations: int) -> float:
        self._resume()
        self.proc.stdin.write(f"run {iterations}\n")
        self.proc.stdin.flush()
        reply = self._read()
        self._pause()
        self.last_cpu = reply.get("cpu_seconds", float("nan")) / iterations
        return reply["seconds"] / iterations

    def close(self) -> None:
        self._resume()
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass
        self.proc.wait(timeout=60)


def interleaved(workers, rounds: int, block: int, pause: float, progress) -> dict[str, list[float]]:
    """ms per iteration of each worker per round, asked in turn: A B A B ...; and each
    worker's CPU time per iteration under ``"cpu:" + name`` (the process's own, all its
    threads: on a machine shared with other jobs it moves less than the wall time)."""
    times = {w.name: [] for w in workers}
    times.update({f"cpu:{w.name}": [] for w in workers})
    for r in range(rounds):
        for w in workers:
            time.sleep(pause)
            times[w.name].append(1000.0 * w.block(block))
            times[f"cpu:{w.name}"].append(1000.0 * w.last_cpu)
        progress(f"round {r + 1}/{rounds}: " + ", ".join(f"{w.name} {times[w.name][-1]:.1f} ms" for w in workers))
    return times


# -- memory and Parzen, each in a process of its own --------------------------------------
_MEASURE_RSS = """
import json, resource, runpy, sys
sys.argv = ["cgan"] + sys.argv[1:]
code = 0
try:
    runpy.run_module("cgan", run_name="__main__")
except SystemExit as exc:
    code = exc.code or 0
print(json.dumps({"code": code, "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def peak_memory(backend: str, quick: bool, progress) -> dict:
    """Peak RSS of ``cgan train mnist --epochs 1`` with all of MNIST loaded, read by the
    training process itself when it ends (getrusage), so no other process counts."""
    with tempfile.TemporaryDirectory() as tmp:
        args = ["train", "mnist", "--epochs", "1", "--quiet", "--backend", backend]
        if quick:
            args += ["--train-limit", "2000", "--eval-samples", "1000", "--eval-valid-points", "1000"]
        cmd = [sys.executable, "-c", _MEASURE_RSS, *args, "--out", str(Path(tmp) / "run")]
        progress("memory: cgan " + " ".join(args))
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, env=child_env())
    lines = done.stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        report = {"code": done.returncode}
    if report.get("code") or "maxrss_kib" not in report:
        return {"error": (done.stderr or done.stdout).strip()[-500:], "command": "cgan " + " ".join(args)}
    return {"peak_rss_mb": report["maxrss_kib"] / 1024.0, "seconds": time.perf_counter() - start,
            "command": "cgan " + " ".join(args), "all_of_mnist": True,
            "training_digits": 2000 if quick else 50000}


def parzen(backend: str, quick: bool, progress) -> dict:
    """cgan.experiments.mnist.bench_parzen.run in a process of its own; its JSON figures."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "parzen.json"
        options = dict(backend=backend, json_path=str(out), repeat=1 if quick else 3)
        if quick:
            options.update(n=2000, check=100)
        code = ("import json, sys; from cgan.experiments.mnist.bench_parzen import run; "
                "sys.exit(run(**json.loads(sys.argv[1])))")
        progress(f"parzen: bench_parzen.run({', '.join(f'{k}={v!r}' for k, v in options.items() if k != 'json_path')})")
        done = subprocess.run([sys.executable, "-c", code, json.dumps(options)], capture_output=True,
                              text=True, env=child_env())
        if not out.exists():
            return {"error": (done.stderr or done.stdout).strip()[-500:]}
        return json.loads(out.read_text())


def child_env() -> dict:
    """The environment of a child process, with this package importable first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


# -- the report ---------------------------------------------------------------------------
def machine_description(backend) -> str:
    import nn

    numpy = nn.get_backend("numpy").xp  # its version, through the backend (the NumPy rule)
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    text = (f"{cores}-core {cpu}, Python {platform.python_version()}, NumPy {numpy.__version__}, "
            f"BLAS {describe_blas(blas_facts())}")
    if backend.name == "cupy":
        xp = backend.xp
        props = xp.cuda.runtime.getDeviceProperties(xp.cuda.Device().id)
        text += f", GPU {props['name'].decode()}, CuPy {xp.__version__}"
    if importlib.util.find_spec("torch") is not None:
        import torch

        text += f", PyTorch {torch.__version__}"
    return text


def blas_facts() -> list[dict]:
    """The BLAS libraries loaded in this process: whose (SciPy's runs the layers' products
    and the optimisers' updates, through nn.blas; NumPy's the rest), library, version,
    threads and the CPU kernel it picked, so figures from different machines can be
    compared.

    threadpoolctl (the ``bench`` extra) reads them from the loaded libraries themselves;
    without it, NumPy's and SciPy's build configurations give the library and version, and
    the thread count is the one the environment asks for (``OPENBLAS_NUM_THREADS``,
    ``OMP_NUM_THREADS``)."""
    import scipy

    import nn

    numpy = nn.get_backend("numpy").xp
    numpy.ones((2, 2)) @ numpy.ones((2, 2))  # loads both BLAS before they are inspected
    nn.matmul(numpy.ones((2, 2)), numpy.ones((2, 2)))
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        keys = ("internal_api", "version", "num_threads", "architecture", "threading_layer")

        def owner(path) -> str | None:
            # wheels keep each package's libraries in <package>.libs
            folder = Path(path or "").parent.name
            return {"numpy.libs": "NumPy", "scipy.libs": "SciPy"}.get(folder)

        return [{"owner": owner(info.get("filepath")), **{key: info.get(key) for key in keys}}
                for info in threadpool_info() if info.get("user_api") == "blas"]
    threads = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
    return [{"owner": name, "internal_api": blas.get("name"), "version": blas.get("version"),
             "num_threads": int(threads) if threads and threads.isdigit() else None,
             "architecture": None, "threading_layer": None}
            for name, blas in (("NumPy", blas_build(numpy)), ("SciPy", blas_build(scipy))) if blas]


def blas_build(module) -> dict:
    """The BLAS ``module`` (numpy or scipy) was built with, from its build configuration
    (``name``, ``version``, ...); empty where the release cannot say (no mode="dicts"):
    nothing rather than a guess."""
    try:
        return dict(module.show_config(mode="dicts")["Build Dependencies"]["blas"])
    except Exception:
        return {}


def describe_blas(facts: list[dict]) -> str:
    """One line for the report: ``SciPy's openblas 0.3.30 (SkylakeX kernel, pthreads, 1 thread)``."""
    parts = []
    for fact in facts:
        whose = f"{fact['owner']}'s " if fact.get("owner") else ""
        details = []
        if fact.get("architecture"):
            details.append(f"{fact['architecture']} kernel")
        if fact.get("threading_layer"):
            details.append(fact["threading_layer"])
        threads = fact.get("num_threads")
        details.append("threads unknown" if threads is None else f"{threads} thread{'s' if threads != 1 else ''}")
        parts.append(f"{whose}{fact.get('internal_api')} {fact.get('version')} ({', '.join(details)})")
    return "; ".join(parts) or "unknown"


def summarize(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def run_benchmark(args) -> dict:
    import nn

    from ...models.mnist import build_pair
    from .config import resolve_config

    def progress(message):
        if not args.quiet:
            print(f"bench: {message}", file=sys.stderr, flush=True)

    backend = nn.get_backend(args.backend, seed=0)
    torch_where = "cuda" if args.backend == "cupy" else "cpu"
    have_torch = importlib.util.find_spec("torch") is not None and not args.no_torch
    started = time.perf_counter()
    result = {"backend": args.backend, "machine": machine_description(backend), "blas": blas_facts(),
              "command": args.command, "date": time.strftime("%Y-%m-%d"),
              "rounds": args.rounds, "block": args.block, "models": {}}
    for model in getattr(args, "models", None) or MODELS:
        dcgan = model in ("dcgan", "cdcgan")
        if dcgan:
            from . import bench_dcgan
            from .train import build_networks

            cfg = bench_dcgan.bench_config(model)
            pair = build_networks(backend, cfg)
            products = bench_dcgan.iteration_products(pair, cfg.batch_size, one_pass=cfg.objective().one_pass)
        else:
            cfg = resolve_config(model, "paper")
            pair = build_pair(backend, cfg.model_config())
            products = iteration_products(pair)
        flops = sum(p.flops for p in products)
        progress(f"{model}: timing the iteration's {sum(p.count for p in products)} matrix products alone")
        limit_s = time_products(products, backend)
        del pair
        workers = [Worker("ours", model, args.backend, 0)]
        note = None
        if have_torch:
            try:
                workers.append(Worker("torch", model, torch_where, 0))
            except RuntimeError as exc:
                note = str(exc)
        try:
            times = interleaved(workers, args.rounds, args.block, args.pause, progress)
        finally:
            for w in workers:
                w.close()
        ours = times[workers[0].name]
        entry = {"batch": cfg.batch_size if dcgan else BATCH, "flops_per_iteration": flops,
                 "products_limit_ms": 1000 * limit_s,
                 "products_limit_gflops": flops / limit_s / 1e9, "ours_ms": summarize(ours),
                 "ours_gflops": flops / (statistics.median(ours) / 1000) / 1e9,
                 "fraction_of_limit": 1000 * limit_s / statistics.median(ours),
                 "ours_ms_per_round": ours}
        if len(workers) > 1:
            theirs = times[workers[1].name]
            entry["torch_ms"] = summarize(theirs)
            entry["torch_ms_per_round"] = theirs
            entry["ratio_ours_over_torch"] = summarize([a / b for a, b in zip(ours, theirs)])
            cpu_ours, cpu_theirs = times[f"cpu:{workers[0].name}"], times[f"cpu:{workers[1].name}"]
            entry["cpu_ms"] = {"ours": summarize(cpu_ours), "torch": summarize(cpu_theirs)}
            entry["cpu_ratio_ours_over_torch"] = summarize([a / b for a, b in zip(cpu_ours, cpu_theirs)])
        elif note or not have_torch:
            entry["torch_note"] = note or "PyTorch is not installed (pip install 'cgan-numpy[bench]')"
        if dcgan:
            progress(f"{model}: where the time goes (every layer timed in place)")
            entry["profile"] = bench_dcgan.profile(model, args.backend, iterations=5 if args.quick else 20)
        result["models"][model] = entry
    if not args.no_parzen:
        result["parzen"] = parzen(args.backend, args.quick, progress)
    if not args.no_memory:
        result["memory"] = peak_memory(args.backend, args.quick, progress)
    result["seconds"] = time.perf_counter() - started
    result["load_average_after"] = os.getloadavg()[0]
    return result


def markdown(r: dict) -> str:
    gpu = r["backend"] == "cupy"
    other = "PyTorch CUDA" if gpu else "PyTorch CPU"
    lines = [f"### `{r['backend']}` backend" + (" (GPU)" if gpu else " (CPU)"), "",
             f"Command: `{r['command']}`; {r['date']}; machine: {r['machine']}; "
             f"{r['rounds']} interleaved rounds of {r['block']} iterations after 10 warm-up "
             f"iterations; the whole benchmark took {r['seconds']:.0f} s; load average at the "
             f"end {r['load_average_after']:.2f}.", "",
             f"| iteration | GFLOP | ours ms (min-max) | {other} ms (min-max) | "
             "ours / PyTorch per round: median (min-max) | ours GFLOP/s | its products alone: ms, GFLOP/s | fraction of that limit |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for model, e in r["models"].items():
        o = e["ours_ms"]
        t = e.get("torch_ms")
        ratio = e.get("ratio_ours_over_torch")
        name = {"cgan": "conditional (cgan)", "gan": "unconditional (gan)", "dcgan": "DCGAN (dcgan)",
                "cdcgan": "conditional DCGAN (cdcgan)"}[model] + f", minibatch {e.get('batch', BATCH)}"
        lines.append(
            f"| {name} | {e['flops_per_iteration'] / 1e9:.2f} | {o['median']:.2f} ({o['min']:.2f}-{o['max']:.2f}) | "
            + (f"{t['median']:.2f} ({t['min']:.2f}-{t['max']:.2f})" if t else e.get("torch_note", "-")) + " | "
            + (f"{ratio['median']:.2f} ({ratio['min']:.2f}-{ratio['max']:.2f})" if ratio else "-") + " | "
            f"{e['ours_gflops']:.1f} | {e['products_limit_ms']:.2f}, {e['products_limit_gflops']:.1f} | "
            f"{e['fraction_of_limit']:.2f} |")
    cpu = {m: e for m, e in r["models"].items() if "cpu_ratio_ours_over_torch" in e}
    if cpu:
        lines += ["", "CPU time of each worker process per iteration (all its threads; on a machine "
                  "shared with other jobs it moves less than the wall time):", "",
                  "| iteration | ours CPU ms | PyTorch CPU ms | ours / PyTorch per round: median (min-max) |",
                  "| --- | ---: | ---: | ---: |"]
        for model, e in cpu.items():
            c, q = e["cpu_ms"], e["cpu_ratio_ours_over_torch"]
            lines.append(f"| {model} | {c['ours']['median']:.1f} | {c['torch']['median']:.1f} | "
                         f"{q['median']:.2f} ({q['min']:.2f}-{q['max']:.2f}) |")
    for model, e in r["models"].items():
        prof = e.get("profile")
        if prof:
            from .bench_dcgan import CATEGORIES

            lines += ["", f"Where the time of our {model} iteration goes ({prof['iterations']} iterations "
                      f"timed in place, one process: {prof['total_ms']:.1f} ms per iteration; the "
                      f"convolutions, with their im2col, col2im and layout copies, "
                      f"**{100 * prof['convolution_share']:.0f} %**):", "", "| part | ms | what |",
                      "| --- | ---: | --- |"]
            lines += [f"| {k} | {prof['parts_ms'][k]:.1f} | {what} |" for k, what in CATEGORIES]
    p = r.get("parzen")
    if p and "error" not in p:
        lines += ["", f"Parzen protocol ({p['data']}): sigma search on {p['n_valid']} validation points "
                  f"+ {p['n']} test points against {p['n']} centres: **{p['protocol_seconds']:.2f} s** "
                  f"(best of {p['repeat']}), of which its two big matrix products ({p['products_gflop']:.0f} GFLOP) take "
                  f"{p['products_seconds']:.2f} s alone; the original code's approach extrapolated from "
                  f"{p['original_points']} points: {p['original_extrapolated_seconds']:.0f} s, a speed-up of "
                  f"{p['speedup']:.0f}x; worst per-point difference from the float64 brute force on "
                  f"{p['checked']} test points over the sigma grid: {p['worst_error_nats']:.1e} nats."]
    elif p:
        lines += ["", f"Parzen protocol: failed: {p['error']}"]
    m = r.get("memory")
    if m and "error" not in m:
        lines += ["", f"Peak resident memory of `{m['command']}`"
                  + f" (all of MNIST loaded, {m['training_digits']:,} digits trained on)"
                  + f": **{m['peak_rss_mb']:.0f} MB** (host RSS; {m['seconds']:.0f} s)."]
    elif m:
        lines += ["", f"Memory run failed: {m['error']}"]
    return "\n".join(lines) + "\n"


def write_report(r: dict, doc: Path) -> None:
    """Put this backend's section between its markers in docs/performance.md."""
    from nn.fileio import atomic_write

    begin, end = f"<!-- bench:{r['backend']}:begin -->", f"<!-- bench:{r['backend']}:end -->"
    text = doc.read_text() if doc.exists() else "# Performance\n"
    section = begin + "\n" + markdown(r) + end
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    with atomic_write(doc, "w") as f:
        f.write(text)


def run(args, command: str) -> int:
    """``cgan bench`` with its parsed options (cgan/cli.py); ``command`` is recorded beside
    the figures."""
    for name in ("rounds", "block"):
        if getattr(args, name) < 1:
            print(f"cgan bench: --{name} must be at least 1", file=sys.stderr)
            return 2
    if args.quick:
        args.rounds, args.block = min(args.rounds, 3), min(args.block, 5)
    args.command = command
    import nn

    try:
        nn.get_backend(args.backend)
    except nn.BackendUnavailable as exc:
        print(f"cgan bench: {exc}", file=sys.stderr)
        return 2
    result = run_benchmark(args)
    print(markdown(result))  # first: the results are out even if a file below cannot be written
    out = Path(args.json) if args.json else default_json(args.backend)
    from nn.fileio import atomic_write

    with atomic_write(out, "w") as f:
        f.write(json.dumps(result, indent=2) + "\n")
    doc = default_doc() if args.doc is None else args.doc
    if doc:
        write_report(result, Path(doc))
    print(f"JSON: {out}" + (f"; report: {doc}" if doc else ""))
    return 0


def _checkout() -> Path | None:
    """The source checkout this package runs from, if it does."""
    return ROOT if (ROOT / "pyproject.toml").is_file() and (ROOT / "docs").is_dir() else None


def default_doc() -> str:
    """docs/performance.md of the source checkout ('' when installed: no report)."""
    root = _checkout()
    return str(root / "docs" / "performance.md") if root else ""


def default_json(backend: str) -> Path:
    return (_checkout() or Path.cwd()) / "runs" / "bench" / f"bench-{backend}.json"
