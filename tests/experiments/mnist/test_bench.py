"""The benchmark's analytic FLOP count (cgan/experiments/mnist/bench.py) against a count by hand."""

from __future__ import annotations

import pytest

import nn
from cgan.cli import main
from cgan.experiments.mnist import bench
from cgan.models.mnist import ModelConfig, build_pair


# (n_in, n_out, reads the network's input) of the published networks, written out
PAPER = {
    "cgan": ([(100, 200, True), (10, 1000, True), (1200, 1200, False), (1200, 784, False)],
             [(784, 1200, True), (10, 250, True), (290, 960, False), (240, 1, False)]),
    "gan": ([(100, 1200, True), (1200, 1200, False), (1200, 784, False)],
            [(784, 1200, True), (240, 1200, False), (240, 1, False)]),
}


@pytest.mark.parametrize("model", ["cgan", "gan"])
def test_flops_of_one_iteration_match_a_count_by_hand(model):
    pair = build_pair(nn.get_backend("numpy"), ModelConfig(model=model))
    g, d = PAPER[model]
    assert bench.affine_shapes(pair.generator) == g
    assert bench.affine_shapes(pair.discriminator) == d

    def mults(layers, rows, skip_input=False):
        return sum(2 * rows * i * o for i, o, first in layers if not (skip_input and first))

    d_step = mults(g, 100) + mults(d, 200) + mults(d, 200) + mults(d, 200, skip_input=True)
    g_step = (mults(g, 100) + mults(d, 100) + mults(d, 100)            # G fwd, D fwd, D dx
              + mults(g, 100) + mults(g, 100, skip_input=True))        # G dW, G dx
    products = bench.iteration_products(pair)
    assert sum(p.flops for p in products) == d_step + g_step
    # about 3.5 GFLOP for either model (3.0 was the first estimate, docs/performance.md)
    assert 3.4e9 < d_step + g_step < 3.6e9


