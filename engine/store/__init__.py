"""Persistence: the store interface, its DuckDB and PostgreSQL backends, and the writer.

:func:`open_store` is the one way in::

    store = open_store("data/ats.duckdb")                 # DuckDB file (the default)
    store = open_store("postgresql://ats@db/ats")         # durable records in PostgreSQL,
                                                          # ticks and bars in data/ats.duckdb

The tables are those of :mod:`engine.store.schema`, created and upgraded by
:mod:`engine.store.migrations`; writes from the engine go through
:class:`engine.store.writer.StoreWriter`, off the hot path.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from engine.store._rows import redact
from engine.store.base import Store, StoreError, WriteMode
from engine.store.schema import SCHEMA_VERSION, TABLES

__all__ = [
    "SCHEMA_VERSION",
    "TABLES",
    "Store",
    "StoreError",
    "WriteMode",
    "open_store",
]

_POSTGRES_SCHEMES = ("postgresql", "postgres")


def open_store(
    target: str | os.PathLike[str],
    *,
    read_only: bool = False,
    ticks_path: str | os.PathLike[str] = "data/ats.duckdb",
) -> Store:
    """Open (creating and migrating when needed) the store at ``target``.

    Parameters
    ----------
    target : str or os.PathLike
        A file path: a DuckDB file (parent folders are created). A
        ``postgresql://`` or ``postgres://`` URL: the durable tables
        (``Table.durable``) in that database, ``prices`` and ``price_ticks``
        in the DuckDB file ``ticks_path``.
    read_only : bool, default False
        Open read-only connections (``ats data query``): writes raise
        :class:`StoreError`.
    ticks_path : str or os.PathLike, default ``"data/ats.duckdb"``
        Where ticks and bars go when ``target`` is PostgreSQL.

    Returns
    -------
    Store
        A :class:`~engine.store.duckdb_store.DuckDBStore`, or a
        :class:`~engine.store.postgres_store.RoutedStore` for a PostgreSQL URL.

    Raises
    ------
    StoreError
        Unknown URL scheme, unreachable server, a file that is not a DuckDB
        database, a store at a newer schema version than this code. The
        message names the target, without its password.

    Examples
    --------
    >>> store = open_store(":memory:")
    >>> store.insert("news", [{"id": "n1", "ts": 0, "source": "x", "headline": "h"}])
    1
    >>> store.close()
    """
    text = os.fspath(target)
    if not isinstance(text, str):
        raise StoreError(f"store target must be a path or URL string, got {text!r}")
    if "://" in text:
        scheme = urlsplit(text).scheme.lower()
        if scheme not in _POSTGRES_SCHEMES:
            raise StoreError(
                f"unknown store URL scheme {scheme!r} in {redact(text)}: use a DuckDB file "
                f"path or a postgresql:// URL"
            )
        from engine.store.postgres_store import open_routed

        return open_routed(text, read_only=read_only, ticks_path=ticks_path)
    if not text:
        raise StoreError("store target is empty: give a DuckDB file path or a postgresql:// URL")
    from engine.store.duckdb_store import DuckDBStore

    return DuckDBStore(text, read_only=read_only)
