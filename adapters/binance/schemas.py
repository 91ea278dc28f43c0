"""Binance market-data messages (spot, USD-M and COIN-M futures) as msgspec Structs.

Field names are Binance's own single letters (see the Binance spot and
futures WebSocket Streams documentation). Prices and quantities arrive as
decimal strings; the decoders are built with ``strict=False`` so msgspec
parses them to float64 in C, once, at this edge. Only the fields we use are
declared: msgspec skips the rest without building objects for them.

The futures messages extend the spot ones: a futures ``depthUpdate`` adds
``T`` (transaction time) and ``pu`` (the previous diff's final update id),
a futures ``trade`` adds ``X`` (``"MARKET"``, ``"INSURANCE_FUND"``, ...).
``bookTicker`` and the REST depth snapshot decode with the same Structs on
every market (futures add ``e``, ``T``, ``E``; COIN-M adds ``ps``/``pair``).
COIN-M quantities are contracts, not coins.

:func:`stream_frame` makes a Struct for the frames of one stream, tagged by
the ``stream`` value: a union of them (:func:`stream_frames_decoder`)
routes and decodes a whole frame in one msgspec call. :class:`CombinedStream`
reads only the stream name and keeps ``data`` raw, for frames of streams not
in the union.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Union

import msgspec

__all__ = [
    "AggTrade",
    "BookTicker",
    "CombinedStream",
    "DepthSnapshot",
    "DepthUpdate",
    "FuturesDepthUpdate",
    "FuturesTrade",
    "MarketProbe",
    "Trade",
    "agg_trade_decoder",
    "book_ticker_decoder",
    "combined_stream_decoder",
    "depth_snapshot_decoder",
    "depth_update_decoder",
    "futures_depth_update_decoder",
    "futures_trade_decoder",
    "market_probe_decoder",
    "stream_frame",
    "stream_frames_decoder",
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


class FuturesDepthUpdate(DepthUpdate, gc=False):
    """USD-M / COIN-M ``<symbol>@depth@<speed>`` diff: a spot diff plus ``T`` and ``pu``."""

    #: Transaction time (ms).
    T: int
    #: Final update id of the previous diff of this symbol (the chain to check).
    pu: int


class Trade(msgspec.Struct, gc=False):
    """``<symbol>@trade``: one trade."""

    #: Event time (ms).
    E: int
    s: str
    #: Trade id.
    t: int
    #: Price.
    p: float
    #: Quantity (COIN-M: contracts).
    q: float
    #: Trade time (ms).
    T: int
    #: Is the buyer the market maker? (True → the aggressor sold.)
    m: bool


class FuturesTrade(Trade, gc=False):
    """USD-M / COIN-M ``<symbol>@trade``: a spot trade plus its execution type."""

    #: ``"MARKET"`` for trades between users; ``"INSURANCE_FUND"``, ``"ADL"``, ... otherwise.
    X: str


class AggTrade(msgspec.Struct, gc=False):
    """``<symbol>@aggTrade`` (spot and futures): fills of one taker order at one price."""

    #: Event time (ms).
    E: int
    s: str
    #: Aggregate trade id.
    a: int
    #: Price.
    p: float
    #: Quantity (COIN-M: contracts).
    q: float
    #: First and last trade id aggregated.
    f: int
    l: int  # noqa: E741 - Binance's field name
    #: Trade time (ms).
    T: int
    #: Is the buyer the market maker? (True → the aggressor sold.)
    m: bool


class BookTicker(msgspec.Struct, gc=False):
    """``<symbol>@bookTicker``: the venue's best bid and ask (futures add ``e``/``T``/``E``)."""

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
    """``GET /api/v3/depth`` (``/fapi/v1/depth``, ``/dapi/v1/depth``) response.

    Levels stay raw, as in :class:`DepthUpdate`. Futures add ``E`` and ``T``;
    COIN-M adds ``symbol`` (used to route a snapshot line of a multi-symbol
    recording).
    """

    lastUpdateId: int
    bids: msgspec.Raw
    asks: msgspec.Raw
    #: Transaction time (ms), futures only (0 on spot).
    T: int = 0
    #: Symbol, COIN-M only ("" elsewhere).
    symbol: str = ""


class MarketProbe(msgspec.Struct, gc=False):
    """The fields that tell Binance's markets apart in a frame's ``data`` (or a snapshot)."""

    s: str = ""
    symbol: str = ""
    #: Present on futures depth diffs only.
    pu: int | None = None
    #: COIN-M pair (``BTCUSD``): COIN-M frames only.
    ps: str | None = None
    pair: str | None = None


def combined_stream_decoder() -> msgspec.json.Decoder[CombinedStream]:
    """Return a decoder for the combined-stream wrapper."""
    return msgspec.json.Decoder(CombinedStream)


def stream_frame(stream: str, message: type, route: Any) -> type[msgspec.Struct]:
    """Return a Struct for ``{"stream": <stream>, "data": <message>}``, tagged by ``stream``.

    ``route`` becomes the class attribute ``route`` (what the caller does with
    such a frame).
    """
    return msgspec.defstruct(
        f"Frame_{stream}",
        [("data", message)],
        tag_field="stream",
        tag=stream,
        gc=False,
        namespace={"route": route},
    )


def stream_frames_decoder(frames: Iterable[type[msgspec.Struct]]) -> msgspec.json.Decoder[Any]:
    """Return one decoder for a union of :func:`stream_frame` types (at least two)."""
    return msgspec.json.Decoder(Union[tuple(frames)], strict=False)  # noqa: UP007


def depth_update_decoder() -> msgspec.json.Decoder[DepthUpdate]:
    """Return a decoder for spot depth diffs (decimal strings parsed to float)."""
    return msgspec.json.Decoder(DepthUpdate, strict=False)


def futures_depth_update_decoder() -> msgspec.json.Decoder[FuturesDepthUpdate]:
    """Return a decoder for futures depth diffs (with ``T`` and ``pu``)."""
    return msgspec.json.Decoder(FuturesDepthUpdate, strict=False)


def trade_decoder() -> msgspec.json.Decoder[Trade]:
    """Return a decoder for spot trades (decimal strings parsed to float)."""
    return msgspec.json.Decoder(Trade, strict=False)


def futures_trade_decoder() -> msgspec.json.Decoder[FuturesTrade]:
    """Return a decoder for futures trades (with the execution type ``X``)."""
    return msgspec.json.Decoder(FuturesTrade, strict=False)


def agg_trade_decoder() -> msgspec.json.Decoder[AggTrade]:
    """Return a decoder for aggregate trades (decimal strings parsed to float)."""
    return msgspec.json.Decoder(AggTrade, strict=False)


def book_ticker_decoder() -> msgspec.json.Decoder[BookTicker]:
    """Return a decoder for bookTicker (decimal strings parsed to float)."""
    return msgspec.json.Decoder(BookTicker, strict=False)


def depth_snapshot_decoder() -> msgspec.json.Decoder[DepthSnapshot]:
    """Return a decoder for the REST depth snapshot (decimal strings parsed to float)."""
    return msgspec.json.Decoder(DepthSnapshot, strict=False)


def market_probe_decoder() -> msgspec.json.Decoder[MarketProbe]:
    """Return a decoder for :class:`MarketProbe` (flavour detection of a recording)."""
    return msgspec.json.Decoder(MarketProbe)
