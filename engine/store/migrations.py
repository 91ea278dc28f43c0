"""Versioned schema migrations for both backends, recorded in ``schema_version``.

Each migration is a version number, a description and its statements per
dialect ("duckdb", "postgres"). :func:`migrate` applies the pending ones in
order, each in its own transaction together with its ``schema_version`` row
(``version INTEGER PRIMARY KEY, applied_ts BIGINT NOT NULL, description TEXT
NOT NULL``), so a file or database is always at exactly one version. The SQL
is frozen text, never generated from :mod:`engine.store.schema`: a
migration describes what that version of the code created, and a test checks
that applying all of them yields exactly the tables of the schema module.
Changing a table means appending a migration and raising
``schema.SCHEMA_VERSION``.

A store newer than the code (a higher version than :data:`MIGRATIONS`
knows) is refused with :class:`StoreError`. On PostgreSQL, where several
engines may open one database at once, the check and the migrations run
under a session advisory lock (:data:`ADVISORY_LOCK_KEY`), so exactly one
opener migrates and the others find the work done.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from engine.store.base import StoreError
from engine.store.schema import SCHEMA_VERSION

__all__ = [
    "ADVISORY_LOCK_KEY",
    "MIGRATIONS",
    "Migration",
    "applied_version",
    "check_version",
    "migrate",
]

#: ``pg_advisory_lock`` key that serialises migrations of one database ("ats-mig" in ASCII).
ADVISORY_LOCK_KEY = 0x6174732D6D6967


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema version: what it does and its statements per dialect."""

    version: int
    description: str
    duckdb: tuple[str, ...]
    postgres: tuple[str, ...]

    def statements(self, dialect: str) -> tuple[str, ...]:
        """The statements for ``dialect`` ("duckdb" or "postgres")."""
        if dialect == "duckdb":
            return self.duckdb
        if dialect == "postgres":
            return self.postgres
        raise ValueError(f"dialect must be 'duckdb' or 'postgres', was {dialect!r}")


class _Connection(Protocol):
    def execute(self, query: Any, params: Any = ..., /) -> Any: ...


_SCHEMA_VERSION_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_version (\n"
    "    version INTEGER PRIMARY KEY,\n"
    "    applied_ts BIGINT NOT NULL,\n"
    "    description TEXT NOT NULL\n"
    ")"
)

# -- version 1: the initial layout (frozen) -----------------------------------------------------

