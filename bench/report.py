"""Print a Markdown table (median, p99, ratio) from a pytest-benchmark JSON file.

Usage::

    make bench                               # writes .benchmarks/latest.json
    .venv/bin/python bench/report.py .benchmarks/latest.json

p99 is computed from the per-round timings (``--benchmark-save-data`` keeps
them in the JSON). The ratio is each row's median over the median of the
first row of its group (the rows are sorted by median).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def _fmt(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def report(path: Path) -> str:
    """Return the Markdown table for the benchmark results in ``path``."""
    data = json.loads(path.read_text())
    groups: dict[str, list[dict]] = {}
    for bench in data["benchmarks"]:
        groups.setdefault(bench["group"] or "", []).append(bench)
    lines = [
        "| group | benchmark | median | p99 | rounds | × first row |",
        "|---|---|---|---|---|---|",
    ]
    for group, rows in groups.items():
        rows.sort(key=lambda b: b["stats"]["median"])
        base = rows[0]["stats"]["median"]
        for b in rows:
            stats = b["stats"]
            samples = stats.get("data") or [stats["max"]]
            # pytest-benchmark stores per-iteration times in ``data``.
            p99 = float(np.percentile(np.asarray(samples), 99))
            lines.append(
                f"| {group} | {b['name']} | {_fmt(stats['median'])} | {_fmt(p99)} | "
                f"{stats['rounds']} | {stats['median'] / base:.2f} |"
            )
    notes = [
        f"- {b['name']}: "
        + ", ".join(f"{k}={v}" for k, v in b["extra_info"].items() if k.endswith("_ns"))
        for b in data["benchmarks"]
        if any(k.endswith("_ns") for k in b["extra_info"])
    ]
    return "\n".join([*lines, "", *notes] if notes else lines)


if __name__ == "__main__":
    print(report(Path(sys.argv[1] if len(sys.argv) > 1 else ".benchmarks/latest.json")))
