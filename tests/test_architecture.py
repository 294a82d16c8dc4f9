"""Guard: the direction of imports between the layers of the package (docs/architecture.md).

    layer 0   nn                                   the layer library
    layer 1   cgan.core, cgan.data                 the adversarial core; datasets (file I/O)
    layer 2   cgan.models, cgan.evaluation         networks; measuring samples
    layer 3   cgan.experiments.<name>              mnist, tagging, toy: each composes the above
    layer 4   cgan.cli (+ cgan.__main__, cgan.features)   the command line

A module may import its own group and any group of a lower layer, never a group of its
own layer (core and data, models and evaluation, one experiment and another, are
independent) or of a higher one. Imports inside functions count too. ``cgan`` itself (the
package's __init__, which only holds the version) may be imported from anywhere. No module
loads another by file path.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

LAYERS = {
    "nn": 0,
    "cgan.core": 1,
    "cgan.data": 1,
    "cgan.models": 2,
    "cgan.evaluation": 2,
    "cgan.experiments": 3,           # the package's __init__ (a docstring)
    "cgan.experiments.mnist": 3,
    "cgan.experiments.tagging": 3,
    "cgan.experiments.toy": 3,
    "cgan.cli": 4,
}
# The command line's two entry modules belong to it: `python -m cgan`, and `python -m
# cgan.features` (kept for a documented command).
COMMAND_LINE = {"cgan.__main__": "cgan.cli", "cgan.features": "cgan.cli"}
ANYONE = {"cgan"}  # the root package: its __init__ defines __version__ and imports nothing


def group_of(module: str) -> str | None:
    """The longest group of LAYERS (or ANYONE) that ``module`` is, or is inside."""
    if module in COMMAND_LINE:
        return COMMAND_LINE[module]
    best = None
    for group in (*LAYERS, *ANYONE):
        if (module == group or module.startswith(group + ".")) and (best is None or len(group) > len(best)):
            best = group
    return best


def module_name(rel_path: str) -> str:
    parts = Path(rel_path).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported(source: str, rel_path: str) -> list[str]:
    """The project modules that ``source`` (the file ``rel_path``) imports, resolved to
    dotted names (``from package import submodule`` gives the submodule)."""
    name = module_name(rel_path)
    package = name if rel_path.endswith("__init__.py") else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append(sub if _is_module(sub) else target)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            if node.args and isinstance(node.args[0], ast.Constant):
                found.append(str(node.args[0].value))
    return [m for m in found if group_of(m) is not None]


def violations_in(source: str, rel_path: str) -> list[str]:
    here = group_of(module_name(rel_path))
    out = []
    if "spec_from_file_location" in source:
        out.append(f"{rel_path} loads a module by file path (import it as a module instead)")
    for target in imported(source, rel_path):
        there = group_of(target)
        if there in ANYONE or there == here:
            continue
        if here is None or LAYERS[there] >= LAYERS[here]:
            out.append(f"{rel_path} imports {target}: {here} (layer {LAYERS.get(here)}) may not import "
                       f"{there} (layer {LAYERS[there]})")
    return out


def violations() -> list[str]:
    found = []
    for package in ("nn", "cgan"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            found += violations_in(path.read_text(), rel)
    return found


def test_imports_go_down_the_layers():
    assert violations() == []


def test_every_module_belongs_to_a_layer():
    for package in ("nn", "cgan"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = module_name(path.relative_to(ROOT).as_posix())
            assert group_of(name) is not None, f"{name} is in no layer of tests/test_architecture.py"


# -- the guard catches what it must --------------------------------------------------------------
@pytest.mark.parametrize("path, source", [
    ("cgan/core/loop.py", "from ..models.mnist import build_pair"),             # up, relative
    ("cgan/core/run.py", "import cgan.experiments.mnist.train"),                # up, absolute
    ("cgan/core/steps.py", "def f():\n    from cgan.cli import main\n"),        # up, inside a function
    ("cgan/core/noise.py", "from ..data.mnist import scale_pixels"),            # sideways (layer 1)
    ("cgan/data/mnist.py", "from ..core.progress import Progress"),             # sideways (layer 1)
    ("cgan/models/toy.py", "from cgan.evaluation import plots"),                # sideways (layer 2)
    ("cgan/evaluation/parzen.py", "from ..models import mnist"),                # sideways (layer 2)
    ("cgan/experiments/tagging/train.py", "from ..mnist.train import generate"),  # another experiment
    ("cgan/experiments/toy/demo.py", "from cgan.experiments import mnist"),      # another experiment
    ("cgan/experiments/toy/demo.py", "from cgan.experiments.mnist import bench"),
    ("nn/layers.py", "from cgan.core.pair import AdversarialPair"),            # nn knows no cgan
    ("cgan/models/mnist.py", "m = __import__('cgan.experiments.mnist.config')"),
    ("cgan/cli.py", "import importlib.util\nspec = importlib.util.spec_from_file_location('b', 'x.py')"),
])
def test_the_guard_catches(path, source):
    assert violations_in(source, path), f"{path}: {source!r} was not caught"


@pytest.mark.parametrize("path, source", [
    ("cgan/experiments/mnist/train.py", "from ...core.loop import train_epoch\nfrom ...models.mnist import build_pair"),
    ("cgan/experiments/mnist/evaluate.py", "from ...evaluation import plots\nfrom ...data.mnist import load_mnist"),
    ("cgan/experiments/mnist/evaluate.py", "from .train import load_pair"),
    ("cgan/models/mnist.py", "from ..core.pair import AdversarialPair\nimport nn"),
    ("cgan/cli.py", "from .experiments.tagging.train import train_tagging\nfrom . import __version__"),
    ("cgan/core/steps.py", "import numpy\nimport nn\nfrom nn.functional import sigmoid"),
])
def test_the_guard_lets_through(path, source):
    assert violations_in(source, path) == []


def test_relative_imports_resolve():
    assert imported("from ...core.loop import train_epoch", "cgan/experiments/mnist/train.py") == ["cgan.core.loop"]
    assert imported("from . import theory", "cgan/experiments/toy/minimax.py") == ["cgan.experiments.toy.theory"]
    assert imported("from .. import core", "cgan/experiments/__init__.py") == ["cgan.core"]


# -- and what the layers buy -----------------------------------------------------------------------
@pytest.mark.parametrize("module", ["cgan.experiments.toy.demo", "cgan.experiments.toy.minimax",
                                    "cgan.experiments.tagging.train", "cgan.core.run"])
def test_the_small_experiments_do_not_load_mnist_parzen_or_matplotlib(module):
    """Importing the demo, the minimax experiments or tagging loads no MNIST data code,
    no Parzen estimator and no matplotlib (they once came in through the MNIST trainer)."""
    code = (f"import sys, {module}; print(sorted(m for m in sys.modules if m in "
            "('cgan.data.mnist', 'cgan.evaluation.parzen', 'cgan.experiments.mnist', 'matplotlib')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