_V1_DUCKDB = (
    """\
CREATE TABLE prices (
    "venue" VARCHAR NOT NULL,
    "symbol" VARCHAR NOT NULL,
    "interval" VARCHAR NOT NULL,
    "ts" BIGINT NOT NULL,
    "open" DOUBLE NOT NULL,
    "high" DOUBLE NOT NULL,
    "low" DOUBLE NOT NULL,
    "close" DOUBLE NOT NULL,
    "volume" DOUBLE NOT NULL,
    "trades" BIGINT,
    PRIMARY KEY ("venue", "symbol", "interval", "ts")
)
""",
    """\
CREATE TABLE price_ticks (
    "venue" VARCHAR NOT NULL,
    "symbol" VARCHAR NOT NULL,
    "ts_event" BIGINT NOT NULL,
    "ts_recv" BIGINT NOT NULL,
    "price" DOUBLE NOT NULL,
    "quantity" DOUBLE NOT NULL,
    "trade_id" BIGINT NOT NULL,
    "side" TINYINT NOT NULL
)
""",
    """\
CREATE TABLE orders (
    "client_order_id" VARCHAR NOT NULL,
    "engine_id" VARCHAR NOT NULL,
    "venue" VARCHAR NOT NULL,
    "symbol" VARCHAR NOT NULL,
    "side" VARCHAR NOT NULL,
    "order_type" VARCHAR NOT NULL,
    "time_in_force" VARCHAR NOT NULL,
    "quantity" DOUBLE NOT NULL,
    "price" DOUBLE,
    "stop_price" DOUBLE,
    "status" VARCHAR NOT NULL,
    "filled_quantity" DOUBLE NOT NULL,
    "average_price" DOUBLE,
    "strategy" VARCHAR NOT NULL,
    "reduce_only" BOOLEAN NOT NULL,
    "reason" VARCHAR,
    "created_ts" BIGINT NOT NULL,
    "updated_ts" BIGINT NOT NULL,
    PRIMARY KEY ("client_order_id")
)
""",
    """\
CREATE TABLE trades (
    "client_order_id" VARCHAR NOT NULL,
    "trade_id" VARCHAR NOT NULL,
    "engine_id" VARCHAR NOT NULL,
    "venue" VARCHAR NOT NULL,
    "symbol" VARCHAR NOT NULL,
    "side" VARCHAR NOT NULL,
    "quantity" DOUBLE NOT NULL,
    "price" DOUBLE NOT NULL,
    "fee" DOUBLE NOT NULL,
    "fee_currency" VARCHAR NOT NULL,
    "liquidity" VARCHAR NOT NULL,
    "ts" BIGINT NOT NULL,
    PRIMARY KEY ("client_order_id", "trade_id")
)
""",
    """\
CREATE TABLE positions (
    "engine_id" VARCHAR NOT NULL,
    "symbol" VARCHAR NOT NULL,
    "quantity" DOUBLE NOT NULL,
    "average_price" DOUBLE NOT NULL,
    "realized_pnl" DOUBLE NOT NULL,
    "updated_ts" BIGINT NOT NULL,
    PRIMARY KEY ("engine_id", "symbol")
)
""",
    """\
CREATE TABLE signals (
    "run_id" VARCHAR NOT NULL,
    "signal_id" BIGINT NOT NULL,
    "engine_id" VARCHAR NOT NULL,
    "ts" BIGINT NOT NULL,
    "symbol" VARCHAR NOT NULL,
    "side" VARCHAR NOT NULL,
    "confidence" DOUBLE NOT NULL,
    "price" DOUBLE NOT NULL,
    "quantity" DOUBLE NOT NULL,
    "strategy" VARCHAR NOT NULL,
    "status" VARCHAR NOT NULL,
    "client_order_id" VARCHAR,
    "reason" VARCHAR,
    PRIMARY KEY ("run_id", "signal_id")
)
""",
    """\
CREATE TABLE portfolio_snapshots (
    "engine_id" VARCHAR NOT NULL,
    "ts" BIGINT NOT NULL,
    "cash" DOUBLE NOT NULL,
    "equity" DOUBLE NOT NULL,
    "gross_exposure" DOUBLE NOT NULL,
    "realized_pnl" DOUBLE NOT NULL,
    "unrealized_pnl" DOUBLE NOT NULL,
    "fees" DOUBLE NOT NULL,
    "max_drawdown" DOUBLE NOT NULL,
    "trading_state" VARCHAR NOT NULL,
    PRIMARY KEY ("engine_id", "ts")
)
""",
    """\
CREATE TABLE news (
    "id" VARCHAR NOT NULL,
    "ts" BIGINT NOT NULL,
    "source" VARCHAR NOT NULL,
    "headline" VARCHAR NOT NULL,
    "body" VARCHAR,
    "symbols" VARCHAR,
    "sentiment" DOUBLE,
    "url" VARCHAR,
    PRIMARY KEY ("id")
)
""",
    """\
CREATE TABLE macro_events (
    "id" VARCHAR NOT NULL,
    "ts" BIGINT NOT NULL,
    "country" VARCHAR NOT NULL,
    "event" VARCHAR NOT NULL,
    "actual" DOUBLE,
    "forecast" DOUBLE,
    "previous" DOUBLE,
    "unit" VARCHAR,
    "importance" TINYINT,
    "source" VARCHAR,
    PRIMARY KEY ("id")
)
""",
    """\
CREATE TABLE energy_records (
    "series_id" VARCHAR NOT NULL,
    "ts" BIGINT NOT NULL,
    "value" DOUBLE NOT NULL,
    "unit" VARCHAR,
    "region" VARCHAR,
    "commodity" VARCHAR,
    "source" VARCHAR,
    PRIMARY KEY ("series_id", "ts")
)
""",
)

