"""OHLCV bars from ``price_ticks``, in SQL, written into ``prices``.

One ``GROUP BY`` over the ticks of a symbol: the bar of a tick starts at
``ts_event // step * step`` (bars are aligned to the Unix epoch, so ``1d``
bars start at 00:00 UTC and ``4h`` bars at 00:00, 04:00, ... UTC); ``open``
and ``close`` are the prices of the first and last tick ordered by
``(ts_event, trade_id)`` — ties in time (one taker order filling several
makers in the same millisecond) are broken by the venue's trade id, which
is the order the venue matched them in; ``high``/``low`` are the extremes,
``volume`` the sum of quantities and ``trades`` the count. The ordering key
is ``ts_event * 2**64 + trade_id`` as a HUGEINT: exactly lexicographic for
any int64 id, and twice as fast in DuckDB as a ``(ts_event, trade_id)``
struct (0.26 s against 0.50 s for 10 M ticks measured here).

Bars are upserted, so running the resample again after more ticks arrived
replaces the bars it recomputes. A ``since``/``until`` window is widened to
whole bars first: a bar computed from part of its ticks never overwrites a
complete one.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from engine.store.base import Store
from engine.store.schema import arrow_schema

__all__ = ["INTERVALS", "ResampleResult", "bar_window", "resample_query", "resample_ticks"]

#: Bar intervals and their length in seconds.
INTERVALS: dict[str, int] = {
    "1m": 60,
    "5m": 300,
    "15m": 900,
    "1h": 3_600,
    "4h": 14_400,
    "1d": 86_400,
}
_NS = 1_000_000_000
#: ``ts_event * 2**64 + trade_id``: one sortable value for the pair (see the module docstring).
_ORDER = "(ts_event::HUGEINT * 18446744073709551616 + trade_id)"


@dataclass(frozen=True, slots=True)
class ResampleResult:
    """What :func:`resample_ticks` did."""

    #: Bars written (new and replaced).
    bars: int
    #: Of those, bars that were not stored before.
    new_bars: int
    #: Ticks the bars were made of.
    ticks: int
    #: The window actually resampled, widened to whole bars (None: unbounded).
    since: int | None
    until: int | None


def _step_ns(interval: str) -> int:
    seconds = INTERVALS.get(interval)
    if seconds is None:
        raise ValueError(f"interval must be one of {', '.join(INTERVALS)}, was {interval!r}")
    return seconds * _NS


def bar_window(
    interval: str, since: int | None, until: int | None
) -> tuple[int | None, int | None]:
    """``[since, until)`` widened to whole bars of ``interval``."""
    step = _step_ns(interval)
    lo = None if since is None else since // step * step
    hi = None if until is None else -(-until // step) * step
    return lo, hi


def resample_query(
    symbol: str,
    interval: str,
    *,
    venue: str | None = None,
    since: int | None = None,
    until: int | None = None,
) -> tuple[str, list[object]]:
    """The SQL (``?`` placeholders) and parameters that compute the bars; ``[since, until)``.

    Examples
    --------
    >>> sql, params = resample_query("BTC/USDT", "1m")
    >>> params
    ['1m', 'BTC/USDT']
    """
    step = _step_ns(interval)
    where = ["symbol = ?"]
    params: list[object] = [interval, symbol]
    if venue is not None:
        where.append("venue = ?")
        params.append(venue)
    if since is not None:
        where.append("ts_event >= ?")
        params.append(int(since))
    if until is not None:
        where.append("ts_event < ?")
        params.append(int(until))
    sql = (
        "SELECT venue, symbol, ?::VARCHAR AS interval, "
        f"ts_event // {step} * {step} AS ts, "
        f"arg_min(price, {_ORDER}) AS open, max(price) AS high, min(price) AS low, "
        f"arg_max(price, {_ORDER}) AS close, sum(quantity) AS volume, count(*) AS trades "
        f"FROM price_ticks WHERE {' AND '.join(where)} "
        "GROUP BY venue, symbol, ts ORDER BY venue, ts"
    )
    return sql, params


def resample_ticks(
    store: Store,
    symbol: str,
    interval: str,
    *,
    venue: str | None = None,
    since: int | None = None,
    until: int | None = None,
) -> ResampleResult:
    """Build ``interval`` bars of ``symbol`` from its ticks and upsert them into ``prices``.

    Parameters
    ----------
    store : Store
        Holds ``price_ticks`` and ``prices`` (DuckDB; with a PostgreSQL store
        both live in its DuckDB file, where the query is routed).
    symbol : str
        Unified symbol (``BTC/USDT``).
    interval : str
        One of :data:`INTERVALS`.
    venue : str, optional
        Only this venue's ticks; by default every venue's, one bar series each.
    since, until : int, optional
        Epoch ns, ``[since, until)``, widened to whole bars.

    Returns
    -------
    ResampleResult

    Examples
    --------
    >>> from engine.store import open_store
    >>> store = open_store(":memory:")
    >>> resample_ticks(store, "BTC/USDT", "1m").bars
    0
    """
    lo, hi = bar_window(interval, since, until)
    sql, params = resample_query(symbol, interval, venue=venue, since=lo, until=hi)
    bars = store.query(sql, params)
    if bars.num_rows == 0:
        return ResampleResult(0, 0, 0, lo, hi)
    schema = arrow_schema("prices")
    bars = pa.Table.from_arrays(
        [bars.column(name).cast(schema.field(name).type) for name in schema.names], schema=schema
    )
    new = store.insert("prices", bars, mode="upsert")
    ticks = int(pc.sum(bars.column("trades")).as_py())
    return ResampleResult(bars.num_rows, new, ticks, lo, hi)
