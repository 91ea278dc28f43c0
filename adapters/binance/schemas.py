"""Binance spot market-data messages as msgspec Structs that mirror the wire.

Field names are Binance's own single letters (see the Binance spot WebSocket
Streams documentation). Prices and quantities arrive as decimal strings; the
decoders are built with ``strict=False`` so msgspec parses them to float64 in
C, once, at this edge. Only the fields we use are declared: msgspec skips the
rest without building objects for them.
"""

from __future__ import annotations

import msgspec

__all__ = [
    "BookTicker",
    "CombinedStream",
    "DepthSnapshot",
    "DepthUpdate",
    "Trade",
    "book_ticker_decoder",
    "combined_stream_decoder",
    "depth_snapshot_decoder",
    "depth_update_decoder",
    "levels_decoder",
    "trade_decoder",
]


class CombinedStream(msgspec.Struct, gc=False):
    """The ``/stream?streams=...`` wrapper: ``{"stream": "btcusdt@trade", "data": {...}}``.

    ``data`` stays raw bytes so it can be decoded by the stream's own decoder.
    A frame without ``stream`` (e.g. a REST depth snapshot in a recording)
    decodes with ``stream == ""``.
    """

    stream: str = ""
    data: msgspec.Raw = msgspec.Raw(b"")


class DepthUpdate(msgspec.Struct, gc=False):
    """``<symbol>@depth@100ms`` diff: levels with quantity 0 are deletions.

    ``b`` and ``a`` stay raw JSON: :func:`kernels.parse.parse_levels` turns
    them into float64 arrays in one compiled pass (a large diff holds
    hundreds of levels; building Python floats for each would cost more than
    the book update).
    """

    #: Event time (ms).
    E: int
    #: Symbol, upper case (``BTCUSDT``).
    s: str
    #: First update id in this event.
    U: int
    #: Final update id in this event.
    u: int
    #: Bid levels ``[[price, qty], ...]`` (raw JSON).
    b: msgspec.Raw
    #: Ask levels ``[[price, qty], ...]`` (raw JSON).
    a: msgspec.Raw


class Trade(msgspec.Struct, gc=False):
    """``<symbol>@trade``: one trade."""

    #: Event time (ms).
    E: int
    s: str
    #: Trade id.
    t: int
    #: Price.
    p: float
    #: Quantity.
    q: float
    #: Trade time (ms).
    T: int
    #: Is the buyer the market maker? (True → the aggressor sold.)
    m: bool


class BookTicker(msgspec.Struct, gc=False):
    """``<symbol>@bookTicker``: the venue's best bid and ask."""

    #: Order book update id.
    u: int
    s: str
    #: Best bid price and quantity.
    b: float
    B: float
    #: Best ask price and quantity.
    a: float
    A: float


class DepthSnapshot(msgspec.Struct, gc=False):
    """``GET /api/v3/depth`` response (levels raw, as in :class:`DepthUpdate`)."""

    lastUpdateId: int
    bids: msgspec.Raw
    asks: msgspec.Raw


def levels_decoder() -> msgspec.json.Decoder[list[tuple[float, float]]]:
    """Return the general decoder for a raw level array (the exact-parse fallback)."""
    return msgspec.json.Decoder(list[tuple[float, float]], strict=False)


def combined_stream_decoder() -> msgspec.json.Decoder[CombinedStream]:
    """Return a decoder for the combined-stream wrapper."""
    return msgspec.json.Decoder(CombinedStream)


def depth_update_decoder() -> msgspec.json.Decoder[DepthUpdate]:
    """Return a decoder for depth diffs (decimal strings parsed to float)."""
    return msgspec.json.Decoder(DepthUpdate, strict=False)


def trade_decoder() -> msgspec.json.Decoder[Trade]:
    """Return a decoder for trades (decimal strings parsed to float)."""
    return msgspec.json.Decoder(Trade, strict=False)


def book_ticker_decoder() -> msgspec.json.Decoder[BookTicker]:
    """Return a decoder for bookTicker (decimal strings parsed to float)."""
    return msgspec.json.Decoder(BookTicker, strict=False)


def depth_snapshot_decoder() -> msgspec.json.Decoder[DepthSnapshot]:
    """Return a decoder for the REST depth snapshot (decimal strings parsed to float)."""
    return msgspec.json.Decoder(DepthSnapshot, strict=False)
