"""Trades from the markets' rings to the store writer, in chunks, off the hot path.

The feed pushes every trade into its symbol's :class:`engine.market.TradeRing`;
:class:`TickRecorder` copies what is new since its last drain into
:meth:`engine.store.writer.StoreWriter.append_ticks`. A drain hands the
writer one slice of the ring per symbol (two when the new trades wrap around
the ring's end), which it copies into its column buffers; nothing is done
per trade in Python.

Call :meth:`TickRecorder.maybe_drain` from the thread that pushes into the
rings (the engine loop), as often as you like: when fewer than ``chunk``
trades are new it costs one integer compare per symbol. Call
:meth:`TickRecorder.drain` on a timer and at stop to hand over the rest. A
ring overwrites trades it holds once ``capacity`` more arrive; if that
happens before they are drained (drains too rare for the trade rate), the
overwritten ones are counted in :attr:`TickRecorder.lost` and logged once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from engine.market import SymbolMarket, TradeRing
from engine.store.writer import StoreWriter

__all__ = ["TickRecorder"]

_log = logging.getLogger("ats.store.ticks")


class TickRecorder:
    """Drain the markets' trade rings into a :class:`StoreWriter`.

    Parameters
    ----------
    writer : StoreWriter
        Receives the trades (``append_ticks`` with slices of the rings).
    venue : str
        Stored with every trade.
    markets : Mapping[str, SymbolMarket]
        The markets to record (each stored under ``market.symbol``, the
        ccxt unified symbol). Trades already in a ring when the recorder is
        made are recorded too.
    chunk : int, default 4096
        :meth:`maybe_drain` hands a symbol's trades over once this many are new.

    Attributes
    ----------
    drained : int
        Trades handed to the writer so far.
    lost : int
        Trades overwritten in a ring before they were drained.
    """

    def __init__(
        self,
        writer: StoreWriter,
        venue: str,
        markets: Mapping[str, SymbolMarket],
        chunk: int = 4096,
    ) -> None:
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, was {chunk}")
        self.writer = writer
        self.venue = venue
        self.chunk = chunk
        self.drained = 0
        self.lost = 0
        self._logged_loss = False
        rings = [(m.symbol, m.trades) for m in markets.values()]
        self._symbols = [symbol for symbol, _ in rings]
        self._rings: list[TradeRing] = [ring for _, ring in rings]
        # per ring: how many of its trades (ring.count numbering) are handed over
        self._done = [max(0, r.count - r.capacity) for r in self._rings]
        # maybe_drain's trigger: ring.count at which a chunk is ready
        self._due_at = [done + chunk for done in self._done]
        self._bind_maybe_drain()

    def maybe_drain(self) -> None:
        """Drain each symbol with at least ``chunk`` new trades.

        Replaced per instance by a closure over the rings (see ``__init__``):
        called for every frame, it costs ~40 ns for one symbol (one compare).
        """
        due_at = self._due_at
        for i, ring in enumerate(self._rings):
            if ring.count >= due_at[i]:
                self._drain(i)

    def _bind_maybe_drain(self) -> None:
        due_at = self._due_at
        drain = self._drain
        if len(self._rings) == 1:
            ring = self._rings[0]

            def maybe_drain_one() -> None:
                if ring.count >= due_at[0]:
                    drain(0)

            self.maybe_drain = maybe_drain_one  # type: ignore[method-assign]
            return
        pairs = list(enumerate(self._rings))

        def maybe_drain_many() -> None:
            for i, ring in pairs:
                if ring.count >= due_at[i]:
                    drain(i)

        self.maybe_drain = maybe_drain_many  # type: ignore[method-assign]

    def drain(self) -> None:
        """Drain every symbol with any new trade (on a timer and at stop)."""
        done = self._done
        for i, ring in enumerate(self._rings):
            if ring.count > done[i]:
                self._drain(i)

    @property
    def pending(self) -> int:
        """Trades in the rings not yet handed over (at most each ring's capacity)."""
        return sum(
            min(r.count - d, r.capacity) for r, d in zip(self._rings, self._done, strict=True)
        )

    def _drain(self, i: int) -> None:
        ring = self._rings[i]
        count = ring.count
        start = self._done[i]
        capacity = ring.capacity
        new = count - start
        if new > capacity:
            missed = new - capacity
            self.lost += missed
            start = count - capacity
            if not self._logged_loss:
                self._logged_loss = True
                _log.warning(
                    "trades overwritten in the ring before they were recorded",
                    extra={
                        "fields": {
                            "symbol": self._symbols[i],
                            "lost": missed,
                            "capacity": capacity,
                            "hint": "drain more often or raise market_data.trade_ring_capacity",
                        }
                    },
                )
        lo = start % capacity
        hi = count % capacity
        data = ring.data
        symbol = self._symbols[i]
        append = self.writer.append_ticks
        self._done[i] = count
        self._due_at[i] = count + self.chunk
        self.drained += count - start
        # the writer copies the fields out before returning: ring slices can be passed as they are
        if lo < hi:
            append(self.venue, symbol, data[lo:hi])
        else:  # wraps around the ring's end (or is the whole ring)
            append(self.venue, symbol, data[lo:])
            if hi:
                append(self.venue, symbol, data[:hi])
