"""Test configuration: which backends to run, and the hypothesis profiles.

Backends: every test that takes ``backend_name`` runs once per selected backend. By
default both numpy and cupy are selected; cupy's runs are skipped, with the reason shown
in the summary, where CuPy or a GPU is missing. Select with ``--backends numpy,cupy`` or
the environment variable ``CGAN_TEST_BACKENDS``.

Hypothesis: profile "default" (50 examples per property, what CI runs) or "thorough"
(500 examples): ``pytest --hypothesis-profile thorough``.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

import nn

settings.register_profile(
    "default", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("default")


def pytest_addoption(parser):
    parser.addoption(
        "--backends",
        default=os.environ.get("CGAN_TEST_BACKENDS", "numpy,cupy"),
        help="comma-separated backends to test (numpy, cupy); env CGAN_TEST_BACKENDS",
    )


def _selected(config) -> list[str]:
    names = [n.strip() for n in config.getoption("--backends").split(",") if n.strip()]
    unknown = [n for n in names if n not in ("numpy", "cupy")]
    if unknown or not names:
        raise pytest.UsageError(f"--backends: unknown or empty selection {names!r}")
    return names


_unavailable: dict[str, str] = {}


def _reason_unavailable(name: str) -> str | None:
    if name not in _unavailable:
        try:
            nn.get_backend(name)
            _unavailable[name] = ""
        except nn.BackendUnavailable as exc:
            _unavailable[name] = f"{name} backend unavailable here: {str(exc).split('. ')[0]}"
    return _unavailable[name] or None


def pytest_generate_tests(metafunc):
    if "backend_name" in metafunc.fixturenames:
        params = []
        for name in _selected(metafunc.config):
            reason = _reason_unavailable(name)
            marks = [pytest.mark.skip(reason=reason)] if reason else []
            params.append(pytest.param(name, id=name, marks=marks))
        metafunc.parametrize("backend_name", params)
