"""Polars helpers for research: bars and ticks from the store as DataFrames.

Rows come from DuckDB as Arrow and become polars columns without a copy
where the types allow (numbers; text is converted once). The store is
opened read-only, so a notebook can read while nothing else writes the
file (DuckDB allows one writing process per file).

Examples
--------
>>> from engine.research import load_bars
>>> bars = load_bars("BTC/USDT", "1m", db="data/ats.duckdb")  # doctest: +SKIP
>>> bars.select("datetime", "close").tail(3)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import polars as pl
import pyarrow as pa

from engine.store import open_store

__all__ = ["DEFAULT_DB", "load_bars", "load_ticks", "to_ns"]

#: The store every ``ats`` command uses unless told otherwise.
DEFAULT_DB = "data/ats.duckdb"

TimeLike = int | str | datetime | None


def to_ns(value: TimeLike) -> int | None:
    """Epoch ns from an int (ns), an ISO-8601 string or a datetime (naive means UTC)."""
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def _read(db: str | os.PathLike[str], sql: str, params: list[object]) -> pa.Table:
    target = os.fspath(db)
    store = open_store(target, read_only=True, ticks_path=DEFAULT_DB)
    try:
        return store.query(sql, params)
    finally:
        store.close()


def _one_venue(table: pa.Table, symbol: str, what: str) -> None:
    venues = sorted(set(table.column("venue").unique().to_pylist()))
    if len(venues) > 1:
        raise ValueError(
            f"{what} of {symbol} from several venues ({', '.join(venues)}); pass venue="
        )


def _window(column: str, start: TimeLike, end: TimeLike) -> tuple[str, list[object]]:
    where, params = "", []
    lo, hi = to_ns(start), to_ns(end)
    if lo is not None:
        where += f" AND {column} >= ?"
        params.append(lo)
    if hi is not None:
        where += f" AND {column} < ?"
        params.append(hi)
    return where, params


def load_bars(
    symbol: str,
    interval: str = "1m",
    *,
    db: str | os.PathLike[str] = DEFAULT_DB,
    venue: str | None = None,
    start: TimeLike = None,
    end: TimeLike = None,
) -> pl.DataFrame:
    """Bars of ``symbol`` from ``prices``, oldest first.

    Parameters
    ----------
    symbol : str
        Unified symbol (``BTC/USDT``).
    interval : str, default ``"1m"``
        Bar interval as stored (``ats data resample`` writes 1m, 5m, 15m, 1h, 4h, 1d).
    db : str or os.PathLike, default ``"data/ats.duckdb"``
        The store (a DuckDB file, or a PostgreSQL URL: bars are in its DuckDB file).
    venue : str, optional
        Needed when bars of several venues are stored for ``symbol``.
    start, end : int, str or datetime, optional
        ``[start, end)`` on the bar open time: epoch ns, ISO-8601 or datetime (naive: UTC).

    Returns
    -------
    polars.DataFrame
        ``ts`` (Int64 ns), ``datetime`` (UTC), ``open``, ``high``, ``low``,
        ``close``, ``volume``, ``trades``.

    Raises
    ------
    ValueError
        Bars from several venues and no ``venue``.
    """
    where, params = _window("ts", start, end)
    sql = (
        "SELECT venue, ts, open, high, low, close, volume, trades FROM prices "
        f"WHERE symbol = ? AND interval = ?{' AND venue = ?' if venue is not None else ''}"
        f"{where} ORDER BY ts"
    )
    head: list[object] = [symbol, interval] + ([venue] if venue is not None else [])
    table = _read(db, sql, head + params)
    _one_venue(table, symbol, f"{interval} bars")
    frame = pl.from_arrow(table.drop_columns(["venue"]))
    assert isinstance(frame, pl.DataFrame)
    return frame.with_columns(pl.col("ts").cast(pl.Datetime("ns", "UTC")).alias("datetime")).select(
        "ts", "datetime", "open", "high", "low", "close", "volume", "trades"
    )


def load_ticks(
    symbol: str,
    *,
    db: str | os.PathLike[str] = DEFAULT_DB,
    venue: str | None = None,
    start: TimeLike = None,
    end: TimeLike = None,
) -> pl.DataFrame:
    """Trade prints of ``symbol`` from ``price_ticks``, ordered by ``(ts_event, trade_id)``.

    Parameters are those of :func:`load_bars` (``start``/``end`` on ``ts_event``).

    Returns
    -------
    polars.DataFrame
        ``ts_event``, ``ts_recv`` (Int64 ns), ``datetime`` (UTC, of
        ``ts_event``), ``price``, ``quantity``, ``trade_id``, ``side``
        (1 buy, -1 sell aggressor).
    """
    where, params = _window("ts_event", start, end)
    sql = (
        "SELECT venue, ts_event, ts_recv, price, quantity, trade_id, side FROM price_ticks "
        f"WHERE symbol = ?{' AND venue = ?' if venue is not None else ''}{where} "
        "ORDER BY ts_event, trade_id"
    )
    head: list[object] = [symbol] + ([venue] if venue is not None else [])
    table = _read(db, sql, head + params)
    _one_venue(table, symbol, "ticks")
    frame = pl.from_arrow(table.drop_columns(["venue"]))
    assert isinstance(frame, pl.DataFrame)
    return frame.with_columns(
        pl.col("ts_event").cast(pl.Datetime("ns", "UTC")).alias("datetime")
    ).select("ts_event", "ts_recv", "datetime", "price", "quantity", "trade_id", "side")