def test_bench_help_runs(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--help"])
    assert exit_info.value.code == 0
    assert "interleaved" in capsys.readouterr().out


@pytest.mark.parametrize("model, d_condition", [("dcgan", "planes"), ("cdcgan", "planes"),
                                               ("cdcgan", "projection")])
def test_dcgan_flops_of_one_iteration_match_a_count_by_hand(model, d_condition):
    """Every layer's three products (forward, weight gradient, input gradient) have the
    same FLOPs, 2 * m * k * n per example; count them per step as the code runs them.
    The projection's own score (two numbers per feature and example) is not counted."""
    from cgan.experiments.mnist import bench_dcgan
    from cgan.models.dcgan import DCGANConfig, build_pair as build_dcgan

    pair = build_dcgan(nn.get_backend("numpy"), DCGANConfig(model=model, d_condition=d_condition))
    extra = 10 if model == "cdcgan" else 0
    planes = 10 if model == "cdcgan" and d_condition == "planes" else 0
    # per example: G = Linear (first), ConvT 128 -> 64 on 7x7, ConvT 64 -> 1 on 14x14
    g_first, g_rest = 2 * (100 + extra) * 6272, 2 * 1024 * 128 * 49 + 2 * 16 * 64 * 196
    # D = Conv (1 + planes) -> 64 to 14x14 (first), Conv 64 -> 128 to 7x7, Linear 6272 -> 1
    d_first, d_rest = 2 * 64 * 16 * (1 + planes) * 196, 2 * 128 * 1024 * 49 + 2 * 6272
    if d_condition == "projection":
        d_rest -= 2 * 6272  # the projection's w: part of its own score
    g, d = g_first + g_rest, d_first + d_rest
    b = 64
    d_step = b * (g + 2 * d + 2 * d + 2 * d_rest)         # G fwd; D fwd, dW, dx on real and fake
    g_step = b * (g + d + d + g + g_rest)                 # G fwd, D fwd, D dx (all), G dW, G dx
    products = bench_dcgan.iteration_products(pair, b, one_pass=False)
    assert sum(p.flops for p in products) == d_step + g_step
    host = nn.get_backend("numpy")
    image = host.zeros((1, 784))
    layers = bench_dcgan.gemm_layers(pair.discriminator, (image, host.zeros((1, 10))) if extra else image)
    firsts = [True, False] + ([] if d_condition == "projection" else [False])
    assert [first for _, _, first in layers] == firsts  # only D's first conv reads its input
    assert 10e9 < d_step + g_step < 12.5e9   # about 10.4 GFLOP (dcgan), 11.9 (cdcgan)


def test_dcgan_profile_accounts_for_the_iteration():
    from cgan.experiments.mnist import bench_dcgan

    result = bench_dcgan.profile("dcgan", iterations=1, warmup=1)
    parts = result["parts_ms"]
    assert set(parts) == {k for k, _ in bench_dcgan.CATEGORIES}
    assert sum(parts.values()) == pytest.approx(result["total_ms"])
    assert all(v > 0 for k, v in parts.items() if k != "rest")
    assert 0.3 < result["convolution_share"] < 1


def test_markdown_reports_the_dcgan_rows_cpu_times_and_profile():
    from cgan.experiments.mnist import bench_dcgan

    ms = {"median": 200.0, "min": 190.0, "max": 210.0}
    entry = {"batch": 64, "flops_per_iteration": 10.4e9, "products_limit_ms": 80.0,
             "products_limit_gflops": 130.0, "ours_ms": ms, "ours_gflops": 52.0,
             "fraction_of_limit": 0.4, "torch_ms": ms, "ratio_ours_over_torch": ms,
             "cpu_ms": {"ours": ms, "torch": ms}, "cpu_ratio_ours_over_torch": {"median": 1.2, "min": 1.1, "max": 1.3},
             "profile": {"iterations": 20, "total_ms": 170.0, "convolution_share": 0.7,
                         "parts_ms": {k: 10.0 for k, _ in bench_dcgan.CATEGORIES}}}
    text = bench.markdown({"backend": "numpy", "command": "cgan bench", "date": "today", "machine": "here",
                           "rounds": 3, "block": 5, "seconds": 60.0, "load_average_after": 1.0,
                           "models": {"dcgan": entry}})
    assert "| DCGAN (dcgan), minibatch 64 | 10.40 |" in text
    assert "| dcgan | 200.0 | 200.0 | 1.20 (1.10-1.30) |" in text
    assert "the convolutions, with their im2col, col2im and layout copies, **70 %**" in text
    assert "| col2im | 10.0 |" in text


def test_blas_facts_name_the_library_and_threads_with_or_without_threadpoolctl(monkeypatch):
    """The report says which BLAS ran and with how many threads; without threadpoolctl the
    thread count is the one the environment asks for."""
    import builtins

    from cgan.experiments.mnist.bench import blas_facts, describe_blas

    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    real_import = builtins.__import__

    def no_threadpoolctl(name, *args, **kwargs):
        if name == "threadpoolctl":
            raise ImportError("no threadpoolctl")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_threadpoolctl)
    facts = blas_facts()
    assert facts and facts[0]["internal_api"] and facts[0]["version"]
    assert facts[0]["num_threads"] == 3
    assert describe_blas(facts).endswith("(3 threads)")
    assert describe_blas([{"internal_api": "openblas", "version": "0.3", "num_threads": 1,
                           "architecture": "Haswell", "threading_layer": "pthreads"}]) \
        == "openblas 0.3 (Haswell kernel, pthreads, 1 thread)"
    assert describe_blas([]) == "unknown"
    # both libraries, named by whose they are: SciPy's runs nn's products and updates
    assert {fact["owner"] for fact in facts} == {"NumPy", "SciPy"}
    assert "SciPy's " in describe_blas(facts) and "NumPy's " in describe_blas(facts)


def test_blas_facts_name_whose_library_with_threadpoolctl():
    pytest.importorskip("threadpoolctl")
    from cgan.experiments.mnist.bench import blas_facts

    owners = [fact["owner"] for fact in blas_facts()]
    assert "SciPy" in owners or None in owners  # wheels: SciPy's own; a shared BLAS: unnamed
