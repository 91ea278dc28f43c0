"""Versioned migrations: the layout they build, upgrades of old stores, refusals, concurrency."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from engine.store.base import Store, StoreError
from engine.store.duckdb_store import DuckDBStore
from engine.store.migrations import ADVISORY_LOCK_KEY, MIGRATIONS
from engine.store.postgres_store import PostgresStore
from engine.store.schema import SCHEMA_VERSION, TABLES
from tests.engine.store.conftest import BACKENDS, open_backend

# the schema module's logical types as each backend's information_schema spells them
_TYPE_NAMES = {
    "duckdb": {
        "text": "VARCHAR",
        "i64": "BIGINT",
        "i32": "INTEGER",
        "i8": "TINYINT",
        "f64": "DOUBLE",
        "bool": "BOOLEAN",
    },
    "postgres": {
        "text": "text",
        "i64": "bigint",
        "i32": "integer",
        "i8": "smallint",
        "f64": "double precision",
        "bool": "boolean",
    },
}


def _columns(store: Store) -> dict[str, dict[str, tuple[str, bool]]]:
    rows = store.query(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = current_schema()"
    ).to_pylist()
    out: dict[str, dict[str, tuple[str, bool]]] = {}
    for r in rows:
        out.setdefault(r["table_name"], {})[r["column_name"]] = (
            r["data_type"],
            r["is_nullable"] == "YES",
        )
    return out


def _primary_keys(store: Store) -> dict[str, tuple[str, ...]]:
    if store.backend == "duckdb":
        rows = store.query(
            "SELECT table_name, constraint_column_names AS cols FROM duckdb_constraints() "
            "WHERE constraint_type = 'PRIMARY KEY'"
        ).to_pylist()
        return {r["table_name"]: tuple(r["cols"]) for r in rows}
    rows = store.query(
        "SELECT k.table_name, k.column_name FROM information_schema.table_constraints c "
        "JOIN information_schema.key_column_usage k "
        "ON k.constraint_name = c.constraint_name AND k.table_schema = c.table_schema "
        "WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = current_schema() "
        "ORDER BY k.table_name, k.ordinal_position"
    ).to_pylist()
    keys: dict[str, tuple[str, ...]] = {}
    for r in rows:
        keys[r["table_name"]] = (*keys.get(r["table_name"], ()), r["column_name"])
    return keys


def test_migrations_are_numbered_one_to_schema_version() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_all_migrations_yield_exactly_the_schema_modules_tables(
    backend: str, request: pytest.FixtureRequest
) -> None:
    store = open_backend(backend, request)
    try:
        columns = _columns(store)
        keys = _primary_keys(store)
    finally:
        store.close()
    names = _TYPE_NAMES[backend]
    expected = {
        t.name: {c.name: (names[c.type], c.nullable) for c in t.columns} for t in TABLES.values()
    }
    assert columns.pop("schema_version") == {
        "version": (names["i32"], False),
        "applied_ts": (names["i64"], False),
        "description": (names["text"], False),
    }
    assert columns == expected
    expected_keys = {t.name: t.key for t in TABLES.values() if t.enforce_key}
    assert keys.pop("schema_version") == ("version",)
    assert keys == expected_keys


def _version_one_rows(store: Store) -> None:
    # the v1 layout: no engine_state, orders without venue_order_id (written as raw SQL)
    store.query(
        "INSERT INTO orders (client_order_id, engine_id, venue, symbol, side, order_type, "
        "time_in_force, quantity, price, stop_price, status, filled_quantity, average_price, "
        "strategy, reduce_only, reason, created_ts, updated_ts) VALUES "
        "('c1', 'e', 'binance', 'BTC/USDT', 'BUY', 'LIMIT', 'GTC', 0.5, 60000.0, NULL, 'NEW', "
        "0.0, NULL, 's', false, NULL, 1, 2)"
    )
    store.query(
        "INSERT INTO positions VALUES ('e', 'BTC/USDT', 0.25, 59000.0, 12.5, 3)",
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_store_at_version_one_is_upgraded_and_keeps_its_rows(
    backend: str, request: pytest.FixtureRequest
) -> None:
    old = open_backend(backend, request, migrate_to=1)
    try:
        assert old.schema_version() == 1
        assert "engine_state" not in _columns(old)
        assert "venue_order_id" not in _columns(old)["orders"]
        _version_one_rows(old)
    finally:
        old.close()

    store = open_backend(backend, request)
    try:
        assert store.schema_version() == SCHEMA_VERSION
        versions = store.query("SELECT version FROM schema_version ORDER BY version")
        assert versions.column(0).to_pylist() == [1, 2]
        order = store.query("SELECT client_order_id, venue_order_id, quantity FROM orders")
        assert order.to_pylist() == [
            {"client_order_id": "c1", "venue_order_id": None, "quantity": 0.5}
        ]
        assert store.query("SELECT * FROM positions").to_pylist() == [
            {
                "engine_id": "e",
                "symbol": "BTC/USDT",
                "quantity": 0.25,
                "average_price": 59000.0,
                "realized_pnl": 12.5,
                "updated_ts": 3,
            }
        ]
        # the upgraded layout takes the current rows
        state = [{"engine_id": "e", "key": "trading", "value": "{}", "updated_ts": 4}]
        assert store.insert("engine_state", state) == 1
        row = store.query("SELECT * FROM orders").to_pylist()[0]
        assert store.insert("orders", [{**row, "venue_order_id": "V1"}], mode="upsert") == 0
        assert store.query("SELECT venue_order_id FROM orders").column(0).to_pylist() == ["V1"]
    finally:
        store.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_store_newer_than_the_code_is_refused(backend: str, request: pytest.FixtureRequest) -> None:
    store = open_backend(backend, request)
    store.query("INSERT INTO schema_version VALUES (?, 0, 'from the future')", [SCHEMA_VERSION + 1])
    location = store.location
    store.close()
    with pytest.raises(StoreError) as err:
        open_backend(backend, request)
    message = str(err.value)
    assert f"schema version {SCHEMA_VERSION + 1}, newer than this code's {SCHEMA_VERSION}" in (
        message
    )
    assert location in message


def test_read_only_open_of_an_old_file_asks_for_an_upgrade(duckdb_path: Path) -> None:
    DuckDBStore(duckdb_path, migrate_to=1).close()
    with pytest.raises(StoreError, match=r"schema version 1 .* open it once read-write"):
        DuckDBStore(duckdb_path, read_only=True)
    DuckDBStore(duckdb_path).close()
    DuckDBStore(duckdb_path, read_only=True).close()


def test_concurrent_openers_on_postgres_migrate_once(pg_url: str) -> None:
    stores: list[PostgresStore] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def open_one() -> None:
        barrier.wait()
        try:
            stores.append(PostgresStore(pg_url))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    try:
        assert errors == []
        assert len(stores) == 4
        rows = stores[0].query("SELECT version FROM schema_version ORDER BY version")
        assert rows.column(0).to_pylist() == [1, 2]
    finally:
        for s in stores:
            s.close()


def test_postgres_opener_waits_for_the_migration_lock(pg_url: str) -> None:
    holder = psycopg.connect(pg_url, autocommit=True)
    holder.execute(f"SELECT pg_advisory_lock({ADVISORY_LOCK_KEY})")
    opened: list[PostgresStore] = []
    thread = threading.Thread(target=lambda: opened.append(PostgresStore(pg_url)))
    try:
        thread.start()
        time.sleep(0.3)
        assert opened == []  # blocked on the lock, not migrating beside the holder
        with holder.cursor() as cur:
            cur.execute("SELECT to_regclass('orders')")
            assert cur.fetchone() == (None,)
    finally:
        holder.execute(f"SELECT pg_advisory_unlock({ADVISORY_LOCK_KEY})")
        holder.close()
        thread.join(30)
    assert len(opened) == 1
    assert opened[0].schema_version() == SCHEMA_VERSION
    opened[0].close()
