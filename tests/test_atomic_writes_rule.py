"""Guard: every file the package writes goes through nn.fileio.atomic_write (docs/reliability.md).

So a crash leaves the old file or the new one, a failure is one FileWriteError naming the
file and the cause, and a killed write leaves only a ``.NAME.HEX.tmp`` that the next start
removes. In nn/ and cgan/, no module opens a file for writing, calls ``write_text`` or
``write_bytes``, or hands a path (rather than the file object atomic_write gives) to
``savefig`` or NumPy's savers, or copies and moves with ``shutil`` (``nn.fileio.atomic_copy``
copies); only nn/fileio.py itself, and the run directory's lock (an advisory lock, not
content), create files with ``os.open``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OS_OPEN_ALLOWED = {"nn/fileio.py": "the atomic writer itself",
                   "cgan/core/run.py": "the run directory's lock file (flock), not content"}
SAVERS = {"savefig", "save", "savez", "savez_compressed", "savetxt", "tofile"}


def _mode(call: ast.Call):
    if len(call.args) >= 2 and isinstance(call.args[1], ast.Constant):
        return call.args[1].value
    for kw in call.keywords:
        if kw.arg == "mode" and isinstance(kw.value, ast.Constant):
            return kw.value.value
    return "r"


def _atomic_files(tree) -> set[str]:
    """Names bound by ``with atomic_write(...) as NAME`` anywhere in the module."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.With):
            for item in node.items:
                call = item.context_expr
                if isinstance(call, ast.Call) and isinstance(item.optional_vars, ast.Name):
                    f = call.func
                    fname = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
                    if fname == "atomic_write":
                        names.add(item.optional_vars.id)
    return names


def violations(source: str, rel: str) -> list[str]:
    found = []
    tree = ast.parse(source)
    files = _atomic_files(tree)

    def to_a_path(call):
        return not call.args or not (isinstance(call.args[0], ast.Name) and call.args[0].id in files)

    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
        where = f"{rel}:{node.lineno}"
        if name == "open" and isinstance(f, ast.Name) and any(c in str(_mode(node)) for c in "wax+"):
            found.append(f"{where}: open(..., {_mode(node)!r})")
        elif isinstance(f, ast.Attribute) and name == "open" and isinstance(f.value, ast.Name) \
                and f.value.id == "os" and rel not in OS_OPEN_ALLOWED:
            found.append(f"{where}: os.open")
        elif isinstance(f, ast.Attribute) and name in ("write_text", "write_bytes"):
            found.append(f"{where}: .{name}()")
        elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "shutil" \
                and name in ("copy", "copy2", "copyfile", "copytree", "move"):
            found.append(f"{where}: shutil.{name} (use nn.fileio.atomic_copy)")
        elif isinstance(f, ast.Attribute) and name in SAVERS and name != "save" and to_a_path(node):
            found.append(f"{where}: .{name}(<not a file of atomic_write>)")
        elif isinstance(f, ast.Attribute) and name == "save" and isinstance(f.value, ast.Name) \
                and f.value.id in ("numpy", "np") and to_a_path(node):
            found.append(f"{where}: numpy.save(<not a file of atomic_write>)")
    return found


def test_every_write_of_the_package_is_atomic():
    problems = []
    for package in ("nn", "cgan"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel == "nn/fileio.py":
                continue
            problems += violations(path.read_text(), rel)
    assert not problems, "write through nn.fileio.atomic_write:\n" + "\n".join(problems)


@pytest.mark.parametrize("code", [
    "open(p, 'w')", "open(p, mode='ab')", "Path(p).write_text('x')", "p.write_bytes(b'')",
    "fig.savefig('x.png')", "numpy.savez(path, a=a)", "os.open(p, flags)", "shutil.copyfile(a, b)",
])
def test_the_guard_catches(code):
    assert violations(code, "cgan/x.py")


def test_the_guard_allows_the_atomic_forms():
    assert not violations("with atomic_write(p) as f:\n    fig.savefig(f, format='png')\n"
                          "    numpy.savez(f, a=a)\nopen(p)\nopen(p, 'rb')\n", "cgan/x.py")
