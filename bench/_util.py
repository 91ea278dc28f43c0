"""Helpers shared by the benchmark suites: machine info and derived rates."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import msgspec
import numba
import numpy as np

__all__ = ["cpu_model", "machine_info", "record_rate"]


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


def record_rate(benchmark: Any, count: int, key: str = "frames_per_s_median") -> None:
    """Store ``count / median`` in ``extra_info`` (skipped under ``--benchmark-disable``)."""
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info[key] = round(count / stats.stats.median)
