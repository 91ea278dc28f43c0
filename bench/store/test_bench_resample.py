"""Resampling 10,000,000 ticks to 1-minute bars: our SQL beside polars, in the same run.

Issue 8's target: <= 0.3 s for 10 M ticks (measured there: 0.12-0.15 s).
The ticks are one synthetic day of BTC/USDT at ~115 trades/s (10 M in
86,400 s), generated once per session with a seeded numpy generator:
exponential gaps, a log-normal random walk of prices rounded to the 0.01
tick, exponential quantities, trade ids in time order, about one trade in
five sharing its millisecond with the previous one (ties are what the
``(ts_event, trade_id)`` ordering is for). They are preloaded into a
DuckDB ``price_ticks`` table (an in-memory store); only the resample is
timed:

* ``sql``: :func:`engine.store.resample.resample_ticks` — the ``GROUP BY``
  in DuckDB and the upsert of the 1,440 bars into ``prices``;
* ``polars``: ``group_by_dynamic("ts", every="1m")`` over the same ticks
  already in a polars DataFrame (sorted by time, as ``group_by_dynamic``
  requires), with ``first``/``last`` price, ``max``/``min``, ``sum`` of
  quantities and ``len``; no write.

Both give the same bars (asserted once per session). Under
``--benchmark-disable`` (``make test``) the day has 100,000 ticks.

Reproduce::

    .venv/bin/python -m pytest bench/store/test_bench_resample.py -o addopts= \\
        -o testpaths=bench --benchmark-only -q
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from bench._util import record_rate
from engine.store import open_store
from engine.store.resample import resample_ticks

FULL = 10_000_000
SMOKE = 100_000
SEED = 20240808
DAY_NS = 86_400 * 10**9
START = 1_723_075_200 * 10**9  # 2024-08-08 00:00 UTC
ROUNDS = 7


def synthetic_ticks(count: int, seed: int = SEED) -> pa.Table:
    """One day of ``count`` BTC/USDT trades (see the module docstring)."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1.0, count)
    ts = START + (np.cumsum(gaps) / gaps.sum() * (DAY_NS - 1)).astype(np.int64)
    ts = ts // 1_000_000 * 1_000_000  # venue times are milliseconds
    price = np.round(61_000.0 * np.exp(np.cumsum(rng.normal(0.0, 2e-5, count))), 2)
    quantity = np.round(rng.exponential(0.02, count) + 1e-5, 5)
    side = np.where(rng.random(count) < 0.5, 1, -1).astype(np.int8)
    return pa.table(
        {
            "venue": pa.array(["binance"] * 1, pa.string()).take(np.zeros(count, np.int64)),
            "symbol": pa.array(["BTC/USDT"], pa.string()).take(np.zeros(count, np.int64)),
            "ts_event": ts,
            "ts_recv": ts + 1_260_000_000,
            "price": price,
            "quantity": quantity,
            "trade_id": np.arange(3_735_683_259, 3_735_683_259 + count, dtype=np.int64),
            "side": side,
        }
    )


@pytest.fixture(scope="session")
def size(request: pytest.FixtureRequest) -> int:
    return SMOKE if request.config.getoption("benchmark_disable") else FULL


@pytest.fixture(scope="session")
def ticks(size: int) -> pa.Table:
    return synthetic_ticks(size)


@pytest.fixture(scope="session")
def store(ticks: pa.Table) -> Any:
    st = open_store(":memory:")
    st.insert("price_ticks", ticks, mode="append")
    yield st
    st.close()


def _polars_bars(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.group_by_dynamic("ts", every="1m").agg(
        pl.col("price").first().alias("open"),
        pl.col("price").max().alias("high"),
        pl.col("price").min().alias("low"),
        pl.col("price").last().alias("close"),
        pl.col("quantity").sum().alias("volume"),
        pl.len().alias("trades"),
    )


@pytest.fixture(scope="session")
def polars_ticks(ticks: pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(ticks.select(["ts_event", "trade_id", "price", "quantity"]))
    assert isinstance(frame, pl.DataFrame)
    return (
        frame.sort("ts_event", "trade_id")
        .with_columns(pl.col("ts_event").cast(pl.Datetime("ns", "UTC")).alias("ts"))
        .set_sorted("ts")
    )


def test_bench_resample_10m_ticks_to_1m_bars_sql(bench: Any, store: Any, size: int) -> None:
    result = bench.pedantic(
        resample_ticks, args=(store, "BTC/USDT", "1m"), rounds=ROUNDS, iterations=1, warmup_rounds=1
    )
    assert result.bars == 1440 and result.ticks == size
    bench.extra_info["ticks"] = size
    record_rate(bench, size, "ticks_per_s_median")


def test_bench_resample_10m_ticks_to_1m_bars_polars(
    bench: Any, polars_ticks: pl.DataFrame, store: Any, size: int
) -> None:
    bars = bench.pedantic(
        _polars_bars, args=(polars_ticks,), rounds=ROUNDS, iterations=1, warmup_rounds=1
    )
    assert bars.height == 1440
    ours = pl.from_arrow(
        store.query("SELECT ts, open, high, low, close, volume, trades FROM prices ORDER BY ts")
    )
    if ours.height == 0:  # the SQL case did not run (-k): compute it here once
        resample_ticks(store, "BTC/USDT", "1m")
        ours = pl.from_arrow(store.query("SELECT * FROM prices ORDER BY ts"))
    assert isinstance(ours, pl.DataFrame)
    assert ours["ts"].to_list() == bars["ts"].dt.epoch("ns").to_list()
    for col in ("open", "high", "low", "close"):
        assert ours[col].to_list() == bars[col].to_list(), col
    assert ours["trades"].to_list() == bars["trades"].cast(pl.Int64).to_list()
    np.testing.assert_allclose(ours["volume"].to_numpy(), bars["volume"].to_numpy(), rtol=1e-9)
    bench.extra_info["ticks"] = size
    bench.extra_info["polars"] = pl.__version__
    record_rate(bench, size, "ticks_per_s_median")