_V1_POSTGRES = (
    """\
CREATE TABLE prices (
    "venue" TEXT NOT NULL,
    "symbol" TEXT NOT NULL,
    "interval" TEXT NOT NULL,
    "ts" BIGINT NOT NULL,
    "open" DOUBLE PRECISION NOT NULL,
    "high" DOUBLE PRECISION NOT NULL,
    "low" DOUBLE PRECISION NOT NULL,
    "close" DOUBLE PRECISION NOT NULL,
    "volume" DOUBLE PRECISION NOT NULL,
    "trades" BIGINT,
    PRIMARY KEY ("venue", "symbol", "interval", "ts")
)
""",
    """\
CREATE TABLE price_ticks (
    "venue" TEXT NOT NULL,
    "symbol" TEXT NOT NULL,
    "ts_event" BIGINT NOT NULL,
    "ts_recv" BIGINT NOT NULL,
    "price" DOUBLE PRECISION NOT NULL,
    "quantity" DOUBLE PRECISION NOT NULL,
    "trade_id" BIGINT NOT NULL,
    "side" SMALLINT NOT NULL
)
""",
    """\
CREATE TABLE orders (
    "client_order_id" TEXT NOT NULL,
    "engine_id" TEXT NOT NULL,
    "venue" TEXT NOT NULL,
    "symbol" TEXT NOT NULL,
    "side" TEXT NOT NULL,
    "order_type" TEXT NOT NULL,
    "time_in_force" TEXT NOT NULL,
    "quantity" DOUBLE PRECISION NOT NULL,
    "price" DOUBLE PRECISION,
    "stop_price" DOUBLE PRECISION,
    "status" TEXT NOT NULL,
    "filled_quantity" DOUBLE PRECISION NOT NULL,
    "average_price" DOUBLE PRECISION,
    "strategy" TEXT NOT NULL,
    "reduce_only" BOOLEAN NOT NULL,
    "reason" TEXT,
    "created_ts" BIGINT NOT NULL,
    "updated_ts" BIGINT NOT NULL,
    PRIMARY KEY ("client_order_id")
)
""",
    """\
CREATE TABLE trades (
    "client_order_id" TEXT NOT NULL,
    "trade_id" TEXT NOT NULL,
    "engine_id" TEXT NOT NULL,
    "venue" TEXT NOT NULL,
    "symbol" TEXT NOT NULL,
    "side" TEXT NOT NULL,
    "quantity" DOUBLE PRECISION NOT NULL,
    "price" DOUBLE PRECISION NOT NULL,
    "fee" DOUBLE PRECISION NOT NULL,
    "fee_currency" TEXT NOT NULL,
    "liquidity" TEXT NOT NULL,
    "ts" BIGINT NOT NULL,
    PRIMARY KEY ("client_order_id", "trade_id")
)
""",
    """\
CREATE TABLE positions (
    "engine_id" TEXT NOT NULL,
    "symbol" TEXT NOT NULL,
    "quantity" DOUBLE PRECISION NOT NULL,
    "average_price" DOUBLE PRECISION NOT NULL,
    "realized_pnl" DOUBLE PRECISION NOT NULL,
    "updated_ts" BIGINT NOT NULL,
    PRIMARY KEY ("engine_id", "symbol")
)
""",
    """\
CREATE TABLE signals (
    "run_id" TEXT NOT NULL,
    "signal_id" BIGINT NOT NULL,
    "engine_id" TEXT NOT NULL,
    "ts" BIGINT NOT NULL,
    "symbol" TEXT NOT NULL,
    "side" TEXT NOT NULL,
    "confidence" DOUBLE PRECISION NOT NULL,
    "price" DOUBLE PRECISION NOT NULL,
    "quantity" DOUBLE PRECISION NOT NULL,
    "strategy" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "client_order_id" TEXT,
    "reason" TEXT,
    PRIMARY KEY ("run_id", "signal_id")
)
""",
    """\
CREATE TABLE portfolio_snapshots (
    "engine_id" TEXT NOT NULL,
    "ts" BIGINT NOT NULL,
    "cash" DOUBLE PRECISION NOT NULL,
    "equity" DOUBLE PRECISION NOT NULL,
    "gross_exposure" DOUBLE PRECISION NOT NULL,
    "realized_pnl" DOUBLE PRECISION NOT NULL,
    "unrealized_pnl" DOUBLE PRECISION NOT NULL,
    "fees" DOUBLE PRECISION NOT NULL,
    "max_drawdown" DOUBLE PRECISION NOT NULL,
    "trading_state" TEXT NOT NULL,
    PRIMARY KEY ("engine_id", "ts")
)
""",
    """\
CREATE TABLE news (
    "id" TEXT NOT NULL,
    "ts" BIGINT NOT NULL,
    "source" TEXT NOT NULL,
    "headline" TEXT NOT NULL,
    "body" TEXT,
    "symbols" TEXT,
    "sentiment" DOUBLE PRECISION,
    "url" TEXT,
    PRIMARY KEY ("id")
)
""",
    """\
CREATE TABLE macro_events (
    "id" TEXT NOT NULL,
    "ts" BIGINT NOT NULL,
    "country" TEXT NOT NULL,
    "event" TEXT NOT NULL,
    "actual" DOUBLE PRECISION,
    "forecast" DOUBLE PRECISION,
    "previous" DOUBLE PRECISION,
    "unit" TEXT,
    "importance" SMALLINT,
    "source" TEXT,
    PRIMARY KEY ("id")
)
""",
    """\
CREATE TABLE energy_records (
    "series_id" TEXT NOT NULL,
    "ts" BIGINT NOT NULL,
    "value" DOUBLE PRECISION NOT NULL,
    "unit" TEXT,
    "region" TEXT,
    "commodity" TEXT,
    "source" TEXT,
    PRIMARY KEY ("series_id", "ts")
)
""",
)

