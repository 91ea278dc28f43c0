"""Shared benchmark fixtures: the machine and library versions go into every result."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import msgspec
import numba
import numpy as np
import pytest


def cpu_model() -> str:
    """Return the CPU model name (``/proc/cpuinfo``), or the platform's best guess."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """Versions and CPU recorded in ``benchmark.extra_info``."""
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "msgspec": msgspec.__version__,
        "cpu": cpu_model(),
    }


@pytest.fixture
def bench(benchmark: Any) -> Any:
    """The pytest-benchmark fixture with the machine info attached."""
    benchmark.extra_info.update(machine_info())
    return benchmark
