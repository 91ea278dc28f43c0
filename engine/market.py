"""Per-symbol market state the adapters write and strategies read.

Everything here is preallocated numpy storage plus a few scalars: the L2
book, a ring buffer of trades, and the venue's last published top of book.
"""

from __future__ import annotations

import math
import struct

import numpy as np

from engine.book import L2Book
from engine.instruments import Instrument
from kernels.dtypes import trade_dt

__all__ = ["SymbolMarket", "TradeRing"]


class TradeRing:
    """Fixed-capacity ring buffer of trades (``kernels.dtypes.trade_dt`` records).

    The oldest trades are overwritten once ``capacity`` is reached; ``count``
    keeps the total ever pushed so readers can tell how many were lost.
    """

    __slots__ = ("_itemsize", "_pack", "_raw", "capacity", "count", "data")

    def __init__(self, capacity: int = 65536) -> None:
        if capacity <= 0:
            raise ValueError(f"market_data.trade_ring_capacity must be > 0, was {capacity}")
        self.capacity = capacity
        self.data = np.zeros(capacity, dtype=trade_dt)
        # push writes the record's bytes with one struct.pack_into (~0.14 µs) instead of a
        # structured-array row assignment from a tuple (~0.21 µs); layout checked once here
        fields = trade_dt.fields
        assert fields is not None
        codes = {"<i8": "q", "<f8": "d", "|i1": "b"}
        offset = 0
        fmt = "<"
        for name in trade_dt.names or ():
            dtype, at = fields[name][:2]
            if at != offset or dtype.str not in codes:
                raise TypeError(f"trade_dt field {name!r} is not packed as TradeRing expects")
            fmt += codes[dtype.str]
            offset += dtype.itemsize
        self._pack = struct.Struct(fmt).pack_into
        self._raw = memoryview(self.data.view(np.uint8))
        self._itemsize = trade_dt.itemsize
        #: Trades pushed since creation.
        self.count = 0

    def push(
        self, ts_event: int, ts_recv: int, price: float, qty: float, trade_id: int, side: int
    ) -> None:
        """Append one trade."""
        self._pack(
            self._raw,
            (self.count % self.capacity) * self._itemsize,
            ts_event,
            ts_recv,
            price,
            qty,
            trade_id,
            side,
        )
        self.count += 1

    def last(self, n: int) -> np.ndarray:
        """Return (a copy of) the most recent ``min(n, available)`` trades, oldest first."""
        n = min(n, self.count, self.capacity)
        end = self.count % self.capacity
        if n <= end:
            return self.data[end - n : end].copy()
        return np.concatenate((self.data[self.capacity - (n - end) :], self.data[:end]))


class SymbolMarket:
    """Market state of one symbol on one venue."""

    __slots__ = (
        "ask_price",
        "ask_qty",
        "bid_price",
        "bid_qty",
        "book",
        "instrument",
        "last_price",
        "last_trade_ts",
        "symbol",
        "ticker_ts",
        "ticker_update_id",
        "trades",
    )

    def __init__(
        self, instrument: Instrument, book_capacity: int = 8192, trade_capacity: int = 65536
    ) -> None:
        self.instrument = instrument
        self.symbol = instrument.symbol
        self.book = L2Book(instrument.symbol, instrument.tick_size, book_capacity)
        self.trades = TradeRing(trade_capacity)
        #: Last trade price (NaN before the first trade).
        self.last_price = math.nan
        self.last_trade_ts = 0
        #: Venue's own top of book (``bookTicker``); NaN until one arrives.
        self.bid_price = math.nan
        self.bid_qty = 0.0
        self.ask_price = math.nan
        self.ask_qty = 0.0
        self.ticker_update_id = -1
        self.ticker_ts = 0

    def reference_price(self) -> float:
        """Mid of our book, else mid of the venue ticker, else last trade (NaN if none)."""
        mid = self.book.mid()
        if not math.isnan(mid):
            return mid
        if not (math.isnan(self.bid_price) or math.isnan(self.ask_price)):
            return (self.bid_price + self.ask_price) * 0.5
        return self.last_price
