"""Tick backtester throughput: conversion, market data alone, and the grid market maker.

Rows/s divide the converter's row count (every book level and trade of the recording).
The head-to-head against hftbacktest is ``python -m bench.compare_backtest``.

Reproduce::

    .venv/bin/python -m pytest bench/backtest -o addopts= -o testpaths=bench --benchmark-only -q
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.paper.tickbt import BacktestConfig, TickBacktester
from adapters.paper.tickdata import TickData, convert_recording
from engine.strategies.grid_mm import GridParams, run_grid_mm_njit
from kernels import tickbt as k

ROOT = Path(__file__).resolve().parents[2]
RECORDINGS = {
    "usdm": ROOT / "data" / "binance_usdm" / "btcusdt_20240808.gz",
    "spot": ROOT / "data" / "binance_spot" / "btcusdt_20240808.gz",
}


@pytest.fixture(scope="module", params=sorted(RECORDINGS))
def data(request: pytest.FixtureRequest) -> TickData:
    path = RECORDINGS[request.param]
    if not path.is_file():
        pytest.fail(f"bundled recording missing: {path}")
    d = convert_recording(path)
    # compile outside the timed runs
    run_grid_mm_njit(TickBacktester(d, BacktestConfig()), GridParams())
    TickBacktester(d, BacktestConfig()).elapse(k.MAX_TS)
    return d


def test_bench_tickbt_convert(bench: Any) -> None:
    path = RECORDINGS["usdm"] if RECORDINGS["usdm"].is_file() else RECORDINGS["spot"]
    d = bench.pedantic(convert_recording, args=(path,), rounds=3, iterations=1)
    bench.extra_info["rows"] = d.n_rows
    bench.extra_info["rows_per_s"] = d.n_rows / bench.stats.stats.median if bench.stats else None


def test_bench_tickbt_market_data_only(bench: Any, data: TickData) -> None:
    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (TickBacktester(data, BacktestConfig()),), {}

    def run(bt: TickBacktester) -> None:
        bt.elapse(k.MAX_TS)

    bench.pedantic(run, setup=setup, rounds=10, iterations=1)
    bench.extra_info["rows"] = data.n_rows


def test_bench_tickbt_grid_mm_njit(bench: Any, data: TickData) -> None:
    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (TickBacktester(data, BacktestConfig()),), {}

    result: dict[str, Any] = {}

    def run(bt: TickBacktester) -> None:
        run_grid_mm_njit(bt, GridParams())
        result.update(bt.stats())

    bench.pedantic(run, setup=setup, rounds=10, iterations=1)
    bench.extra_info.update(rows=data.n_rows, orders=result["orders"], fills=result["fills"])
