"""The writer's pending ticks: columnar segments, so a flush builds Arrow without copying.

``append`` copies a ``trade_dt`` record array's six fields into the open
segment of its venue and symbol (six numpy copies per call, whatever the
length). A flush then wraps each segment's columns as Arrow arrays without a
copy, with ``venue`` and ``symbol`` as one-entry dictionary arrays that the
DuckDB store binds as constants, so the writer thread holds the GIL for
microseconds per flush, not for a copy of every tick (which would stall the
engine's thread). Not thread-safe: the writer calls it under its lock.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pyarrow as pa

from kernels.dtypes import trade_dt

__all__ = ["TickBuffer", "TickSegment", "tick_tables"]

_FIELDS = ("ts_event", "ts_recv", "price", "qty", "trade_id", "side")
_NAMES = ["venue", "symbol", "ts_event", "ts_recv", "price", "quantity", "trade_id", "side"]
_DTYPES = tuple(trade_dt.fields[f][0] for f in _FIELDS)  # type: ignore[index]


class TickSegment:
    """Ticks of one venue and symbol: six columns, rows ``start:n`` pending."""

    __slots__ = ("columns", "gen", "n", "start", "symbol", "venue")

    def __init__(self, gen: int, venue: str, symbol: str, capacity: int) -> None:
        self.gen = gen
        self.venue = venue
        self.symbol = symbol
        self.columns = tuple(np.empty(capacity, dtype=d) for d in _DTYPES)
        self.start = 0
        self.n = 0

    @property
    def rows(self) -> int:
        return self.n - self.start

    @property
    def room(self) -> int:
        return len(self.columns[0]) - self.n

    def fill(self, records: np.ndarray) -> None:
        n, end = self.n, self.n + len(records)
        for column, name in zip(self.columns, _FIELDS, strict=True):
            column[n:end] = records[name]
        self.n = end


class TickBuffer:
    """Pending ticks in arrival order (oldest segment first)."""

    def __init__(self, segment_rows: int) -> None:
        self.segment_rows = segment_rows
        self.segments: deque[TickSegment] = deque()
        self.rows = 0
        self._open: dict[tuple[str, str], TickSegment] = {}

    def __bool__(self) -> bool:
        return bool(self.segments)

    @property
    def first_gen(self) -> int:
        return self.segments[0].gen

    def append(self, gen: int, venue: str, symbol: str, records: np.ndarray) -> None:
        key = (venue, symbol)
        k = len(records)
        segment = self._open.get(key)
        if segment is None or segment.room < k:
            segment = TickSegment(gen, venue, symbol, max(k, self.segment_rows))
            self.segments.append(segment)
            self._open[key] = segment
        segment.fill(records)
        self.rows += k

    def drop_oldest(self, excess: int) -> int:
        """Drop the oldest ``excess`` ticks (or all there are); return how many."""
        dropped = 0
        while excess > dropped and self.segments:
            segment = self.segments[0]
            take = min(segment.rows, excess - dropped)
            segment.start += take
            dropped += take
            if segment.rows == 0:
                self.segments.popleft()
                if self._open.get((segment.venue, segment.symbol)) is segment:
                    del self._open[(segment.venue, segment.symbol)]
        self.rows -= dropped
        return dropped

    def take(self) -> list[TickSegment]:
        """Every pending segment, oldest first; the buffer is empty after."""
        segments = list(self.segments)
        self.segments.clear()
        self._open.clear()
        self.rows = 0
        return segments

    def put_back(self, segments: list[TickSegment]) -> None:
        """Return segments taken by a failed flush to the front (they are the oldest)."""
        self.segments.extendleft(reversed(segments))
        self.rows += sum(s.rows for s in segments)


def _constant(value: str, n: int) -> pa.DictionaryArray:
    # np.zeros is calloc: untouched zero pages, no per-row work
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([value]))


def tick_tables(segments: list[TickSegment]) -> list[pa.Table]:
    """One ``price_ticks`` table per venue and symbol, each segment a zero-copy batch."""
    groups: dict[tuple[str, str], list[pa.RecordBatch]] = {}
    for s in segments:
        if s.rows == 0:
            continue
        n = s.rows
        arrays = [_constant(s.venue, n), _constant(s.symbol, n)]
        arrays += [pa.array(c[s.start : s.n]) for c in s.columns]
        groups.setdefault((s.venue, s.symbol), []).append(
            pa.RecordBatch.from_arrays(arrays, names=_NAMES)
        )
    return [pa.Table.from_batches(batches) for batches in groups.values()]
