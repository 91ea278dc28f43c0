"""Parquet export of a store table, hive-partitioned by symbol and date: the scale-out format.

Layout: ``<out>/symbol=<symbol>/date=<YYYY-MM-DD>/part-<n>.parquet``
(tables without a ``symbol`` column: ``<out>/date=<YYYY-MM-DD>/...``). The
date is the UTC day of the table's time column (``ts``; ``ts_event`` for
ticks; ``created_ts`` for orders; ``updated_ts`` for positions and engine
state). Rows in each file are ordered by that time column.

The symbol is made path-safe the way Hive, Spark and DuckDB escape
partition values: URL percent-encoding of every byte outside
``A-Z a-z 0-9 - . _ ~`` (``BTC/USDT`` → ``symbol=BTC%2FUSDT``,
``BTC/USDT:USDT`` → ``symbol=BTC%2FUSDT%3AUSDT``). Readers that understand
hive partitioning decode it back: DuckDB
(``read_parquet('<out>/**/*.parquet', hive_partitioning=true)``), polars
(``pl.scan_parquet('<out>/**/*.parquet', hive_partitioning=True)``), Spark,
Trino. A lossy mapping such as ``BTC_USDT`` would not round-trip: DuckDB
and polars take a partition column's value from the path even when the file
holds the column too, so the symbol would read back as ``BTC_USDT``. The
partition columns are not repeated inside the files (the hive convention).

DuckDB writes the files (``COPY ... TO ... (FORMAT PARQUET, PARTITION_BY
...)``) straight from the store's DuckDB file; a table held in PostgreSQL is
read into Arrow first and written by an in-memory DuckDB.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from engine.store.base import Store, StoreError
from engine.store.schema import TABLES

__all__ = ["ExportResult", "export_table", "time_column"]

_TIME_COLUMNS = ("ts", "ts_event", "created_ts", "updated_ts")
_DUCKDB_TABLES = frozenset({"prices", "price_ticks"})
_DAY_NS = 86_400_000_000_000


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What :func:`export_table` wrote."""

    table: str
    out: str
    rows: int
    #: Files written, relative to ``out``, sorted.
    files: list[str]


def time_column(table: str) -> str:
    """The column whose UTC day partitions ``table``."""
    names = TABLES[table].column_names
    for name in _TIME_COLUMNS:
        if name in names:
            return name
    raise StoreError(f"table {table} has no time column to partition by")


def _duckdb_side(store: Store, table: str) -> Any | None:
    if store.backend == "duckdb":
        return store
    if table in _DUCKDB_TABLES:
        return getattr(store, "ticks", None)
    return None


def export_table(
    store: Store,
    table: str,
    out: str | os.PathLike[str],
    *,
    symbol: str | None = None,
    since: int | None = None,
    until: int | None = None,
) -> ExportResult:
    """Write ``table`` (its rows with ``since <= time < until``) as hive-partitioned Parquet.

    Parameters
    ----------
    store : Store
        The store to read.
    table : str
        A table of :mod:`engine.store.schema`.
    out : str or os.PathLike
        Output folder; created, and it must be empty (an export never mixes
        with older files).
    symbol : str, optional
        Only this symbol (tables with a ``symbol`` column).
    since, until : int, optional
        Epoch ns bounds on the time column, ``[since, until)``.

    Returns
    -------
    ExportResult

    Raises
    ------
    StoreError
        Unknown table, ``symbol`` given for a table without symbols, an
        output folder that is not empty, or the write failed.
    """
    spec = TABLES.get(table)
    if spec is None:
        raise StoreError(f"table must be one of {', '.join(TABLES)}, was {table!r}")
    has_symbol = "symbol" in spec.column_names
    if symbol is not None and not has_symbol:
        raise StoreError(f"table {table} has no symbol column; drop --symbol")
    folder = Path(out)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise StoreError(f"output folder {folder} is not empty; choose a new one")
    folder.mkdir(parents=True, exist_ok=True)
    when = time_column(table)
    where: list[str] = []
    params: list[object] = []
    if symbol is not None:
        where.append("symbol = ?")
        params.append(symbol)
    if since is not None:
        where.append(f"{when} >= ?")
        params.append(int(since))
    if until is not None:
        where.append(f"{when} < ?")
        params.append(int(until))
    filter_sql = f" WHERE {' AND '.join(where)}" if where else ""
    columns = ", ".join(f'"{c}"' for c in spec.column_names)
    day = f"strftime(DATE '1970-01-01' + CAST(floor({when} / {_DAY_NS}) AS INTEGER), '%Y-%m-%d')"
    partition = "symbol, date" if has_symbol else "date"

    def copy(source: str, filtered: str) -> str:
        select = f"SELECT {columns}, {day} AS date FROM {source}{filtered} ORDER BY {when}"
        return (
            f"COPY ({select}) TO '{_literal(folder)}' "
            f"(FORMAT PARQUET, PARTITION_BY ({partition}), FILENAME_PATTERN 'part-{{i}}')"
        )

    duck = _duckdb_side(store, table)
    if duck is not None:
        rows = _count(duck.query(copy(table, filter_sql), params))
    else:
        source = store.query(f"SELECT {columns} FROM {table}{filter_sql}", params)
        rows = _copy_arrow(source, copy("__ats_export", ""))
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.parquet") if p.is_file())
    return ExportResult(table, str(folder), rows, files)


def _literal(path: Path) -> str:
    return str(path).replace("'", "''")


def _count(result: pa.Table) -> int:
    if result.num_columns and result.num_rows:
        return int(result.column(0)[0].as_py())
    return 0


def _copy_arrow(rows: pa.Table, copy_sql: str) -> int:
    """Write Arrow rows (already filtered) with the COPY statement, through an in-memory DuckDB."""
    if rows.num_rows == 0:
        return 0
    con = duckdb.connect()
    try:
        con.register("__ats_export", rows)
        found = con.execute(copy_sql).fetchone()
    except duckdb.Error as exc:
        raise StoreError(f"parquet export failed: {exc}") from None
    finally:
        con.close()
    return int(found[0]) if found is not None else rows.num_rows
