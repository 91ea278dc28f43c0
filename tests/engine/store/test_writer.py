"""StoreWriter: flush policy, durable ordering, failures and retries, the tick bound, shutdown."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from engine.store.base import Store, StoreError
from engine.store.duckdb_store import DuckDBStore
from engine.store.writer import StoreWriter
from kernels.dtypes import trade_dt
from tests.engine.store._rows_factory import sample_rows


class GatedStore:
    """A real store whose writes can be made to fail or to block (the database stalls).

    ``fail_next`` makes that many write attempts raise StoreError; ``stalled``
    makes every attempt raise until cleared; ``gate`` (when set) blocks each
    write until it is opened. ``calls`` records the tables of each attempt.
    """

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.backend = inner.backend
        self.location = inner.location
        self.fail_next = 0
        self.stalled = False
        self.gate: threading.Event | None = None
        self.calls: list[tuple[str, ...]] = []
        self.failures = 0
        self.entered = 0

    def insert(self, table: str, rows: Any, *, mode: Any = "ignore") -> int:
        return self.insert_many([(table, rows, mode)])

    def insert_many(self, writes: list[tuple[str, Any, Any]]) -> int:
        self.entered += 1
        if self.gate is not None:
            self.gate.wait(10)
        self.calls.append(tuple(t for t, _, _ in writes))
        if self.stalled or self.fail_next > 0:
            self.fail_next = max(0, self.fail_next - 1)
            self.failures += 1
            raise StoreError("insert failed (test): database unavailable")
        return self.inner.insert_many(writes)

    def query(self, sql: str, params: Any = ()) -> pa.Table:
        return self.inner.query(sql, params)

    def schema_version(self) -> int:
        return self.inner.schema_version()

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[GatedStore]:
    store = GatedStore(DuckDBStore(tmp_path / "w.duckdb"))
    yield store
    store.close()


def _ticks(first_id: int, n: int) -> np.ndarray:
    r = np.zeros(n, dtype=trade_dt)
    r["trade_id"] = np.arange(first_id, first_id + n)
    r["ts_event"] = r["trade_id"] * 1000
    r["ts_recv"] = r["ts_event"] + 7
    r["price"] = 60_000.0 + r["trade_id"] * 0.01
    r["qty"] = 0.001
    r["side"] = np.where(r["trade_id"] % 2 == 0, 1, -1)
    return r


def _count(store: Store, table: str = "price_ticks") -> int:
    return int(store.query(f"SELECT count(*) FROM {table}").column(0)[0].as_py())


def _until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def _state(seq: int) -> list[tuple[str, Any, Any]]:
    row = {"engine_id": "e", "key": "k", "value": str(seq), "updated_ts": seq}
    return [("engine_state", [row], "upsert")]


def test_ticks_flush_when_flush_rows_are_pending(db: GatedStore) -> None:
    with StoreWriter(db, flush_rows=1000, flush_interval_s=60) as writer:
        writer.append_ticks("binance", "BTC/USDT", _ticks(0, 999))
        time.sleep(0.2)
        assert writer.stats.batches == 0
        assert writer.stats.pending_ticks == 999
        writer.append_ticks("binance", "BTC/USDT", _ticks(999, 1))
        assert _until(lambda: writer.stats.rows_written.get("price_ticks") == 1000)
        assert writer.stats.pending_ticks == 0
        assert _count(db) == 1000


def test_ticks_flush_when_the_oldest_is_flush_interval_old(db: GatedStore) -> None:
    with StoreWriter(db, flush_rows=1_000_000, flush_interval_s=0.3) as writer:
        appended = time.monotonic()
        writer.append_ticks("binance", "BTC/USDT", _ticks(0, 10))
        assert _until(lambda: writer.stats.batches == 1)
        assert time.monotonic() - appended >= 0.3
    assert _count(db) == 10


def test_ticks_are_stored_exactly_with_venue_and_symbol(db: GatedStore) -> None:
    with StoreWriter(db, flush_rows=100, flush_interval_s=60) as writer:
        r = _ticks(5, 3)
        writer.append_ticks("binance", "BTC/USDT", r)
        r["trade_id"] = -1  # the writer copied it: reusing the array changes nothing stored
        writer.append_ticks("bybit", "ETH/USDT", _ticks(5, 2))
    got = db.query("SELECT * FROM price_ticks ORDER BY venue, trade_id").to_pylist()
    expected = [
        {
            "venue": venue,
            "symbol": symbol,
            "ts_event": int(t["ts_event"]),
            "ts_recv": int(t["ts_recv"]),
            "price": float(t["price"]),
            "quantity": float(t["qty"]),
            "trade_id": int(t["trade_id"]),
            "side": int(t["side"]),
        }
        for venue, symbol, ticks in (
            ("binance", "BTC/USDT", _ticks(5, 3)),
            ("bybit", "ETH/USDT", _ticks(5, 2)),
        )
        for t in ticks
    ]
    assert got == expected


def test_submits_commit_in_order_and_wake_waiters_and_listeners(db: GatedStore) -> None:
    committed: list[int] = []
    with StoreWriter(db) as writer:
        writer.add_listener(committed.append)
        seqs = [writer.submit(_state(i)) for i in range(1, 21)]
        assert seqs == list(range(1, 21))
        assert writer.wait(seqs[-1], timeout=5)
        assert writer.durable_seq == 20
    # in order, the last one included; a group commit reports its highest seq once
    assert committed == sorted(set(committed)) and committed[-1] == 20
    assert db.query("SELECT value FROM engine_state").column(0).to_pylist() == ["20"]
    assert 1 <= writer.stats.rows_written["engine_state"] <= 20


def test_submits_queued_behind_a_slow_commit_go_in_one_transaction(db: GatedStore) -> None:
    db.gate = threading.Event()
    committed: list[int] = []
    with StoreWriter(db) as writer:
        writer.add_listener(committed.append)
        first = writer.submit(_state(1))
        assert _until(lambda: db.entered == 1)  # the first commit is under way, blocked
        rest = [
            writer.submit(
                [
                    ("orders", sample_rows("orders", 1), "upsert"),
                    ("engine_state", _state(i)[0][1], "upsert"),
                ]
            )
            for i in range(2, 12)
        ]
        db.gate.set()
        assert writer.wait(rest[-1], timeout=5)
    # the ten queued submits: one transaction, each table once, the last value of a key kept
    assert db.calls == [("engine_state",), ("orders", "engine_state")]
    assert committed == [first, rest[-1]]
    assert db.query("SELECT value FROM engine_state").column(0).to_pylist() == ["11"]


def test_submit_is_one_transaction_and_goes_ahead_of_pending_ticks(db: GatedStore) -> None:
    db.gate = threading.Event()
    with StoreWriter(db, flush_rows=100, flush_interval_s=60) as writer:
        writer.append_ticks("binance", "BTC/USDT", _ticks(0, 100))  # flush starts, blocks
        assert _until(lambda: db.entered == 1)
        writer.append_ticks("binance", "BTC/USDT", _ticks(100, 100))  # due while blocked
        seq = writer.submit(
            [
                ("orders", sample_rows("orders", 1), "upsert"),
                ("trades", sample_rows("trades", 2), "ignore"),
            ]
        )
        db.gate.set()
        assert writer.wait(seq, timeout=5)
        assert writer.flush(timeout=5)
    assert db.calls == [("price_ticks",), ("orders", "trades"), ("price_ticks",)]


def test_close_flushes_everything_accepted(db: GatedStore) -> None:
    writer = StoreWriter(db, flush_rows=1_000_000, flush_interval_s=60)
    writer.append_ticks("binance", "BTC/USDT", _ticks(0, 500))
    writer.append("news", sample_rows("news", 3))
    writer.append("prices", pa.Table.from_pylist(sample_rows("prices", 4)), mode="ignore")
    seq = writer.submit(_state(1))
    assert writer.close() is True
    assert not writer.running
    assert writer.durable_seq == seq
    assert (_count(db), _count(db, "news"), _count(db, "prices")) == (500, 3, 4)
    assert writer.stats.pending_rows == 0


def test_flush_returns_once_committed(db: GatedStore) -> None:
    with StoreWriter(db, flush_rows=1_000_000, flush_interval_s=60) as writer:
        writer.append_ticks("binance", "BTC/USDT", _ticks(0, 10))
        writer.append("signals", sample_rows("signals", 2))
        assert writer.flush(timeout=5)
        assert (_count(db), _count(db, "signals")) == (10, 2)
        assert writer.flush(timeout=5)  # nothing pending: at once


def test_append_batches_upsert_so_the_latest_row_of_a_key_wins(db: GatedStore) -> None:
    row = sample_rows("signals", 1)[0]
    with StoreWriter(db, flush_rows=1_000_000, flush_interval_s=60) as writer:
        writer.append("signals", [{**row, "status": "generated"}])
        writer.append("signals", [{**row, "status": "executed"}])
        assert writer.flush(timeout=5)
        writer.append("signals", [{**row, "status": "rejected"}])
    assert db.query("SELECT status FROM signals").column(0).to_pylist() == ["rejected"]


def test_failed_writes_are_retried_and_nothing_is_lost(
    db: GatedStore, caplog: pytest.LogCaptureFixture
) -> None:
    db.fail_next = 4
    committed: list[int] = []
    with StoreWriter(
        db, flush_rows=50, flush_interval_s=0.05, retry_initial_s=0.01, retry_max_s=0.05
    ) as writer:
        writer.add_listener(committed.append)
        seqs = [writer.submit(_state(i)) for i in range(1, 4)]
        for i in range(10):
            writer.append_ticks("binance", "BTC/USDT", _ticks(i * 30, 30))
        writer.append("news", sample_rows("news", 5))
        assert writer.flush(timeout=10)
        assert writer.wait(seqs[-1], timeout=0)
    assert db.failures == 4
    assert writer.stats.flush_errors == 4
    assert committed == sorted(set(committed)) and committed[-1] == seqs[-1]
    ids = db.query("SELECT trade_id FROM price_ticks ORDER BY trade_id").column(0).to_pylist()
    assert ids == list(range(300))  # each tick once, none lost
    assert _count(db, "news") == 5
    assert db.query("SELECT value FROM engine_state").column(0).to_pylist() == ["3"]
    # logged once per kind of write, not once per attempt
    failures = [r for r in caplog.records if r.getMessage().startswith("store write failed")]
    assert 1 <= len(failures) <= 3
    assert len({r.fields["kind"] for r in failures}) == len(failures)  # type: ignore[attr-defined]


def test_stalled_store_drops_the_oldest_ticks_beyond_the_bound_but_no_durable_record(
    db: GatedStore,
) -> None:
    db.stalled = True
    with StoreWriter(
        db,
        flush_rows=1000,
        flush_interval_s=0.01,
        max_pending_ticks=5000,
        retry_initial_s=0.01,
        retry_max_s=0.02,
    ) as writer:
        seq = writer.submit(_state(1))
        for i in range(12):
            writer.append_ticks("binance", "BTC/USDT", _ticks(i * 1000, 1000))
            time.sleep(0.002)
        assert _until(lambda: db.failures >= 3)
        assert writer.stats.ticks_dropped == 7000
        assert writer.stats.pending_ticks <= 5000
        assert not writer.wait(seq, timeout=0)
        db.stalled = False
        assert writer.flush(timeout=10)
        assert writer.wait(seq, timeout=0)
    ids = db.query("SELECT trade_id FROM price_ticks ORDER BY trade_id").column(0).to_pylist()
    assert ids == list(range(7000, 12000))  # the newest 5000 kept, in order
    assert writer.stats.ticks_dropped + len(ids) == 12_000


def test_rows_that_cannot_be_converted_are_rejected_and_later_submits_go_on(
    db: GatedStore,
) -> None:
    with StoreWriter(db) as writer:
        bad = writer.submit([("engine_state", [{"engine_id": "e", "key": "k"}], "upsert")])
        good = writer.submit(_state(2))
        assert not writer.wait(bad, timeout=5)
        assert writer.wait(good, timeout=5)
        writer.append("news", [{"id": "x", "ts": "soon"}])
        assert writer.flush(timeout=5)
    assert writer.stats.rejected == 2
    assert _count(db, "engine_state") == 1


def test_programming_errors_raise_at_once(db: GatedStore) -> None:
    with StoreWriter(db) as writer:
        with pytest.raises(StoreError, match="unknown table 'nope'"):
            writer.append("nope", [{"a": 1}])
        with pytest.raises(StoreError, match="mode 'append' is only for"):
            writer.submit([("orders", sample_rows("orders", 1), "append")])
        with pytest.raises(TypeError, match="trade_dt"):
            writer.append_ticks("binance", "BTC/USDT", np.zeros(3))


def test_writer_thread_stops_on_close_and_refuses_new_rows(db: GatedStore) -> None:
    writer = StoreWriter(db)
    assert writer.running
    assert writer.close()
    assert not writer.running
    assert writer.close()  # twice is fine
    with pytest.raises(StoreError, match="closed"):
        writer.append_ticks("binance", "BTC/USDT", _ticks(0, 1))
    with pytest.raises(StoreError, match="closed"):
        writer.submit(_state(1))


def test_close_with_a_dead_store_gives_up_after_its_timeout(db: GatedStore) -> None:
    db.stalled = True
    writer = StoreWriter(db, retry_initial_s=0.01, retry_max_s=0.02)
    writer.append_ticks("binance", "BTC/USDT", _ticks(0, 5))
    started = time.monotonic()
    assert writer.close(timeout=0.3) is False
    assert time.monotonic() - started < 5
    assert not writer.running


def test_writer_on_a_postgres_target_routes_ticks_to_duckdb(pg_url: str, tmp_path: Path) -> None:
    from engine.store import open_store

    store = open_store(pg_url, ticks_path=tmp_path / "t.duckdb")
    try:
        with StoreWriter(store, flush_rows=100, flush_interval_s=60) as writer:
            writer.append_ticks("binance", "BTC/USDT", _ticks(0, 250))
            seq = writer.submit([("orders", sample_rows("orders", 3), "upsert")])
            assert writer.wait(seq, timeout=5)
        assert store.ticks.query("SELECT count(*) FROM price_ticks").column(0)[0].as_py() == 250  # type: ignore[attr-defined]
        assert store.durable.query("SELECT count(*) FROM orders").column(0)[0].as_py() == 3  # type: ignore[attr-defined]
    finally:
        store.close()
