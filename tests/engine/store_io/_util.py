"""Helpers of the store import/export tests: slices of the bundled recordings."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SPOT = ROOT / "data" / "binance_spot" / "btcusdt_20240808.gz"
USDM = ROOT / "data" / "binance_usdm" / "btcusdt_20240808.gz"
CRYPTOFEED = ROOT / "tests" / "data" / "cryptofeed"
FIXTURES = ROOT / "tests" / "data" / "importers"
LEAN = ROOT / "tests" / "data" / "lean"


def head_lines(path: Path, count: int) -> list[bytes]:
    """The first ``count`` lines of a gzip recording (with their newline)."""
    with gzip.open(path, "rb") as f:
        return list(itertools.islice(f, count))


def write_slice(path: Path, source: Path, count: int, extra: list[bytes] = ()) -> Path:  # type: ignore[assignment]
    """Write the first ``count`` lines of ``source`` (gzip) plus ``extra`` lines to ``path``."""
    lines = head_lines(source, count) + list(extra)
    with gzip.open(path, "wb") as f:
        f.writelines(lines)
    return path
