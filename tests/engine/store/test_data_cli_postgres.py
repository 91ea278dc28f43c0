"""``ats data`` against a PostgreSQL store: records in PostgreSQL, ticks and bars in DuckDB."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

from api.cli import main
from tests.engine.store_io._util import FIXTURES, SPOT, write_slice


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    out: dict = json.loads(capsys.readouterr().out)
    return out


def test_news_import_query_and_export_on_postgres(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["data", "import", str(FIXTURES / "news.json"), "--kind", "news", "--db", pg_url]
    assert main([*argv, "--json"]) == 0
    first = _json(capsys)
    assert first["inserted"] == first["rows"] > 0
    assert main([*argv, "--json"]) == 0
    assert _json(capsys)["inserted"] == 0  # idempotent on the key, in PostgreSQL too
    sql = "SELECT count(*) AS n FROM news"
    assert main(["data", "query", sql, "--db", pg_url, "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert str(first["rows"]) in out
    assert main(["data", "query", "DELETE FROM news", "--db", pg_url]) == 2
    assert "read-only" in capsys.readouterr().err
    out_dir = tmp_path / "parquet"
    assert main(["data", "export", "--table", "news", "--format", "parquet", "--out",
                 str(out_dir), "--db", pg_url]) == 0  # fmt: skip
    capsys.readouterr()
    back = pl.read_parquet(out_dir / "**" / "*.parquet", hive_partitioning=True)
    assert back.height == first["rows"]


def test_ticks_imported_through_a_postgres_target_land_in_the_ticks_duckdb(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], _store_in_tmp: Path
) -> None:
    ticks = write_slice(tmp_path / "spot.gz", SPOT, 3000)
    argv = ["data", "import", str(ticks), "--kind", "ticks", "--db", pg_url, "--json"]
    assert main(argv) == 0
    result = _json(capsys)
    assert result["inserted"] == result["rows"] > 0
    # store.ticks_db (this test's DuckDB file) holds them
    with duckdb.connect(str(_store_in_tmp), read_only=True) as con:
        (n,) = con.execute("SELECT count(*) FROM price_ticks").fetchone() or (0,)
    assert n == result["rows"]
    assert main(["data", "resample", "--symbol", "BTC/USDT", "--interval", "1m",
                 "--db", pg_url, "--json"]) == 0  # fmt: skip
    bars = _json(capsys)
    with duckdb.connect(str(_store_in_tmp), read_only=True) as con:
        (stored,) = con.execute("SELECT count(*) FROM prices").fetchone() or (0,)
    assert stored > 0 and str(stored) in json.dumps(bars)


def test_routed_queries_go_by_the_tables_read_not_by_column_names(
    pg_url: str, _store_in_tmp: Path
) -> None:
    from engine.store import StoreError, open_store

    store = open_store(pg_url, ticks_path=_store_in_tmp)
    try:
        # prices has a column named like the trades table: still a DuckDB-side query
        sql = "SELECT open, high, low, close, volume, trades FROM prices WHERE symbol = ?"
        assert store.query(sql, ["X"]).num_rows == 0
        assert store.query("SELECT count(*) AS trades FROM orders").num_rows == 1
        with pytest.raises(StoreError, match="query each side separately"):
            store.query("SELECT * FROM price_ticks JOIN trades USING (symbol)")
    finally:
        store.close()
