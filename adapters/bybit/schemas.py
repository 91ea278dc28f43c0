"""Bybit v5 public market-data messages as msgspec Structs.

Field names are Bybit's own (see the v5 WebSocket docs, "Orderbook",
"Trade", "Ticker"). Prices and sizes arrive as decimal strings; the
decoders are built with ``strict=False`` so msgspec parses them to float64
in C, once, at this edge. Only the fields we use are declared.

Every data message carries ``topic``: :func:`topic_frame` makes a Struct for
the messages of one topic, tagged by the ``topic`` value, so a union of them
(:func:`topic_frames_decoder`) routes and decodes a whole frame in one
msgspec call. :class:`Envelope` reads the control fields (``op``,
``success``, ``ret_msg``) of the other frames: subscription acks and pongs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Union

import msgspec

__all__ = [
    "BookData",
    "Envelope",
    "PublicTrade",
    "TickerData",
    "book_message",
    "envelope_decoder",
    "ticker_message",
    "topic_frame",
    "topic_frames_decoder",
    "trade_message",
]

_NAN = math.nan


class BookData(msgspec.Struct, gc=False):
    """``data`` of ``orderbook.{depth}.{symbol}``: a snapshot or a delta (size ``"0"`` deletes).

    ``b`` and ``a`` stay raw JSON: :func:`kernels.parse.parse_levels` turns
    them into float64 arrays in one compiled pass.
    """

    #: Symbol (``BTCUSDT``).
    s: str
    #: Bids ``[[price, size], ...]`` (raw JSON).
    b: msgspec.Raw
    #: Asks ``[[price, size], ...]`` (raw JSON).
    a: msgspec.Raw
    #: Update id: +1 per message of the topic; ``1`` means a fresh snapshot (service restart).
    u: int
    #: Cross sequence (matching engine version); not consecutive.
    seq: int = 0


class PublicTrade(msgspec.Struct, gc=False):
    """One trade of ``publicTrade.{symbol}`` (``data`` is a list of them)."""

    #: Trade time (ms).
    T: int
    s: str
    #: Taker side: ``"Buy"`` or ``"Sell"``.
    S: str
    #: Size.
    v: float
    #: Price.
    p: float
    #: Trade id: digits on spot, a UUID on linear.
    i: str
    #: Block trade (negotiated off the book).
    BT: bool = False


class TickerData(msgspec.Struct, gc=False):
    """``data`` of ``tickers.{symbol}``; linear deltas carry only the fields that changed.

    A field missing from the message decodes as NaN (unchanged). Spot tickers
    carry no best bid/ask.
    """

    symbol: str
    bid1Price: float = _NAN
    bid1Size: float = _NAN
    ask1Price: float = _NAN
    ask1Size: float = _NAN


class Envelope(msgspec.Struct, gc=False):
    """Any frame's routing and control fields: the ``topic`` of data, or ``op``/``success``."""

    topic: str = ""
    op: str = ""
    success: bool | None = None
    ret_msg: str = ""


def topic_frame(topic: str, fields: list[tuple[Any, ...]], route: Any) -> type[msgspec.Struct]:
    """Return a Struct for ``topic``'s messages (tagged by it) with class attribute ``route``."""
    return msgspec.defstruct(
        "Frame_" + topic,
        fields,
        tag_field="topic",
        tag=topic,
        gc=False,
        namespace={"route": route},
    )


def book_message(topic: str, route: Any) -> type[msgspec.Struct]:
    """``{"topic":..., "type":"snapshot"|"delta", "ts":..., "data":{...}, "cts":...}``."""
    return topic_frame(
        topic, [("type", str), ("ts", int), ("data", BookData), ("cts", int, 0)], route
    )


def trade_message(topic: str, route: Any) -> type[msgspec.Struct]:
    """``{"topic":"publicTrade.<symbol>", "type":"snapshot", "ts":..., "data":[...]}``."""
    return topic_frame(topic, [("ts", int), ("data", list[PublicTrade])], route)


def ticker_message(topic: str, route: Any) -> type[msgspec.Struct]:
    """``{"topic":"tickers.<symbol>", "type":..., "ts":..., "cs":..., "data":{...}}``."""
    return topic_frame(
        topic, [("data", TickerData), ("ts", int, 0), ("cs", int, 0), ("type", str, "")], route
    )


def topic_frames_decoder(frames: Iterable[type[msgspec.Struct]]) -> msgspec.json.Decoder[Any]:
    """Return one decoder for a union of :func:`topic_frame` types."""
    types = tuple(frames)
    return msgspec.json.Decoder(Union[types] if len(types) > 1 else types[0], strict=False)  # noqa: UP007


def envelope_decoder() -> msgspec.json.Decoder[Envelope]:
    """Return a decoder for :class:`Envelope`."""
    return msgspec.json.Decoder(Envelope)
