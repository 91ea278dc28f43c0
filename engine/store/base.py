"""The store interface every backend implements (DuckDB, PostgreSQL).

A store holds the tables of :mod:`engine.store.schema`. Rows go in as Arrow
(``pa.Table`` or ``pa.RecordBatch`` with the table's columns, any order, by
name); the result of a query comes back as a ``pa.Table``. Writes are
idempotent on the table's key: ``mode="ignore"`` keeps the stored row,
``mode="upsert"`` replaces it, ``mode="append"`` skips the key check (only
for ``price_ticks``, whose key is not enforced; see the schema module).
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

import pyarrow as pa

__all__ = ["Store", "StoreError", "WriteMode"]

WriteMode = Literal["ignore", "upsert", "append"]


class StoreError(RuntimeError):
    """A store operation failed; the message names the table or statement and the cause."""


class Store(Protocol):
    """What the engine, the writer, the importers and the CLI use."""

    #: "duckdb" or "postgres".
    backend: str
    #: Where it lives: a file path or a PostgreSQL URL with the password removed.
    location: str

    def insert(
        self, table: str, rows: pa.Table | pa.RecordBatch, *, mode: WriteMode = "ignore"
    ) -> int:
        """Write ``rows`` into ``table`` in one transaction; return the rows inserted.

        With ``mode="ignore"`` rows whose key is already stored (or repeated
        within ``rows``, the first kept) are not inserted and not counted.
        """
        ...

    def insert_many(self, writes: list[tuple[str, pa.Table | pa.RecordBatch, WriteMode]]) -> int:
        """Several :meth:`insert` calls in one transaction (all or nothing)."""
        ...

    def query(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> pa.Table:
        """Run one statement and return its rows (empty table for statements without)."""
        ...

    def schema_version(self) -> int:
        """The highest applied migration."""
        ...

    def close(self) -> None:
        """Commit, checkpoint (DuckDB) and release the file or connection."""
        ...
