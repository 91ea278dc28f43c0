"""open_store: targets, routing under a PostgreSQL URL, read-only stores, bad targets."""

from __future__ import annotations

import socket
from pathlib import Path

import duckdb
import psycopg
import pytest

from engine.store import StoreError, open_store
from engine.store.duckdb_store import DuckDBStore
from engine.store.postgres_store import RoutedStore
from tests.engine.store._rows_factory import sample_table


def _with_password(url: str, password: str) -> str:
    user, _, rest = url.partition("@")
    return f"{user}:{password}@{rest}"


def test_path_opens_a_duckdb_file_creating_its_folders(duckdb_path: Path) -> None:
    store = open_store(duckdb_path)
    try:
        assert store.backend == "duckdb"
        assert store.location == str(duckdb_path)
        assert store.insert("news", sample_table("news", 2)) == 2
    finally:
        store.close()
    # closed with a checkpoint: the file alone holds the rows
    assert not Path(f"{duckdb_path}.wal").exists()
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM news").fetchall() == [(2,)]


def test_postgres_url_routes_ticks_and_bars_to_duckdb_and_the_rest_to_postgres(
    pg_url: str, tmp_path: Path
) -> None:
    ticks_path = tmp_path / "ticks" / "ats.duckdb"
    url = _with_password(pg_url, "s3cret-pw")
    store = open_store(url, ticks_path=ticks_path)
    try:
        assert isinstance(store, RoutedStore)
        assert store.backend == "postgres"
        assert "s3cret-pw" not in store.location
        assert store.location == pg_url
        assert store.insert("price_ticks", sample_table("price_ticks", 5), mode="append") == 5
        assert store.insert("prices", sample_table("prices", 3)) == 3
        assert (
            store.insert_many(
                [
                    ("orders", sample_table("orders", 2), "upsert"),
                    ("prices", sample_table("prices", 4), "ignore"),
                ]
            )
            == 3
        )
        assert store.query("SELECT count(*) FROM price_ticks").column(0)[0].as_py() == 5
        assert store.query("SELECT count(*) FROM orders").column(0)[0].as_py() == 2
        assert store.schema_version() == 2
        with pytest.raises(StoreError, match="query each side separately"):
            store.query("SELECT * FROM price_ticks JOIN orders USING (symbol)")
    finally:
        store.close()
    # independent readers: the ticks and bars are in the DuckDB file, not in PostgreSQL
    with duckdb.connect(str(ticks_path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM price_ticks").fetchall() == [(5,)]
        assert con.execute("SELECT count(*) FROM prices").fetchall() == [(4,)]
        assert con.execute("SELECT count(*) FROM orders").fetchall() == [(0,)]
    with psycopg.connect(pg_url) as con:
        assert con.execute("SELECT count(*) FROM orders").fetchone() == (2,)
        assert con.execute("SELECT count(*) FROM price_ticks").fetchone() == (0,)


def test_read_only_duckdb_store_refuses_writes(duckdb_path: Path) -> None:
    open_store(duckdb_path).close()
    store = open_store(duckdb_path, read_only=True)
    try:
        with pytest.raises(StoreError, match="read-only: cannot write news"):
            store.insert("news", sample_table("news", 1))
        with pytest.raises(StoreError, match="read-only"):
            store.query("INSERT INTO engine_state VALUES ('e', 'k', 'v', 0)")
        assert store.query("SELECT count(*) FROM news").column(0)[0].as_py() == 0
    finally:
        store.close()


def test_read_only_postgres_store_refuses_writes(pg_url: str, tmp_path: Path) -> None:
    ticks = tmp_path / "t.duckdb"
    open_store(pg_url, ticks_path=ticks).close()
    store = open_store(pg_url, read_only=True, ticks_path=ticks)
    try:
        with pytest.raises(StoreError, match="read-only"):
            store.insert("orders", sample_table("orders", 1))
        with pytest.raises(StoreError, match="read-only"):
            store.query("INSERT INTO engine_state VALUES ('e', 'k', 'v', 0)")
        with pytest.raises(StoreError, match="read-only"):
            store.insert("price_ticks", sample_table("price_ticks", 1), mode="append")
    finally:
        store.close()


def test_read_only_open_of_a_missing_file_raises(tmp_path: Path) -> None:
    missing = tmp_path / "missing.duckdb"
    with pytest.raises(StoreError, match=f"cannot open DuckDB store {missing}"):
        open_store(missing, read_only=True)


def test_file_that_is_not_a_duckdb_database_raises_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    path.write_text("not a database\n")
    with pytest.raises(StoreError, match=f"{path}.*not a valid DuckDB database"):
        open_store(path)


def test_unknown_url_scheme_raises_without_the_password() -> None:
    with pytest.raises(StoreError) as err:
        open_store("mysql://trader:hunter2@db.example/ats")
    assert "unknown store URL scheme 'mysql'" in str(err.value)
    assert "mysql://trader@db.example/ats" in str(err.value)
    assert "hunter2" not in str(err.value)


def test_unreachable_postgres_server_raises_naming_it_without_the_password(
    tmp_path: Path,
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    url = f"postgresql://ats:hunter2@127.0.0.1:{port}/ats?password=hunter2"
    with pytest.raises(StoreError) as err:
        open_store(url, ticks_path=tmp_path / "t.duckdb")
    message = str(err.value)
    assert f"cannot connect to PostgreSQL store postgresql://ats@127.0.0.1:{port}/ats" in message
    assert "hunter2" not in message
    assert not (tmp_path / "t.duckdb").exists()


def test_empty_target_raises() -> None:
    with pytest.raises(StoreError, match="store target is empty"):
        open_store("")


def test_closed_store_refuses_use(duckdb_path: Path) -> None:
    store = DuckDBStore(duckdb_path)
    store.close()
    store.close()
    with pytest.raises(StoreError, match="is closed"):
        store.query("SELECT 1")
