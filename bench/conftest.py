"""Shared benchmark fixtures: the machine and library versions go into every result."""

from __future__ import annotations

from typing import Any

import pytest

from bench._util import machine_info


@pytest.fixture
def bench(benchmark: Any) -> Any:
    """The pytest-benchmark fixture with the machine info attached."""
    benchmark.extra_info.update(machine_info())
    return benchmark
