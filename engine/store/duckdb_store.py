"""The embedded store: one DuckDB file, rows ingested through DuckDB's Arrow scan.

An insert registers the prepared Arrow table with the connection and runs one
``INSERT INTO t (columns) SELECT columns FROM <arrow>`` (columns by name, so
the batch's column order does not matter):

- ``ignore``: ``INSERT OR IGNORE`` on tables with a primary key; for
  ``price_ticks`` (key not enforced, see :mod:`engine.store.schema`) an
  anti-join on ``(venue, symbol, trade_id)``, so importing a file twice
  inserts nothing the second time;
- ``upsert``: ``INSERT ... ON CONFLICT (key) DO UPDATE`` (``price_ticks``:
  delete the stored rows with the batch's keys, then insert);
- ``append``: a plain insert (``price_ticks`` only).

Rows repeating a key within a batch are reduced to one first (the first for
``ignore``, the last for ``upsert``; :func:`engine.store._rows.prepare`), and
the count returned is exact: rows whose key was not stored before. A text
column sent as a one-entry dictionary array (the tick writer's ``venue`` and
``symbol``) is inserted as a bound constant rather than read row by row.

One connection per store, guarded by a lock: the writer thread and one
caller thread may share a store. :meth:`DuckDBStore.close` checkpoints, so
the file is complete without its WAL.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from engine.store._rows import constant_value, prepare, table_spec
from engine.store.base import StoreError, WriteMode
from engine.store.migrations import applied_version, check_version, migrate

__all__ = ["DuckDBStore"]

_SOURCE = "__ats_rows"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class DuckDBStore:
    """A :class:`engine.store.base.Store` in one DuckDB file.

    Parameters
    ----------
    path : str or os.PathLike
        The database file; created (with its parent folders) when missing,
        unless ``read_only``. ``":memory:"`` opens an in-memory database.
    read_only : bool, default False
        Open a read-only connection: every write raises :class:`StoreError`,
        and the file must exist and be at the current schema version.
    migrate_to : int, optional
        Apply migrations only up to this version (tests build old files with
        it); the default is the code's ``SCHEMA_VERSION``.

    Raises
    ------
    StoreError
        The file cannot be opened (missing in read-only mode, not a DuckDB
        database, locked by another process) or is at a schema version newer
        than the code.

    Examples
    --------
    >>> store = DuckDBStore(":memory:")
    >>> store.schema_version()
    2
    >>> store.close()
    """

    backend = "duckdb"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        read_only: bool = False,
        migrate_to: int | None = None,
    ) -> None:
        self.location = str(path)
        self.read_only = read_only
        self._lock = threading.RLock()
        self._closed = False
        if self.location != ":memory:" and not read_only:
            try:
                Path(self.location).parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot create the folder of {self.location}: {e}") from None
        try:
            self._con = duckdb.connect(self.location, read_only=read_only)
        except duckdb.Error as e:
            raise StoreError(f"cannot open DuckDB store {self.location}: {e}") from None
        try:
            if read_only:
                check_version(applied_version(self._con, "duckdb"), self.location, read_only=True)
            else:
                kwargs = {} if migrate_to is None else {"target": migrate_to}
                migrate(self._con, "duckdb", location=self.location, **kwargs)
        except BaseException:
            self._con.close()
            raise

    # -- writes ---------------------------------------------------------------------------------

    def insert(
        self, table: str, rows: pa.Table | pa.RecordBatch, *, mode: WriteMode = "ignore"
    ) -> int:
        """Write ``rows`` into ``table`` in one transaction; return the rows inserted.

        See the module docstring for the modes; the count excludes rows whose
        key was already stored (for ``upsert`` they are replaced, not counted).

        Raises
        ------
        StoreError
            Bad rows (naming the table and column), a read-only store, or the
            database refused the write.
        """
        return self.insert_many([(table, rows, mode)])

    def insert_many(self, writes: list[tuple[str, pa.Table | pa.RecordBatch, WriteMode]]) -> int:
        """Several :meth:`insert` calls in one transaction (all or nothing); total inserted."""
        prepared = [(table, prepare(table, rows, mode), mode) for table, rows, mode in writes]
        if self.read_only:
            names = ", ".join(sorted({t for t, _, _ in writes}))
            raise StoreError(f"store {self.location} is read-only: cannot write {names}")
        with self._lock:
            self._check_open()
            con = self._con
            table = ""
            try:
                con.execute("BEGIN TRANSACTION")
                total = 0
                for table, data, mode in prepared:
                    if data.num_rows:
                        total += self._insert(table, data, mode)
                con.execute("COMMIT")
            except duckdb.Error as e:
                self._rollback()
                raise StoreError(f"insert into {table} failed ({self.location}): {e}") from None
            except BaseException:
                self._rollback()
                raise
            return total

    def _rollback(self) -> None:
        # no transaction may be open (it failed before BEGIN, or DuckDB already rolled back)
        with contextlib.suppress(duckdb.Error):
            self._con.execute("ROLLBACK")

    def _insert(self, table: str, data: pa.Table, mode: WriteMode) -> int:
        spec = table_spec(table)
        con = self._con
        params: dict[str, Any] = {}
        exprs = []
        for i, name in enumerate(spec.column_names):
            value = constant_value(data.column(name))
            if value is None:
                exprs.append(_q(name))
            else:
                params[f"c{i}"] = value
                exprs.append(f"$c{i}::VARCHAR AS {_q(name)}")
        cols = ", ".join(_q(c) for c in spec.column_names)
        source = f"(SELECT {', '.join(exprs)} FROM {_SOURCE}) AS s"
        key_match = " AND ".join(f"t.{_q(k)} = s.{_q(k)}" for k in spec.key)
        new_rows = f"NOT EXISTS (SELECT 1 FROM {table} AS t WHERE {key_match})"
        con.register(_SOURCE, data)
        try:
            if mode == "append":
                sql = f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {source}"
                return self._count(sql, params)
            if mode == "ignore":
                if spec.enforce_key:
                    sql = f"INSERT OR IGNORE INTO {table} ({cols}) SELECT {cols} FROM {source}"
                else:
                    sql = (
                        f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {source} WHERE {new_rows}"
                    )
                return self._count(sql, params)
            # upsert: count the new keys first (same transaction, one connection: exact)
            inserted = self._count(f"SELECT count(*) FROM {source} WHERE {new_rows}", params)
            if spec.enforce_key:
                keys = ", ".join(_q(k) for k in spec.key)
                others = [c for c in spec.column_names if c not in spec.key]
                action = (
                    "DO UPDATE SET " + ", ".join(f"{_q(c)} = EXCLUDED.{_q(c)}" for c in others)
                    if others
                    else "DO NOTHING"
                )
                con.execute(
                    f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {source} "
                    f"ON CONFLICT ({keys}) {action}",
                    params,
                )
            else:
                con.execute(
                    f"DELETE FROM {table} AS t USING {source} WHERE {key_match}",
                    params,
                )
                con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {source}", params)
            return inserted
        finally:
            con.unregister(_SOURCE)

    def _count(self, sql: str, params: dict[str, Any]) -> int:
        rows = self._con.execute(sql, params or None).fetchall()
        return int(rows[0][0]) if rows else 0

    # -- reads ----------------------------------------------------------------------------------

    def query(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> pa.Table:
        """Run one statement (``?`` or ``$1`` placeholders) and return its rows.

        Raises
        ------
        StoreError
            The statement failed (naming its start and the cause), including
            any write on a read-only store.
        """
        with self._lock:
            self._check_open()
            try:
                rel = self._con.sql(sql, params=list(params) if params else None)
                return pa.table({}) if rel is None else rel.to_arrow_table()
            except duckdb.Error as e:
                raise StoreError(f"query failed ({self.location}): {_head(sql)}: {e}") from None

    def schema_version(self) -> int:
        """The highest applied migration."""
        with self._lock:
            self._check_open()
            return applied_version(self._con, "duckdb")

    def limit_threads(self, threads: int) -> None:
        """Run DuckDB's work on at most ``threads`` threads (``SET threads``).

        The store writer uses it to leave the engine's thread a core of its own
        while a flush runs (see :class:`engine.store.writer.StoreWriter`).
        """
        if threads < 1:
            raise ValueError(f"threads must be >= 1, was {threads}")
        with self._lock:
            self._check_open()
            self._con.execute(f"SET threads = {int(threads)}")

    def close(self) -> None:
        """Checkpoint (unless read-only) and close the file; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if not self.read_only:
                    self._con.execute("CHECKPOINT")
            finally:
                self._con.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"store {self.location} is closed")

    def __enter__(self) -> DuckDBStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DuckDBStore({self.location!r}, read_only={self.read_only})"


def _head(sql: str, limit: int = 80) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
