"""The shared store: the durable records in PostgreSQL (psycopg 3), ticks routed to DuckDB.

:class:`PostgresStore` implements :class:`engine.store.base.Store` with the
same validation, modes, counts and messages as the DuckDB store (both run
:func:`engine.store._rows.prepare`). An insert writes the prepared Arrow rows
as CSV (``pyarrow.csv``, no Python per row) with ``COPY ... FROM STDIN`` into
a session-private staging table, then moves them with one ``INSERT ...
SELECT``:

- ``ignore``: ``ON CONFLICT (key) DO NOTHING`` (``price_ticks``: an anti-join
  on its natural key);
- ``upsert``: ``ON CONFLICT (key) DO UPDATE``; the rows inserted (not the ones
  replaced) are counted with ``RETURNING (xmax = 0)``;
- ``append``: a plain insert (``price_ticks`` only).

Queries take DuckDB's ``?`` placeholders (translated to ``$1, $2, ...``
outside string literals, quoted names and comments) or ``$n`` directly, so
one SQL text runs on both backends; results come back as ``pa.Table``.

:class:`RoutedStore` is what ``open_store("postgresql://...")`` returns: the
durable tables (``Table.durable``) in PostgreSQL, ``prices`` and
``price_ticks`` in a DuckDB file, as the issue asks (ticks stay in
DuckDB/Parquet). The URL's password never appears in ``location``, messages
or logs.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pyarrow.csv as pacsv

from engine.store._rows import prepare, redact, table_spec
from engine.store.base import StoreError, WriteMode
from engine.store.migrations import applied_version, check_version, migrate
from engine.store.schema import TABLES

__all__ = ["PostgresStore", "RoutedStore", "open_routed", "translate_placeholders"]

_CSV_OPTIONS = pacsv.WriteOptions(include_header=False)
_TICK_TABLES = frozenset(name for name, t in TABLES.items() if not t.durable)
_TABLE_NAMES = "|".join(sorted(TABLES, key=len, reverse=True))
_TABLE_WORD = re.compile(r"\b(" + _TABLE_NAMES + r")\b")
# a table where a statement reads or writes one: after FROM / JOIN / INTO / UPDATE / TABLE
# (``prices`` has a column ``trades``: a bare word is not a table; write joins with JOIN)
_TABLE_REF = re.compile(
    r"\b(?:from|join|into|update|table)\s+(?:\w+\.)?\"?(" + _TABLE_NAMES + r")\b\"?",
    re.IGNORECASE,
)

# PostgreSQL type oid -> (Arrow type, value conversion or None)
_OID_TYPES: dict[int, tuple[pa.DataType, Callable[[Any], Any] | None]] = {
    16: (pa.bool_(), None),
    20: (pa.int64(), None),
    21: (pa.int16(), None),
    23: (pa.int32(), None),
    26: (pa.int64(), None),
    19: (pa.string(), None),
    25: (pa.string(), None),
    1042: (pa.string(), None),
    1043: (pa.string(), None),
    700: (pa.float32(), None),
    701: (pa.float64(), None),
    # numeric (e.g. sum() of a BIGINT column) as float64, like DuckDB's HUGEINT/DOUBLE sums
    1700: (pa.float64(), lambda v: None if v is None else float(v)),
}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _password(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.password:
        return parts.password
    values = parse_qs(parts.query).get("password")
    return values[0] if values else None


_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|\?", re.DOTALL)


def translate_placeholders(sql: str) -> str:
    """Replace each ``?`` placeholder by ``$1``, ``$2``, ... (not inside literals or comments).

    Examples
    --------
    >>> translate_placeholders("SELECT '?' AS q, x FROM t WHERE a = ? AND b = ?")
    "SELECT '?' AS q, x FROM t WHERE a = $1 AND b = $2"
    """
    n = 0

    def sub(m: re.Match[str]) -> str:
        nonlocal n
        if m.group(0) != "?":
            return m.group(0)
        n += 1
        return f"${n}"

    return _TOKENS.sub(sub, sql)


class PostgresStore:
    """A :class:`engine.store.base.Store` in a PostgreSQL database.

    Parameters
    ----------
    url : str
        ``postgresql://user[:password]@host[:port]/database[?...]`` (libpq's
        URL form; ``PGPASSWORD`` and ``~/.pgpass`` work too).
    read_only : bool, default False
        Every transaction is read-only (``default_transaction_read_only``);
        writes raise :class:`StoreError`.
    connect_timeout_s : float, default 5
        Give up connecting after this long.
    migrate_to : int, optional
        Apply migrations only up to this version (tests); default the code's.

    Raises
    ------
    StoreError
        Unreachable server, failed authentication, a database at a newer
        schema version than the code; the message names the URL without its
        password.
    """

    backend = "postgres"

    def __init__(
        self,
        url: str,
        *,
        read_only: bool = False,
        connect_timeout_s: float = 5.0,
        migrate_to: int | None = None,
    ) -> None:
        secret = _password(url)
        self._secrets = (secret,) if secret else ()
        self.location = redact(url, self._secrets)
        self.read_only = read_only
        self._url = url
        self._timeout = max(1, round(connect_timeout_s))
        self._lock = threading.RLock()
        self._closed = False
        self._staged: set[str] = set()
        self._conn = self._connect()
        try:
            if read_only:
                check_version(
                    applied_version(self._conn, "postgres"), self.location, read_only=True
                )
            else:
                kwargs = {} if migrate_to is None else {"target": migrate_to}
                migrate(self._conn, "postgres", location=self.location, **kwargs)
        except BaseException as e:
            self._conn.close()
            if isinstance(e, StoreError) or not self._is_pg_error(e):
                raise
            what = f"cannot open PostgreSQL store {self.location}"
            raise StoreError(self._message(what, e)) from None
        if read_only:
            self._conn.execute("SET default_transaction_read_only = on")

    # -- connection -----------------------------------------------------------------------------

    @staticmethod
    def _is_pg_error(e: BaseException) -> bool:
        import psycopg

        return isinstance(e, psycopg.Error)

    def _message(self, what: str, e: BaseException) -> str:
        return redact(f"{what}: {e}".rstrip(), self._secrets)

    def _connect(self) -> Any:
        import psycopg

        try:
            conn = psycopg.connect(
                self._url,
                autocommit=True,
                connect_timeout=self._timeout,
                application_name="ats",
                cursor_factory=psycopg.RawCursor,
            )
        except psycopg.Error as e:
            raise StoreError(
                self._message(f"cannot connect to PostgreSQL store {self.location}", e)
            ) from None
        self._staged = set()
        return conn

    def _connection(self) -> Any:
        if self._closed:
            raise StoreError(f"store {self.location} is closed")
        if self._conn.closed or self._conn.broken:
            # the server restarted or the network dropped: a writer retrying must get through
            self._conn = self._connect()
            if self.read_only:
                self._conn.execute("SET default_transaction_read_only = on")
        return self._conn

    # -- writes ---------------------------------------------------------------------------------

    def insert(
        self, table: str, rows: pa.Table | pa.RecordBatch, *, mode: WriteMode = "ignore"
    ) -> int:
        """Write ``rows`` into ``table`` in one transaction; return the rows inserted.

        Raises
        ------
        StoreError
            Bad rows (naming the table and column), a read-only store, or the
            database refused the write.
        """
        return self.insert_many([(table, rows, mode)])

    def insert_many(self, writes: list[tuple[str, pa.Table | pa.RecordBatch, WriteMode]]) -> int:
        """Several :meth:`insert` calls in one transaction (all or nothing); total inserted."""
        import psycopg

        prepared = [
            (table, prepare(table, rows, mode, keep_dictionary=False), mode)
            for table, rows, mode in writes
        ]
        if self.read_only:
            names = ", ".join(sorted({t for t, _, _ in writes}))
            raise StoreError(f"store {self.location} is read-only: cannot write {names}")
        with self._lock:
            conn = self._connection()
            table = ""
            try:
                total = 0
                with conn.transaction():
                    for table, data, mode in prepared:
                        if data.num_rows:
                            total += self._insert(conn, table, data, mode)
                return total
            except psycopg.Error as e:
                raise StoreError(
                    self._message(f"insert into {table} failed ({self.location})", e)
                ) from None

    def _stage(self, conn: Any, table: str) -> str:
        stage = f"_ats_stage_{table}"
        if table not in self._staged:
            conn.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table}) ON COMMIT DELETE ROWS"
            )
            self._staged.add(table)
        else:
            conn.execute(f"TRUNCATE {stage}")
        return stage

    def _insert(self, conn: Any, table: str, data: pa.Table, mode: WriteMode) -> int:
        spec = table_spec(table)
        stage = self._stage(conn, table)
        cols = ", ".join(_q(c) for c in spec.column_names)
        buffer = io.BytesIO()
        pacsv.write_csv(data, buffer, _CSV_OPTIONS)
        with conn.cursor() as cur:
            with cur.copy(f"COPY {stage} ({cols}) FROM STDIN (FORMAT csv)") as copy:
                copy.write(buffer.getbuffer())
            source = f"{stage} AS s"
            key_match = " AND ".join(f"t.{_q(k)} = s.{_q(k)}" for k in spec.key)
            new_rows = f"NOT EXISTS (SELECT 1 FROM {table} AS t WHERE {key_match})"
            keys = ", ".join(_q(k) for k in spec.key)
            if mode == "append":
                cur.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {source}")
                return int(cur.rowcount)
            if mode == "ignore":
                if spec.enforce_key:
                    cur.execute(
                        f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {source} "
                        f"ON CONFLICT ({keys}) DO NOTHING"
                    )
                else:
                    cur.execute(
                        f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {source} WHERE {new_rows}"
                    )
                return int(cur.rowcount)
            if not spec.enforce_key:
                cur.execute(f"SELECT count(*) FROM {source} WHERE {new_rows}")
                inserted = int(cur.fetchall()[0][0])
                cur.execute(f"DELETE FROM {table} AS t USING {source} WHERE {key_match}")
                cur.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {source}")
                return inserted
            others = [c for c in spec.column_names if c not in spec.key]
            action = (
                "DO UPDATE SET " + ", ".join(f"{_q(c)} = EXCLUDED.{_q(c)}" for c in others)
                if others
                else "DO NOTHING"
            )
            cur.execute(
                f"WITH w AS (INSERT INTO {table} ({cols}) SELECT {cols} FROM {source} "
                f"ON CONFLICT ({keys}) {action} RETURNING (xmax = 0) AS new) "
                f"SELECT count(*) FILTER (WHERE new) FROM w"
            )
            return int(cur.fetchall()[0][0])

    # -- reads ----------------------------------------------------------------------------------

    def query(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> pa.Table:
        """Run one statement (``?`` or ``$1`` placeholders) and return its rows.

        Column types follow the PostgreSQL types (``SMALLINT`` as int16,
        ``NUMERIC`` as float64, others inferred by Arrow).

        Raises
        ------
        StoreError
            The statement failed (naming its start and the cause).
        """
        import psycopg

        with self._lock:
            conn = self._connection()
            try:
                with conn.cursor() as cur:
                    cur.execute(translate_placeholders(sql), list(params) if params else None)
                    if cur.description is None:
                        return pa.table({})
                    rows = cur.fetchall()
                    description = list(cur.description)
            except psycopg.Error as e:
                raise StoreError(
                    self._message(f"query failed ({self.location}): {_head(sql)}", e)
                ) from None
        return _to_arrow(description, rows)

    def schema_version(self) -> int:
        """The highest applied migration."""
        with self._lock:
            return applied_version(self._connection(), "postgres")

    def close(self) -> None:
        """Close the connection; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._conn.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PostgresStore({self.location!r}, read_only={self.read_only})"


