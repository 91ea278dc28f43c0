"""Store fixtures: one PostgreSQL server per session, a fresh database or file per test.

The server comes from :mod:`tests.pgserver`; without PostgreSQL's binaries
the tests that need it fail with the install hint (they never skip).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.store.base import Store
from engine.store.duckdb_store import DuckDBStore
from engine.store.postgres_store import PostgresStore
from tests.pgserver import PostgresServer

_names = itertools.count()

BACKENDS = ["duckdb", "postgres"]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL server on 127.0.0.1 for the whole session."""
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    """URL of a new, empty database (dropped after the test)."""
    name = f"t{next(_names)}"
    url = pg_server.create_database(name)
    yield url
    pg_server.drop_database(name)


@pytest.fixture
def duckdb_path(tmp_path: Path) -> Path:
    """Path of a DuckDB file that does not exist yet (in a folder that does not either)."""
    return tmp_path / "db" / "ats.duckdb"


def open_backend(backend: str, request: pytest.FixtureRequest, **kwargs: object) -> Store:
    """A fresh store of ``backend`` (kwargs go to the store's constructor)."""
    if backend == "duckdb":
        return DuckDBStore(request.getfixturevalue("duckdb_path"), **kwargs)  # type: ignore[arg-type]
    return PostgresStore(request.getfixturevalue("pg_url"), **kwargs)  # type: ignore[arg-type]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """A fresh, migrated store on each backend."""
    s = open_backend(request.param, request)
    try:
        yield s
    finally:
        s.close()
