"""Import → store → export → read back; resample against an independent polars group-by."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.data_cmd import import_file
from engine.research import load_bars, load_ticks
from engine.store import StoreError, open_store
from engine.store.export import export_table
from engine.store.resample import INTERVALS, resample_ticks
from engine.store.schema import arrow_schema
from tests.engine.store_io._util import FIXTURES, SPOT, write_slice

TICK_COLUMNS = list(arrow_schema("price_ticks").names)


@pytest.fixture
def spot_db(tmp_path: Path) -> Path:
    db = tmp_path / "ats.duckdb"
    store = open_store(db)
    try:
        import_file(store, str(write_slice(tmp_path / "spot.gz", SPOT, 6000)), "ticks")
        import_file(store, str(FIXTURES / "bybit_spot_public_trade.txt"), "ticks")
    finally:
        store.close()
    return db


@pytest.mark.parametrize(
    ("path", "kind", "table"),
    [
        (FIXTURES / "ETH_USDT_USDT-5m-futures.json", "ohlcv", "prices"),
        (FIXTURES / "news_malformed.csv", "news", "news"),
        (FIXTURES / "macro_malformed.jsonl", "macro", "macro_events"),
        (FIXTURES / "energy_eia.json", "energy", "energy_records"),
        (FIXTURES / "bybit_spot_public_trade.txt", "ticks", "price_ticks"),
    ],
)
def test_import_twice_second_inserts_nothing(
    tmp_path: Path, path: Path, kind: str, table: str
) -> None:
    store = open_store(tmp_path / "ats.duckdb")
    try:
        first = import_file(store, str(path), kind)
        count = store.query(f"SELECT count(*) AS n FROM {table}").column("n")[0].as_py()
        second = import_file(store, str(path), kind)
        again = store.query(f"SELECT count(*) AS n FROM {table}").column("n")[0].as_py()
    finally:
        store.close()
    assert first["inserted"] == first["rows"] == count > 0
    assert second["inserted"] == 0 and second["duplicates"] == first["rows"]
    assert again == count


def test_ticks_round_trip_parquet_duckdb_and_polars_identical(
    spot_db: Path, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    store = open_store(spot_db, read_only=True)
    try:
        stored = store.query("SELECT * FROM price_ticks")
        result = export_table(store, "price_ticks", out)
    finally:
        store.close()
    assert result.rows == stored.num_rows
    assert "symbol=BTC%2FUSDT/date=2024-08-08/part-0.parquet" in result.files
    key = ["venue", "symbol", "trade_id"]
    expected = pl.from_arrow(stored).sort(key)
    by_duckdb = duckdb.sql(
        f"SELECT {', '.join(TICK_COLUMNS)} "
        f"FROM read_parquet('{out}/**/*.parquet', hive_partitioning=true)"
    ).pl()
    by_polars = (
        pl.scan_parquet(f"{out}/**/*.parquet", hive_partitioning=True)
        .select(TICK_COLUMNS)
        .collect()
    )
    for frame in (by_duckdb, by_polars):
        got = frame.with_columns(pl.col("side").cast(pl.Int8)).sort(key)
        assert got.equals(expected.select(TICK_COLUMNS))


def test_export_date_partition_is_the_utc_day_and_filters_apply(
    spot_db: Path, tmp_path: Path
) -> None:
    store = open_store(spot_db, read_only=True)
    try:
        result = export_table(
            store, "price_ticks", tmp_path / "btc", symbol="BTC/USDT", since=1723161600 * 10**9
        )
        with pytest.raises(StoreError, match="not empty"):
            export_table(store, "price_ticks", tmp_path / "btc")
        with pytest.raises(StoreError, match="no symbol column"):
            export_table(store, "news", tmp_path / "news", symbol="BTC/USDT")
    finally:
        store.close()
    assert result.files == ["symbol=BTC%2FUSDT/date=2024-08-09/part-0.parquet"]
    back = pl.read_parquet(tmp_path / "btc" / result.files[0])
    assert back.height == result.rows and back["ts_event"].min() >= 1723161600 * 10**9


def test_export_table_without_symbol_partitions_by_date(tmp_path: Path) -> None:
    store = open_store(tmp_path / "ats.duckdb")
    try:
        import_file(store, str(FIXTURES / "macro.csv"), "macro")
        result = export_table(store, "macro_events", tmp_path / "macro")
    finally:
        store.close()
    assert result.files == ["date=2024-08-08/part-0.parquet", "date=2024-08-09/part-0.parquet"]
    assert result.rows == 4


def _polars_bars(ticks: pl.DataFrame, interval: str) -> pl.DataFrame:
    """Independent bars: sort by (ts_event, trade_id), group by the bar start."""
    step = INTERVALS[interval] * 10**9
    return (
        ticks.sort("ts_event", "trade_id")
        .with_columns((pl.col("ts_event") // step * step).alias("ts"))
        .group_by("ts", maintain_order=True)
        .agg(
            pl.col("price").first().alias("open"),
            pl.col("price").max().alias("high"),
            pl.col("price").min().alias("low"),
            pl.col("price").last().alias("close"),
            pl.col("quantity").sum().alias("volume"),
            pl.len().cast(pl.Int64).alias("trades"),
        )
        .sort("ts")
    )


def _compare_bars(store_bars: pl.DataFrame, expected: pl.DataFrame) -> None:
    assert store_bars["ts"].to_list() == expected["ts"].to_list()
    for col in ("open", "high", "low", "close", "trades"):
        assert store_bars[col].to_list() == expected[col].to_list(), col
    np.testing.assert_allclose(
        store_bars["volume"].to_numpy(), expected["volume"].to_numpy(), rtol=1e-12
    )


@pytest.mark.parametrize("interval", ["1m", "5m", "1h"])
def test_resample_recorded_ticks_equals_polars_group_by(spot_db: Path, interval: str) -> None:
    store = open_store(spot_db)
    try:
        result = resample_ticks(store, "BTC/USDT", interval, venue="binance")
        again = resample_ticks(store, "BTC/USDT", interval, venue="binance")
    finally:
        store.close()
    ticks = load_ticks("BTC/USDT", db=spot_db, venue="binance")
    expected = _polars_bars(ticks, interval)
    bars = load_bars("BTC/USDT", interval, db=spot_db, venue="binance")
    _compare_bars(bars, expected)
    assert result.bars == again.bars == expected.height and again.new_bars == 0
    assert result.ticks == ticks.height
    assert bars["datetime"].dtype == pl.Datetime("ns", "UTC")


def _tick_table(ts: list[int], ids: list[int], prices: list[float]) -> pa.Table:
    n = len(ts)
    return pa.table(
        {
            "venue": ["v"] * n,
            "symbol": ["S/T"] * n,
            "ts_event": pa.array(ts, pa.int64()),
            "ts_recv": pa.array(ts, pa.int64()),
            "price": pa.array(prices, pa.float64()),
            "quantity": pa.array([1.0] * n),
            "trade_id": pa.array(ids, pa.int64()),
            "side": pa.array([1] * n, pa.int8()),
        }
    )


def test_resample_ties_in_time_broken_by_trade_id_and_bucket_edges(tmp_path: Path) -> None:
    minute = 60 * 10**9
    base = 1723161600 * 10**9
    # stored out of order; two ticks share the bar's first and last nanosecond
    ts = [base + minute - 1, base, base, base + minute - 1, base + minute, base - 1]
    ids = [11, 5, 3, 9, 20, -7]
    prices = [104.0, 101.0, 100.0, 103.0, 105.0, 99.0]
    store = open_store(tmp_path / "t.duckdb")
    try:
        store.insert("price_ticks", _tick_table(ts, ids, prices), mode="append")
        resample_ticks(store, "S/T", "1m")
        bars = store.query("SELECT ts, open, close, trades FROM prices ORDER BY ts").to_pylist()
    finally:
        store.close()
    assert bars == [
        {"ts": base - minute, "open": 99.0, "close": 99.0, "trades": 1},
        {"ts": base, "open": 100.0, "close": 104.0, "trades": 4},  # id 3 opens, id 11 closes
        {"ts": base + minute, "open": 105.0, "close": 105.0, "trades": 1},
    ]


def test_resample_window_widened_to_whole_bars_and_rerun_updates(tmp_path: Path) -> None:
    base = 1723161600 * 10**9
    store = open_store(tmp_path / "t.duckdb")
    try:
        store.insert(
            "price_ticks", _tick_table([base + 10, base + 20], [1, 2], [1.0, 2.0]), mode="append"
        )
        first = resample_ticks(store, "S/T", "1m", since=base + 15)  # widened to base
        store.insert("price_ticks", _tick_table([base + 30], [3], [0.5]), mode="append")
        second = resample_ticks(store, "S/T", "1m")
        bar = store.query("SELECT open, low, close, trades FROM prices").to_pylist()
    finally:
        store.close()
    assert first.since == base and first.ticks == 2
    assert (second.bars, second.new_bars) == (1, 0)
    assert bar == [{"open": 1.0, "low": 0.5, "close": 0.5, "trades": 3}]


_TICKS = st.lists(
    st.tuples(
        st.integers(0, 3 * 3600 * 10**9 // 1000).map(lambda k: k * 1000),  # a 3 h range, us grid
        st.floats(1.0, 1e5, allow_nan=False),
        st.floats(1e-6, 10.0, allow_nan=False),
    ),
    min_size=1,
    max_size=300,
)


@given(ticks=_TICKS, interval=st.sampled_from(["1m", "15m", "1h"]))
def test_resample_random_ticks_equal_polars_group_by(
    ticks: list[tuple[int, float, float]], interval: str
) -> None:
    base = 1723161600 * 10**9
    store = open_store(":memory:")
    try:
        n = len(ticks)
        ids = list(np.random.default_rng(n).permutation(n))  # id order differs from time order
        table = _tick_table(
            [base + t for t, _, _ in ticks], [int(i) for i in ids], [p for _, p, _ in ticks]
        )
        table = table.set_column(5, "quantity", pa.array([q for _, _, q in ticks]))
        store.insert("price_ticks", table, mode="append")
        resample_ticks(store, "S/T", interval)
        got = pl.from_arrow(store.query("SELECT * FROM prices ORDER BY ts"))
    finally:
        store.close()
    _compare_bars(got, _polars_bars(pl.from_arrow(table), interval))


def test_load_bars_several_venues_needs_venue(tmp_path: Path) -> None:
    base = 1723161600 * 10**9
    db = tmp_path / "t.duckdb"
    store = open_store(db)
    try:
        table = _tick_table([base, base + 1], [1, 2], [1.0, 2.0])
        store.insert("price_ticks", table, mode="append")
        store.insert(
            "price_ticks", table.set_column(0, "venue", pa.array(["w", "w"])), mode="append"
        )
        resample_ticks(store, "S/T", "1m")
    finally:
        store.close()
    with pytest.raises(ValueError, match="several venues"):
        load_bars("S/T", "1m", db=db)
    assert (
        load_bars("S/T", "1m", db=db, venue="w", start="2024-08-09", end=base + 60 * 10**9).height
        == 1
    )
    assert os.path.getsize(db) > 0