def _to_arrow(description: list[Any], rows: list[tuple[Any, ...]]) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in description]
    arrays = []
    for col, values in zip(description, columns, strict=True):
        arrow_type, convert = _OID_TYPES.get(col.type_code, (None, None))
        data = list(values)
        if convert is not None:
            data = [convert(v) for v in data]
        if arrow_type is not None:
            arrays.append(pa.array(data, type=arrow_type))
            continue
        try:
            arrays.append(pa.array(data) if data else pa.array([], pa.string()))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays.append(pa.array([None if v is None else str(v) for v in data], pa.string()))
    names = [col.name for col in description]
    return pa.Table.from_arrays(arrays, names=names)


def _head(sql: str, limit: int = 80) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class RoutedStore:
    """PostgreSQL for the durable tables, DuckDB for ``prices`` and ``price_ticks``.

    ``insert`` and ``insert_many`` route each table to its backend. A batch
    spanning both backends commits on PostgreSQL first, then on DuckDB: two
    transactions, not one (the writer never mixes them: ticks and durable
    records are separate batches). ``query`` runs on DuckDB when the
    statement names only ``prices``/``price_ticks``, else on PostgreSQL; a
    statement naming tables of both is refused (join them after exporting
    ticks to Parquet, or query each side).

    Attributes
    ----------
    durable : PostgresStore
        The PostgreSQL side.
    ticks : DuckDBStore
        The DuckDB side.
    """

    backend = "postgres"

    def __init__(self, durable: PostgresStore, ticks: Any) -> None:
        self.durable = durable
        self.ticks = ticks
        self.location = durable.location
        self.ticks_location: str = ticks.location

    def _side(self, table: str) -> Any:
        return self.ticks if table in _TICK_TABLES else self.durable

    def insert(
        self, table: str, rows: pa.Table | pa.RecordBatch, *, mode: WriteMode = "ignore"
    ) -> int:
        """Write ``rows`` into ``table`` on its backend; return the rows inserted."""
        table_spec(table)
        return int(self._side(table).insert(table, rows, mode=mode))

    def insert_many(self, writes: list[tuple[str, pa.Table | pa.RecordBatch, WriteMode]]) -> int:
        """Route each write; one transaction per backend (PostgreSQL first)."""
        for table, _, _ in writes:
            table_spec(table)
        pg = [w for w in writes if w[0] not in _TICK_TABLES]
        duck = [w for w in writes if w[0] in _TICK_TABLES]
        total = 0
        if pg:
            total += self.durable.insert_many(pg)
        if duck:
            total += int(self.ticks.insert_many(duck))
        return total

    def query(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> pa.Table:
        """Run ``sql`` on the backend holding the tables it names (see the class docstring)."""
        text = _TOKENS.sub(_strip_literal, sql)
        names = {n.lower() for n in _TABLE_REF.findall(text)} or set(_TABLE_WORD.findall(text))
        ticks = names & _TICK_TABLES
        if ticks and names - _TICK_TABLES:
            raise StoreError(
                f"query names {', '.join(sorted(ticks))} (DuckDB {self.ticks_location}) and "
                f"{', '.join(sorted(names - _TICK_TABLES))} (PostgreSQL {self.location}); "
                f"query each side separately"
            )
        side = self.ticks if ticks else self.durable
        result: pa.Table = side.query(sql, params)
        return result

    def limit_threads(self, threads: int) -> None:
        """Limit the DuckDB side's worker threads (see ``DuckDBStore.limit_threads``)."""
        self.ticks.limit_threads(threads)

    def schema_version(self) -> int:
        """The lower of both sides' versions (both are migrated on open)."""
        return min(self.durable.schema_version(), int(self.ticks.schema_version()))

    def close(self) -> None:
        """Close both sides; safe to call twice."""
        try:
            self.ticks.close()
        finally:
            self.durable.close()

    def __enter__(self) -> RoutedStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RoutedStore({self.location!r}, ticks={self.ticks_location!r})"


def _strip_literal(m: re.Match[str]) -> str:
    token = m.group(0)
    return "" if token.startswith(("'", "--", "/*")) else token


def open_routed(
    url: str, *, read_only: bool = False, ticks_path: Any = "data/ats.duckdb"
) -> RoutedStore:
    """Open the PostgreSQL store at ``url`` and the DuckDB file ``ticks_path`` beside it."""
    from engine.store.duckdb_store import DuckDBStore

    durable = PostgresStore(url, read_only=read_only)
    try:
        ticks = DuckDBStore(ticks_path, read_only=read_only)
    except BaseException:
        durable.close()
        raise
    return RoutedStore(durable, ticks)
