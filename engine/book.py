"""L2 order book: numpy arrays keyed by integer ticks, with a sync status.

The arithmetic lives in :mod:`kernels.book`; this class owns the arrays and
the bookkeeping a venue adapter needs (is the book in sync, why not, how many
times it resynced). A book that is not in sync reports no prices: it is never
silently wrong.
"""

from __future__ import annotations

import math

import numpy as np

from engine.instruments import step_decimals
from kernels.book import (
    BOOK_BAD_LEVEL,
    BOOK_CROSSED,
    BOOK_OK,
    BOOK_OVERFLOW,
    book_apply_diff,
    book_apply_raw,
    book_arena,
    book_best,
    book_clear,
    book_depth,
    book_level_qty,
    book_load_snapshot,
)

__all__ = [
    "BOOK_BAD_LEVEL",
    "BOOK_CROSSED",
    "BOOK_OK",
    "BookOverflowError",
    "L2Book",
]


class BookOverflowError(RuntimeError):
    """A book side ran out of preallocated levels."""


class L2Book:
    """Price-level book for one symbol.

    Parameters
    ----------
    symbol : str
        Unified symbol (for messages).
    tick_size : float
        Price increment; prices become ``round(price / tick_size)`` ticks.
    capacity : int
        Levels per side (``market_data.book_capacity``).
    """

    __slots__ = (
        "_best",
        "_price_scale",
        "_tick_units",
        "arena",
        "best_buf",
        "capacity",
        "counts",
        "crossed",
        "in_sync",
        "last_update_id",
        "qtys",
        "resyncs",
        "symbol",
        "tick_size",
        "ticks",
        "ts_event",
    )

    def __init__(self, symbol: str, tick_size: float, capacity: int = 8192) -> None:
        if not tick_size > 0:
            raise ValueError(f"{symbol}: tick_size must be > 0, was {tick_size}")
        if capacity <= 0:
            raise ValueError(f"market_data.book_capacity must be > 0, was {capacity}")
        self.symbol = symbol
        self.tick_size = float(tick_size)
        # Prices are rebuilt as (ticks * tick_units) / 10**decimals: an integer over an exact
        # power of ten, one correctly rounded division, so 6168599 ticks of 0.01 give exactly
        # float("61685.99") (ticks * 0.01 would give 61685.990000000005).
        decimals = step_decimals(self.tick_size)
        self._price_scale = 10.0**decimals
        self._tick_units = round(self.tick_size * self._price_scale)
        self.capacity = capacity
        # one buffer behind the four arrays, so kernels can take the book as one argument
        self.arena, self.ticks, self.qtys, self.counts, self._best = book_arena(capacity)
        #: ``book_best``'s output array (bid tick, bid qty, ask tick, ask qty), for kernels.
        self.best_buf = self._best
        #: True while the book mirrors the venue's (snapshot applied, no gap since).
        self.in_sync = False
        #: Venue sequence number of the last applied update (-1 before a snapshot).
        self.last_update_id = -1
        #: Times the book was invalidated and had to be rebuilt from a snapshot.
        self.resyncs = 0
        #: Updates after which the book was crossed or locked.
        self.crossed = 0
        #: Exchange time (ns) of the last applied update.
        self.ts_event = 0

    # -- writes (called by venue adapters) -----------------------------------------------------

    def load_snapshot(
        self, bids: np.ndarray, asks: np.ndarray, update_id: int, ts_event: int = 0
    ) -> int:
        """Replace the book with a snapshot and mark it in sync; return a ``BOOK_*`` status.

        On ``BOOK_BAD_LEVEL`` (a non-finite or non-positive price, a negative
        quantity) nothing changes and the book stays out of sync.
        """
        status = book_load_snapshot(self.ticks, self.qtys, self.counts, bids, asks, self.tick_size)
        if status == BOOK_BAD_LEVEL:
            return status
        self._check(status)
        self.last_update_id = update_id
        self.ts_event = ts_event
        self.in_sync = True
        return BOOK_OK

    def apply_raw(
        self,
        buf_b: np.ndarray,
        buf_a: np.ndarray,
        scratch_b: np.ndarray,
        scratch_a: np.ndarray,
        update_id: int,
        ts_event: int,
    ) -> int:
        """Parse and apply a diff's raw JSON level arrays in one compiled call.

        Returns a ``BOOK_*`` status like :meth:`apply`, or ``BOOK_MALFORMED`` /
        ``BOOK_NEEDS_DECODER`` with nothing applied (the caller falls back to
        a general decoder and :meth:`apply`).
        """
        status = book_apply_raw(
            self.ticks, self.qtys, self.counts, buf_b, buf_a, scratch_b, scratch_a,
            self.tick_size, self._best,
        )  # fmt: skip
        if status < 0 or status == BOOK_BAD_LEVEL:
            return status
        return self.finish_apply(status, update_id, ts_event)

    def finish_apply(self, status: int, update_id: int, ts_event: int) -> int:
        """Book-keeping after a kernel applied a diff to the arrays with ``status``.

        For adapters whose compiled decoders apply diffs themselves
        (:func:`kernels.book.book_apply_diff` on :attr:`ticks`, :attr:`qtys`,
        :attr:`counts`, :attr:`best_buf`). Raises :class:`BookOverflowError`
        (book invalidated) on ``BOOK_OVERFLOW``; returns ``status``.
        """
        if status == BOOK_OVERFLOW:
            self._check(status)
        if status == BOOK_CROSSED:
            self.crossed += 1
        self.last_update_id = update_id
        self.ts_event = ts_event
        return status

    def apply(self, bids: np.ndarray, asks: np.ndarray, update_id: int, ts_event: int) -> int:
        """Apply a diff (``(n, 2)`` float64 price/qty arrays); return a ``BOOK_*`` status.

        ``BOOK_BAD_LEVEL``: nothing was applied. ``BOOK_CROSSED``: applied, and
        the book is now crossed or locked (the caller should resync).
        """
        status = book_apply_diff(
            self.ticks, self.qtys, self.counts, bids, asks, self.tick_size, self._best
        )
        if status == BOOK_BAD_LEVEL:
            return status
        return self.finish_apply(status, update_id, ts_event)

    def invalidate(self) -> None:
        """Drop the book's content: it waits for a new snapshot (a resync)."""
        book_clear(self.counts)
        if self.in_sync:
            self.resyncs += 1
        self.in_sync = False
        self.last_update_id = -1

    def _check(self, status: int) -> None:
        if status != BOOK_OK:
            self.invalidate()  # partly applied: never leave a wrong book marked in sync
            raise BookOverflowError(
                f"order book for {self.symbol} full (capacity {self.capacity} levels per side); "
                "raise market_data.book_capacity"
            )

    # -- reads -------------------------------------------------------------------------------

    def best(self) -> tuple[float, float, float, float]:
        """Return ``(bid_price, bid_qty, ask_price, ask_qty)``; NaN prices when unknown."""
        out = self._best
        book_best(self.ticks, self.qtys, self.counts, out)
        nan = math.nan
        if not self.in_sync:
            return (nan, 0.0, nan, 0.0)
        bid = self.ticks_to_price(out[0]) if out[0] >= 0 else nan
        ask = self.ticks_to_price(out[2]) if out[2] >= 0 else nan
        return (bid, float(out[1]), ask, float(out[3]))

    @property
    def best_bid(self) -> float:
        """Best bid price (NaN when empty or out of sync)."""
        return self.best()[0]

    @property
    def best_ask(self) -> float:
        """Best ask price (NaN when empty or out of sync)."""
        return self.best()[2]

    def mid(self) -> float:
        """Mid price (NaN when a side is missing)."""
        bid, _, ask, _ = self.best()
        return (bid + ask) * 0.5

    def depth(self, side: int, levels: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Return the best ``levels`` ``(prices, quantities)`` of ``side`` (BID or ASK)."""
        out_ticks = np.empty(levels, dtype=np.int64)
        out_qtys = np.empty(levels, dtype=np.float64)
        n = book_depth(self.ticks, self.qtys, self.counts, side, levels, out_ticks, out_qtys)
        return out_ticks[:n] * self._tick_units / self._price_scale, out_qtys[:n]

    def level_qty(self, side: int, price: float) -> float:
        """Quantity displayed at ``price`` on ``side`` (0 if none or out of sync)."""
        if not self.in_sync:
            return 0.0
        tick = self.price_to_ticks(price)
        return float(book_level_qty(self.ticks, self.qtys, self.counts, side, tick))

    def level_count(self, side: int) -> int:
        """Number of price levels on ``side``."""
        return int(self.counts[side])

    def price_to_ticks(self, price: float) -> int:
        """Return ``price`` as an integer number of ticks (nearest)."""
        return round(price / self.tick_size)

    def ticks_to_price(self, ticks: int) -> float:
        """Return the price of ``ticks``, exactly the double nearest its decimal value."""
        return int(ticks) * self._tick_units / self._price_scale