# -- version 2: engine_state, orders.venue_order_id (frozen) ------------------------------------

_V2_DUCKDB = (
    """\
CREATE TABLE engine_state (
    "engine_id" VARCHAR NOT NULL,
    "key" VARCHAR NOT NULL,
    "value" VARCHAR NOT NULL,
    "updated_ts" BIGINT NOT NULL,
    PRIMARY KEY ("engine_id", "key")
)
""",
    'ALTER TABLE orders ADD COLUMN "venue_order_id" VARCHAR',
)

_V2_POSTGRES = (
    """\
CREATE TABLE engine_state (
    "engine_id" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "value" TEXT NOT NULL,
    "updated_ts" BIGINT NOT NULL,
    PRIMARY KEY ("engine_id", "key")
)
""",
    'ALTER TABLE orders ADD COLUMN "venue_order_id" TEXT',
)

#: Every migration, in version order (versions 1, 2, ... without gaps).
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial tables", _V1_DUCKDB, _V1_POSTGRES),
    Migration(
        2,
        "engine_state table (restart state); orders.venue_order_id",
        _V2_DUCKDB,
        _V2_POSTGRES,
    ),
)

assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
assert MIGRATIONS[-1].version == SCHEMA_VERSION, "append a migration when raising SCHEMA_VERSION"


def applied_version(conn: _Connection, dialect: str) -> int:
    """The highest version recorded in ``schema_version`` (0 when the table is absent)."""
    exists = conn.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_name = 'schema_version' AND table_schema = current_schema()"
    ).fetchall()[0][0]
    if not exists:
        return 0
    (version,) = conn.execute("SELECT max(version) FROM schema_version").fetchall()[0]
    return 0 if version is None else int(version)


def check_version(version: int, location: str, *, read_only: bool = False) -> None:
    """Refuse a store newer than this code, or (read-only) one that needs migrating.

    Raises
    ------
    StoreError
        Naming ``location``, the store's version and the code's.
    """
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"store {location} is at schema version {version}, newer than this code's "
            f"{SCHEMA_VERSION}: upgrade ats to open it"
        )
    if read_only and version < SCHEMA_VERSION:
        raise StoreError(
            f"store {location} is at schema version {version} and this code needs "
            f"{SCHEMA_VERSION}: open it once read-write (e.g. any `ats` command without a "
            f"read-only connection) to upgrade it"
        )


def migrate(
    conn: _Connection,
    dialect: str,
    *,
    location: str,
    target: int = SCHEMA_VERSION,
) -> list[int]:
    """Apply the pending migrations up to ``target``; return the versions applied.

    ``conn`` is a DuckDB connection or a psycopg connection in autocommit
    mode. Each migration runs in one transaction with its ``schema_version``
    row; on PostgreSQL the whole check-and-apply holds the advisory lock.

    Raises
    ------
    StoreError
        The store is newer than the code, or a migration failed (it is rolled
        back, the store stays at the previous version).
    """
    if dialect == "postgres":
        conn.execute(f"SELECT pg_advisory_lock({ADVISORY_LOCK_KEY})")
    try:
        return _migrate(conn, dialect, location=location, target=target)
    finally:
        if dialect == "postgres":
            conn.execute(f"SELECT pg_advisory_unlock({ADVISORY_LOCK_KEY})")


def _migrate(conn: _Connection, dialect: str, *, location: str, target: int) -> list[int]:
    current = applied_version(conn, dialect)
    check_version(current, location)
    if current == 0:
        conn.execute(_SCHEMA_VERSION_DDL)
    done = []
    for m in MIGRATIONS:
        if m.version <= current or m.version > target:
            continue
        conn.execute("BEGIN")
        try:
            for statement in m.statements(dialect):
                conn.execute(statement)
            # $n placeholders: DuckDB and psycopg's RawCursor (the PostgreSQL store's) take them
            conn.execute(
                "INSERT INTO schema_version (version, applied_ts, description) VALUES ($1, $2, $3)",
                (m.version, time.time_ns(), m.description),
            )
            conn.execute("COMMIT")
        except Exception as e:
            conn.execute("ROLLBACK")
            raise StoreError(
                f"migration {m.version} ({m.description}) of {location} failed: {e}"
            ) from e
        done.append(m.version)
    return done
