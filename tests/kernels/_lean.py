"""Load the QuantConnect Lean daily bars bundled in ``tests/data/lean`` (see ``data/SOURCES.md``).

Each zip holds one header-less CSV, ``YYYYMMDD HH:MM,open,high,low,close,volume``.
Equity prices are in deci-cents (divided by 10,000 here, as Lean's readme says)
and are raw, not split-adjusted (AAPL has its splits in them); crypto prices are
plain quote-currency decimals.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

LEAN_DIR = Path(__file__).resolve().parents[1] / "data" / "lean"
#: Bundled series: ``name -> (zip file, price divisor)``.
LEAN_SERIES = {
    "spy": ("spy.zip", 10_000.0),
    "aapl": ("aapl.zip", 10_000.0),
    "btcusd": ("btcusd_trade.zip", 1.0),
}


class Bars(NamedTuple):
    """Daily OHLCV bars as contiguous float64 arrays of equal length."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


def load_lean_bars(name: str) -> Bars:
    """Return the bars of ``spy``, ``aapl`` or ``btcusd`` (Coinbase BTC-USD)."""
    filename, divisor = LEAN_SERIES[name]
    with zipfile.ZipFile(LEAN_DIR / filename) as archive:
        (member,) = archive.namelist()
        table = np.loadtxt(
            io.BytesIO(archive.read(member)), delimiter=",", usecols=(1, 2, 3, 4, 5), ndmin=2
        )
    prices = table[:, :4] / divisor
    return Bars(*(np.ascontiguousarray(prices[:, k]) for k in range(4)), table[:, 4].copy())
