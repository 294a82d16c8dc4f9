"""nn.fused: the optimisers' one-kernel updates on CuPy.

Without a GPU the kernels cannot run, but their arithmetic and the arguments each
function hands them can: every kernel body is also Python, so a stand-in kernel runs it
over NumPy arrays (in place, as the CUDA kernel does), and the optimisers' updates through
it must give the numbers of their array expressions. On CuPy the real kernels are checked
against the expressions (``nn.fused.plain_updates``).
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

import nn
from nn import fused


def python_kernel(name: str):
    """KERNELS[name] run as Python: arguments bound by position to the declared names,
    scalars rounded to the arrays' dtype (as a kernel's T), outputs written in place."""
    in_params, out_params, body = fused.KERNELS[name]
    ins = [p.split()[-1] for p in in_params.split(",")]
    outs = [p.split()[-1] for p in out_params.split(",")]

    def run(*args):
        assert len(args) == len(ins) + len(outs), f"{name}: {len(args)} arguments"
        arrays = args[len(ins):]
        dtype = arrays[0].dtype
        scope = {"sqrt": np.sqrt}
        for key, value in zip(ins, args[:len(ins)]):
            scope[key] = value if isinstance(value, np.ndarray) else dtype.type(value)
        scope.update(zip(outs, arrays))
        exec(body, scope)  # noqa: S102  (the module's own constant strings)
        for key, out in zip(outs, arrays):
            out[...] = scope[key]

    return run


@pytest.fixture
def kernels_in_python(monkeypatch):
    """nn.fused with its kernels run as Python on NumPy arrays."""
    monkeypatch.setattr(fused, "_applies", lambda arrays: fused._FAST_PATH.on)
    monkeypatch.setattr(fused, "_kernel", lambda xp, name: python_kernel(name))


SETTINGS = {"sgd": (nn.SGD, dict(lr=0.05, momentum=0.7)),
            "adam": (nn.Adam, dict(lr=0.01, beta1=0.5, beta2=0.999)),
            "rmsprop": (nn.RMSProp, dict(lr=0.01, alpha=0.9))}


def run_steps(kind: str, dtype, steps: int = 4, to_device=lambda a: a, to_host=lambda a: a):
    """``steps`` updates of two parameters by the optimiser ``kind`` with seeded gradients:
    (parameters, optimiser state) on the host."""
    rng = np.random.default_rng(0)
    params = {"W": to_device(rng.normal(size=(7, 5)).astype(dtype)),
              "b": to_device(rng.normal(size=(5,)).astype(dtype))}
    grads = {k: p * 0 for k, p in params.items()}
    make, settings = SETTINGS[kind]
    opt = make(params, grads, **settings)
    for _ in range(steps):
        for g in grads.values():
            g[...] = to_device(rng.normal(size=g.shape).astype(dtype))
        opt.step()
    state = {k: to_host(a) if not isinstance(a, int) else a for k, a in opt.state_dict().items()}
    return {k: to_host(p) for k, p in params.items()}, state


@pytest.mark.parametrize("kind", ["sgd", "adam", "rmsprop"])
def test_each_kernel_computes_its_optimisers_update(kernels_in_python, kind):
    """float64: the kernel's arithmetic and arguments against the array expressions, four
    steps (Adam's bias corrections change every step), to 1e-13."""
    fused_params, fused_state = run_steps(kind, np.float64)
    with fused.plain_updates():
        plain_params, plain_state = run_steps(kind, np.float64)
    for key in plain_params:
        np.testing.assert_allclose(fused_params[key], plain_params[key], rtol=1e-13, atol=1e-15)
    for key, value in plain_state.items():
        np.testing.assert_allclose(fused_state[key], value, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("kind", ["sgd", "adam", "rmsprop"])
def test_in_float32_the_kernels_round_as_the_expressions_do(kernels_in_python, kind):
    """Scalars rounded to float32 once, as BLAS rounds alpha: the two paths agree to a few
    float32 ulps (a fused multiply-add may round once where the expressions round twice)."""
    fused_params, _ = run_steps(kind, np.float32)
    with fused.plain_updates():
        plain_params, _ = run_steps(kind, np.float32)
    for key in plain_params:
        np.testing.assert_allclose(fused_params[key], plain_params[key], rtol=2e-6, atol=1e-7)


def test_the_python_stand_in_can_fail():
    """A wrong kernel does not pass the check above: a sign flipped in SGD's body."""
    good = fused.KERNELS["sgd_momentum"]
    p, v, g = np.ones(3), np.full(3, 0.5), np.full(3, 2.0)
    python_kernel("sgd_momentum")(g, 0.1, 0.9, p, v)
    np.testing.assert_allclose(v, 0.9 * 0.5 - 0.1 * 2.0)
    np.testing.assert_allclose(p, 1.0 + v)
    try:
        fused.KERNELS["sgd_momentum"] = (good[0], good[1], good[2].replace("- lr", "+ lr"))
        p2, v2 = np.ones(3), np.full(3, 0.5)
        python_kernel("sgd_momentum")(g, 0.1, 0.9, p2, v2)
        assert not np.allclose(v2, v)
    finally:
        fused.KERNELS["sgd_momentum"] = good


def cuda_source(kernels: dict) -> str:
    """Each kernel as CUDA C, for float and double, the way an elementwise kernel sees its
    arguments: every input a value of type T, every output a reference to its element."""
    out = []
    for T in ("float", "double"):
        for name, (ins, outs, body) in kernels.items():
            params = [f"const {T} {p.split()[-1]}" for p in ins.split(",")]
            params += [f"{T} *raw_{p.split()[-1]}" for p in outs.split(",")]
            refs = " ".join(f"{T} &{p.split()[-1]} = raw_{p.split()[-1]}[i];" for p in outs.split(","))
            out.append(f"""extern "C" __global__ void k_{name}_{T}({", ".join(params)}, int size) {{
    typedef {T} T;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < size; i += blockDim.x * gridDim.x) {{
        {refs}
        {body};
    }}
}}""")
    return "\n".join(out) + "\n"


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="needs the CUDA compiler (nvcc)")
def test_the_kernel_bodies_compile_as_cuda(tmp_path):
    """The bodies are CUDA C for float and double (a typo or a missing overload would
    otherwise show only on a GPU); and a wrong one does not compile."""
    def compiles(kernels) -> subprocess.CompletedProcess:
        (tmp_path / "k.cu").write_text(cuda_source(kernels))
        return subprocess.run(["nvcc", "-c", str(tmp_path / "k.cu"), "-o", str(tmp_path / "k.o")],
                              capture_output=True, text=True, timeout=120)

    done = compiles(fused.KERNELS)
    assert done.returncode == 0, done.stdout + done.stderr
    ins, outs, body = fused.KERNELS["adam"]
    broken = compiles({"adam": (ins, outs, body.replace("step *", "stepp *"))})
    assert broken.returncode != 0 and "stepp" in broken.stdout + broken.stderr


def test_numpy_arrays_are_left_to_the_expressions():
    p, v, g = np.zeros(3, np.float32), np.zeros(3, np.float32), np.ones(3, np.float32)
    assert fused.sgd_momentum(p, v, g, 0.1, 0.5) is False
    assert fused.adam(p, v, v.copy(), g, 0.5, 0.999, 1e-8, 0.1) is False
    assert fused.rmsprop(p, v, g, 0.9, 1e-8, 0.1) is False
    assert not p.any() and not v.any()


def test_plain_updates_switches_the_kernels_off_and_back(kernels_in_python):
    p, v, g = np.zeros(3), np.zeros(3), np.ones(3)
    with fused.plain_updates():
        assert fused.sgd_momentum(p, v, g, 0.1, 0.5) is False
    assert fused.sgd_momentum(p, v, g, 0.1, 0.5) is True
    np.testing.assert_allclose(p, -0.1)


@pytest.mark.parametrize("kind", ["sgd", "adam", "rmsprop"])
@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 2e-6)])
def test_on_cupy_the_kernels_match_the_expressions(backend_name, kind, dtype, rtol):
    """The real kernels (CuPy) against the optimisers' array expressions, four steps."""
    if backend_name != "cupy":
        pytest.skip("the kernels run on CuPy arrays only (NumPy's updates are nn.blas's)")
    b = nn.get_backend("cupy", dtype)
    fused_params, fused_state = run_steps(kind, dtype, to_device=b.asarray, to_host=b.to_numpy)
    with fused.plain_updates():
        plain_params, plain_state = run_steps(kind, dtype, to_device=b.asarray, to_host=b.to_numpy)
    for key in plain_params:
        np.testing.assert_allclose(fused_params[key], plain_params[key], rtol=rtol, atol=rtol / 10)
    for key, value in plain_state.items():
        np.testing.assert_allclose(fused_state[key], value, rtol=rtol, atol=rtol / 10)
