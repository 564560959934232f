"""The benchmarks are not run by CI, but they must still load: each imports the project and its
test helpers, and a renamed helper once broke ``bench.e2e`` without any test noticing."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import bench

MODULES = sorted(info.name for info in pkgutil.iter_modules(bench.__path__))


def test_every_benchmark_is_listed() -> None:
    assert {"e2e", "webhook", "fanout", "digests", "memory", "profile_handling"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_the_benchmark_loads(name: str) -> None:
    module = importlib.import_module(f"bench.{name}")
    assert module.__doc__, f"bench.{name} says what it measures in its docstring"
