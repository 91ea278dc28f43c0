"""TickRecorder: real markets' trade rings drained into a real writer and DuckDB file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.instruments import Instrument
from engine.market import SymbolMarket
from engine.store.duckdb_store import DuckDBStore
from engine.store.ticks import TickRecorder
from engine.store.writer import StoreWriter


def _market(symbol: str, capacity: int) -> SymbolMarket:
    base, quote = symbol.split("/")
    instrument = Instrument(
        symbol=symbol,
        venue="binance",
        venue_symbol=base + quote,
        base=base,
        quote=quote,
        tick_size=0.01,
        lot_size=0.001,
    )
    return SymbolMarket(instrument, book_capacity=64, trade_capacity=capacity)


def _push(market: SymbolMarket, first: int, n: int) -> None:
    for i in range(first, first + n):
        market.trades.push(i * 1000, i * 1000 + 3, 100.0 + i, 0.5, i, 1 if i % 2 else -1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    s = DuckDBStore(tmp_path / "ticks.duckdb")
    yield s
    s.close()


def _ids(store: DuckDBStore, symbol: str) -> list[int]:
    return (
        store.query("SELECT trade_id FROM price_ticks WHERE symbol = ? ORDER BY ts_recv", [symbol])
        .column(0)
        .to_pylist()
    )


def test_maybe_drain_waits_for_a_chunk_and_drain_takes_the_rest_across_the_wrap(
    store: DuckDBStore,
) -> None:
    market = _market("BTC/USDT", capacity=64)
    with StoreWriter(store, flush_rows=10_000, flush_interval_s=60) as writer:
        recorder = TickRecorder(writer, "binance", {"BTCUSDT": market}, chunk=32)
        _push(market, 0, 31)
        recorder.maybe_drain()
        assert recorder.drained == 0
        _push(market, 31, 19)  # 50 new: one chunk's worth
        recorder.maybe_drain()
        assert recorder.drained == 50
        _push(market, 50, 30)  # ring positions 50..63 then 0..15: wraps
        recorder.maybe_drain()
        assert recorder.drained == 50
        assert recorder.pending == 30
        recorder.drain()
        assert recorder.drained == 80
        assert recorder.pending == 0
    assert _ids(store, "BTC/USDT") == list(range(80))
    assert recorder.lost == 0
    row = store.query("SELECT * FROM price_ticks WHERE trade_id = 63").to_pylist()[0]
    assert row == {
        "venue": "binance",
        "symbol": "BTC/USDT",
        "ts_event": 63_000,
        "ts_recv": 63_003,
        "price": 163.0,
        "quantity": 0.5,
        "trade_id": 63,
        "side": 1,
    }


def test_trades_overwritten_before_a_drain_are_counted_lost(
    store: DuckDBStore, caplog: pytest.LogCaptureFixture
) -> None:
    market = _market("BTC/USDT", capacity=64)
    with StoreWriter(store, flush_rows=10_000, flush_interval_s=60) as writer:
        recorder = TickRecorder(writer, "binance", {"BTCUSDT": market}, chunk=16)
        _push(market, 0, 200)
        recorder.drain()
        _push(market, 200, 100)
        recorder.drain()
    assert recorder.lost == 136 + 36
    assert _ids(store, "BTC/USDT") == list(range(136, 200)) + list(range(236, 300))
    warnings = [r for r in caplog.records if "overwritten in the ring" in r.getMessage()]
    assert len(warnings) == 1


def test_each_symbol_is_drained_on_its_own(store: DuckDBStore) -> None:
    btc, eth = _market("BTC/USDT", 128), _market("ETH/USDT", 128)
    with StoreWriter(store, flush_rows=10_000, flush_interval_s=60) as writer:
        recorder = TickRecorder(writer, "binance", {"BTCUSDT": btc, "ETHUSDT": eth}, chunk=10)
        _push(btc, 0, 12)
        _push(eth, 0, 5)
        recorder.maybe_drain()
        assert recorder.drained == 12
        recorder.drain()
    assert _ids(store, "BTC/USDT") == list(range(12))
    assert _ids(store, "ETH/USDT") == list(range(5))


def test_trades_already_in_the_ring_are_recorded(store: DuckDBStore) -> None:
    market = _market("BTC/USDT", capacity=16)
    _push(market, 0, 40)  # before the recorder exists: the last 16 are still there
    with StoreWriter(store, flush_rows=10_000, flush_interval_s=60) as writer:
        recorder = TickRecorder(writer, "binance", {"BTCUSDT": market})
        recorder.drain()
    assert _ids(store, "BTC/USDT") == list(range(24, 40))
    assert recorder.lost == 0


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(
        st.tuples(st.integers(0, 90), st.sampled_from(["none", "maybe", "drain"])),
        min_size=1,
        max_size=15,
    )
)
def test_every_trade_is_recorded_once_or_counted_lost(
    store: DuckDBStore, steps: list[tuple[int, str]]
) -> None:
    store.query("DELETE FROM price_ticks")
    market = _market("BTC/USDT", capacity=32)
    total = 0
    with StoreWriter(store, flush_rows=10_000, flush_interval_s=60) as writer:
        recorder = TickRecorder(writer, "binance", {"BTCUSDT": market}, chunk=8)
        for n, action in steps:
            _push(market, total, n)
            total += n
            if action == "maybe":
                recorder.maybe_drain()
            elif action == "drain":
                recorder.drain()
        recorder.drain()
    ids = _ids(store, "BTC/USDT")
    assert len(ids) + recorder.lost == total
    assert ids == sorted(set(ids))  # in order, none twice
    assert ids[-min(total, 32) :] == list(range(max(0, total - 32), total))  # the ring's last
